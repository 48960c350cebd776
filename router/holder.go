package router

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
)

// retainedVersions is how many replaced routers a Holder keeps, so retry
// rules of the version a payment started with still apply after a reload.
const retainedVersions = 16

// Holder holds the current Router and replaces it atomically when a new
// configuration version is applied, without a restart.
//
// # How consumers use it
//
// Call Current() once per payment, when the PaymentRequested is routed,
// and carry the Decision with the payment (it is in every AttemptFailed):
//
//	dec, err := holder.Current().Route(req)
//
// The Decision holds ConfigVersion and the candidates, so a payment in
// flight keeps the route and version it started with across a Swap; never
// route again on a retry topic. For retry rules use Holder.RetryAction,
// which evaluates them with the router of the payment's own version while
// that version is retained (the last 16 replaced ones), and with the
// current one after that, or after a restart.
//
// # Swapping
//
// Swap and Reload build and check the new router first (the same checks as
// New, against the same PSP accounts, exclusions and RuleSet as the
// router the Holder started with) and install it only when there is no
// error; on error the current router stays and the error lists every
// problem. Readers never block: Current is one atomic load. Swaps are
// serialized.
//
// A version string means one configuration: applying a different
// configuration under a version that is current or retained is refused,
// because decisions, attempts and results recorded under one version would
// then mean two things. Applying an identical configuration is a no-op.
type Holder struct {
	cur    atomic.Pointer[Router]
	mu     sync.Mutex // serializes Swap; guards recent
	recent []*Router  // replaced routers, oldest first
}

// NewHolder returns a Holder whose current router is r. Later versions are
// built with r's PSP names, options and RuleSet.
func NewHolder(r *Router) *Holder {
	h := &Holder{}
	h.cur.Store(r)
	return h
}

// Current returns the router to route new payments with.
func (h *Holder) Current() *Router { return h.cur.Load() }

// Route routes a new payment with the current router.
func (h *Holder) Route(req *schemas.PaymentRequested) (schemas.Decision, error) {
	return h.Current().Route(req)
}

// RouteFollowUp pins a follow-up with the current router.
func (h *Holder) RouteFollowUp(req *schemas.PaymentRequested, authorizingPSP string) (schemas.Decision, error) {
	return h.Current().RouteFollowUp(req, authorizingPSP)
}

// Version returns the router of configuration version v when it is
// current or retained, and otherwise the current router with ok false.
func (h *Holder) Version(v string) (r *Router, ok bool) {
	cur := h.cur.Load()
	if cur.version == v {
		return cur, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.recent) - 1; i >= 0; i-- {
		if h.recent[i].version == v {
			return h.recent[i], true
		}
	}
	return cur, false
}

// RetryAction is Router.RetryAction evaluated by the router of
// in.Decision.ConfigVersion (see Version); the action's ConfigVersion says
// which version decided.
func (h *Holder) RetryAction(in RetryInput) RetryAction {
	r, _ := h.Version(in.Decision.ConfigVersion)
	return r.RetryAction(in)
}

// Swap checks cfg and, when it has no error, makes it current. It returns
// the problems as New does, or an error when cfg reuses a version for a
// different configuration.
func (h *Holder) Swap(cfg Configuration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.cur.Load()
	for _, r := range append([]*Router{cur}, h.recent...) {
		if r.version != cfg.Version {
			continue
		}
		if sameConfiguration(r.cfg, cfg) {
			if r == cur {
				return nil
			}
			break // going back to a retained version: rebuild it below
		}
		return fmt.Errorf("router: version %q is already in use with a different configuration: give the new configuration a new version", cfg.Version)
	}
	next, err := New(cfg, cur.knownNames, cur.opts...)
	if err != nil {
		return err
	}
	next.ruleSet = cur.ruleSet
	h.recent = append(h.recent, cur)
	if len(h.recent) > retainedVersions {
		h.recent = append(h.recent[:0], h.recent[len(h.recent)-retainedVersions:]...)
	}
	h.cur.Store(next)
	return nil
}

// Reload reads the router section of the payroute configuration file at
// path (see LoadFile; PAYROUTE_ROUTER_* variables apply as at start) and
// swaps it in. Problems are located at file lines.
func (h *Holder) Reload(path string) error {
	cfg, err := LoadFile(path, os.Environ())
	if err != nil {
		return err
	}
	return h.Swap(cfg)
}

// sameConfiguration compares two configurations by what a file would say:
// their dumps, so a list left nil and one loaded empty are the same, and
// where they were read from does not matter.
func sameConfiguration(a, b Configuration) bool {
	da, errA := config.Dump(a)
	db, errB := config.Dump(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}
