package router

import (
	"errors"

	"go.uber.org/fx"

	"github.com/payroute/payroute/psp"
)

// Module provides a *Router and a *Holder around it to an fx application.
// It needs a Configuration in the graph and the known PSP names, taken from
// a KnownPSPs when one is provided and otherwise from the *psp.Registry
// (psp.Module), together with the accounts excluded from failover; it uses
// a RuleSet when one is provided:
//
//	fx.Supply(cfg.Router, cfg.PSPs),
//	psp.Module, router.Module,
//
// Consumers that must follow configuration reloads take the *Holder; the
// *Router is the configuration the process started with.
var Module = fx.Module("router", fx.Provide(NewFromParams, NewHolder))

// KnownPSPs is what the router needs from the PSP registry: the names of the
// PSP accounts it can attempt.
type KnownPSPs interface {
	Names() []string
}

// accountLookup is how the router reads psp.Account.ExcludeFromFailover
// from a *psp.Registry, or from a KnownPSPs that offers the same method.
type accountLookup interface {
	Account(name string) (psp.Account, bool)
}

var _ accountLookup = (*psp.Registry)(nil)

// PSPNames is a fixed list of known PSP names, for tests and simple wiring.
type PSPNames []string

// Names returns the list.
func (p PSPNames) Names() []string { return p }

// Params are the router's dependencies in an fx graph.
type Params struct {
	fx.In

	Config Configuration
	// PSPs, when provided, overrides Registry as the source of PSP names.
	PSPs     KnownPSPs     `optional:"true"`
	Registry *psp.Registry `optional:"true"`
	// Rules is optional; without it the router goes from the event's own
	// routing straight to the default route.
	Rules RuleSet `optional:"true"`
}

// NewFromParams is New for fx: it builds the router from p, with the
// accounts the registry marks ExcludeFromFailover excluded, and installs
// p.Rules when present. One of p.PSPs and p.Registry is required.
func NewFromParams(p Params) (*Router, error) {
	var names []string
	var accounts accountLookup
	switch {
	case p.PSPs != nil:
		names = p.PSPs.Names()
		accounts, _ = p.PSPs.(accountLookup)
	case p.Registry != nil:
		names = p.Registry.Names()
		accounts = p.Registry
	default:
		return nil, errors.New("router: no PSP names in the fx graph: provide psp.Module (a *psp.Registry) or a router.KnownPSPs")
	}
	var excluded []string
	if accounts != nil {
		for _, n := range names {
			if a, ok := accounts.Account(n); ok && a.ExcludeFromFailover {
				excluded = append(excluded, n)
			}
		}
	}
	r, err := New(p.Config, names, ExcludeFromFailover(excluded...))
	if err != nil {
		return nil, err
	}
	if p.Rules != nil {
		r = r.WithRules(p.Rules)
	}
	return r, nil
}
