package consumers

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/payroute/payroute/schemas"
)

// Phase is where a payment stands in the processor.
type Phase string

const (
	// PhaseInFlight: an attempt chain is under way; the next rank's
	// AttemptFailed is on a retry topic.
	PhaseInFlight Phase = "in_flight"
	// PhaseAttempting: a PSP call is under way (InFlight says which). It is
	// committed before the call starts, so whoever owns the partition after
	// a crash makes the call again with the same idempotency key and gets
	// the PSP's stored answer.
	PhaseAttempting Phase = "attempting"
	// PhaseScheduled: a retry is parked until Scheduled.DueAtMs.
	PhaseScheduled Phase = "scheduled"
	// PhaseActionRequired: waiting for the customer's RETRY or CANCEL.
	PhaseActionRequired Phase = "action_required"
	// PhaseHeld: a recurring payment whose PSPs are all down, held (neither
	// attempted nor failed) until one recovers (Recurly's paused queue).
	PhaseHeld Phase = "held"
	// PhaseFinal: the final result is published; Result holds it.
	PhaseFinal Phase = "final"
)

// PaymentState is what the processor remembers about one payment. It lives
// in memory on the instance that owns the payment's partition, and every
// change is written to the compacted payments.state changelog in the same
// Kafka transaction as the outputs and the input's offset, so the memory of
// whoever owns the partition next, rebuilt from the changelog, always agrees
// with what was published.
//
// The changelog is internal to payroute and is encoded as JSON with a
// version field: nothing outside the processor reads it, and JSON lets a new
// field appear without a schema migration.
type PaymentState struct {
	Version   int    `json:"v"`
	PaymentID string `json:"payment_id"`
	Phase     Phase  `json:"phase"`
	// Request is the payment as received; kept while the payment is not
	// final, because retries and customer actions attempt it again.
	Request *schemas.PaymentRequested `json:"request,omitempty"`
	// Decision is the route the payment started with.
	Decision schemas.Decision `json:"decision"`
	// Path is every attempt so far, oldest first.
	Path []schemas.AttemptSummary `json:"path,omitempty"`
	// PendingRank is the rank whose retry record is on its way (in flight).
	PendingRank int `json:"pending_rank,omitempty"`
	// InFlight is the PSP call under way, in PhaseAttempting.
	InFlight *InFlight `json:"in_flight,omitempty"`
	// Scheduled is the retry parked until it is due.
	Scheduled *schemas.AttemptFailed `json:"scheduled,omitempty"`
	// CustomerRetries counts RETRY actions, and ScheduledRetries retries
	// scheduled after declines: each makes a new PSP idempotency key.
	CustomerRetries  int `json:"customer_retries,omitempty"`
	ScheduledRetries int `json:"scheduled_retries,omitempty"`
	// ChallengeKey is, while the payment waits in ACTION_REQUIRED on a
	// request the PSP holds open for the customer (psp.Outcome.Pending: a
	// 3-D Secure challenge), the idempotency key of that request: a RETRY
	// asks the PSP about it first.
	ChallengeKey string `json:"challenge_key,omitempty"`
	// Operation, AmountMinor and Currency are the payment's, kept after the
	// request is dropped, for follow-ups.
	Operation   schemas.Operation `json:"operation"`
	AmountMinor int64             `json:"amount_minor"`
	Currency    string            `json:"currency"`
	// AuthorizingPSP and AuthorizationReference name the approval that
	// CAPTURE, VOID and REFUND must go back to.
	AuthorizingPSP         string `json:"authorizing_psp,omitempty"`
	AuthorizationReference string `json:"authorization_reference,omitempty"`
	// CapturedMinor, RefundedMinor and Voided are the follow-ups applied to
	// an approved authorization or charge.
	CapturedMinor int64 `json:"captured_minor,omitempty"`
	RefundedMinor int64 `json:"refunded_minor,omitempty"`
	Voided        bool  `json:"voided,omitempty"`
	// Reserved* are follow-ups in flight: counted against what remains, so
	// two concurrent captures cannot both take the last of an authorization.
	ReservedCaptureMinor int64 `json:"reserved_capture_minor,omitempty"`
	ReservedRefundMinor  int64 `json:"reserved_refund_minor,omitempty"`
	VoidPending          bool  `json:"void_pending,omitempty"`
	// Result is the last result published: the final one, or ACTION_REQUIRED.
	Result *schemas.PaymentResult `json:"result,omitempty"`
	// HeldAtMs is when a held payment was held: release is oldest first.
	HeldAtMs int64 `json:"held_at_ms,omitempty"`
	// UpdatedAtMs is when the state last changed.
	UpdatedAtMs int64 `json:"updated_at_ms"`
}

// InFlight is one PSP call under way: everything needed to make it again.
type InFlight struct {
	Rank                   int    `json:"rank"`
	PSP                    string `json:"psp"`
	Method                 string `json:"method,omitempty"`
	IdempotencyKey         string `json:"idempotency_key"`
	AuthorizationReference string `json:"authorization_reference,omitempty"`
	FollowUp               bool   `json:"follow_up,omitempty"`
	// Token is a customer's re-entered payment method token for a RETRY.
	Token string `json:"token,omitempty"`
	// ConfirmKey is, for a RETRY after a challenge the PSP asked for (an
	// ACTION_REQUIRED with an action_url), the idempotency key of the
	// challenged attempt: the PSP is asked about it before anything is sent
	// again, because a customer who completed the challenge completed that
	// payment at the PSP (see Processor.confirmChallenge).
	ConfirmKey string `json:"confirm_key,omitempty"`
	// The input that started the attempt, named in dead letters.
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	StartedAtMs     int64  `json:"started_at_ms"`
	// Trace is the trace context of the input that started the attempt,
	// continued by what its outcome produces.
	Trace map[string]string `json:"trace,omitempty"`
}

const stateVersion = 1

// actionDeadlineMs is when a payment waiting for a customer action since its
// last change gives up, with the timeout in force.
func (s *PaymentState) actionDeadlineMs(timeout time.Duration) int64 {
	return s.UpdatedAtMs + timeout.Milliseconds()
}

// clone copies the state deeply enough that a batch can change it without
// touching the committed copy.
func (s *PaymentState) clone() *PaymentState {
	c := *s
	c.Path = append([]schemas.AttemptSummary(nil), s.Path...)
	if s.InFlight != nil {
		f := *s.InFlight
		c.InFlight = &f
	}
	if s.Scheduled != nil {
		sc := *s.Scheduled
		c.Scheduled = &sc
	}
	return &c
}

func encodeState(s *PaymentState) ([]byte, error) {
	s.Version = stateVersion
	return json.Marshal(s)
}

func decodeState(b []byte) (*PaymentState, error) {
	var s PaymentState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode payment state: %w", err)
	}
	if s.Version > stateVersion {
		return nil, fmt.Errorf("payment state %s has version %d, this build reads up to %d: upgrade every instance first", s.PaymentID, s.Version, stateVersion)
	}
	return &s, nil
}

// Store holds the payment state of the partitions this instance owns.
// Partitions are loaded on assignment and dropped on revocation; a batch
// reads through a partView and its changes are applied only once its
// transaction committed, so an aborted batch leaves no trace here.
//
// Payments without a final result are in memory: the loop works on them.
// Final payments, the bulk of any partition and read only for duplicates,
// follow-ups and expiry, are on local disk (finalStates), with an index
// entry each in memory, so memory is bounded by the payments under way, not
// by the traffic of the retention window.
//
// The payments that the loop looks at on every turn (parked retries, held
// payments) are indexed apart, so a turn costs what is parked or held, not
// what is stored.
type Store struct {
	dir string

	mu sync.RWMutex
	// open holds, per partition, the payments without a final result, and
	// finals the final ones.
	open   map[int32]map[string]*PaymentState
	finals map[int32]*finalStates
	// parked and held index, per partition, payments with a parked retry
	// (by due time) or waiting for a customer action (by when they give
	// up, with actionTimeout), and held payments (by hold time).
	parked map[int32]map[string]int64
	held   map[int32]map[string]int64
	// actionTimeout is processor.action_timeout (0: never give up); set
	// before any state is loaded.
	actionTimeout time.Duration
}

// NewStore is an empty store keeping final payments' states in files of
// dir, which must exist and belong to this store alone.
func NewStore(dir string) *Store {
	return &Store{dir: dir, open: map[int32]map[string]*PaymentState{}, finals: map[int32]*finalStates{},
		parked: map[int32]map[string]int64{}, held: map[int32]map[string]int64{}}
}

// index files a payment's state in the parked and held indexes.
func (s *Store) index(part int32, id string, st *PaymentState) {
	delete(s.parked[part], id)
	delete(s.held[part], id)
	if st == nil {
		return
	}
	add := func(m map[int32]map[string]int64, at int64) {
		if m[part] == nil {
			m[part] = map[string]int64{}
		}
		m[part][id] = at
	}
	switch {
	case st.Phase == PhaseScheduled && st.Scheduled != nil:
		add(s.parked, st.Scheduled.DueAtMs)
	case st.Phase == PhaseHeld && st.Request != nil:
		add(s.held, st.HeldAtMs)
	case st.Phase == PhaseActionRequired && s.actionTimeout > 0:
		add(s.parked, st.actionDeadlineMs(s.actionTimeout))
	}
}

// Owns reports whether the partition's state is loaded.
func (s *Store) Owns(part int32) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.open[part]
	return ok
}

// Partitions lists the partitions whose state is loaded.
func (s *Store) Partitions() []int32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]int32, 0, len(s.open))
	for part := range s.open {
		out = append(out, part)
	}
	return out
}

// attempting returns the payment's state when its PSP call is under way
// (in memory, never read from disk: final payments are not attempting).
func (s *Store) attempting(part int32, id string) (*PaymentState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.open[part][id]
	if !ok || st.Phase != PhaseAttempting || st.InFlight == nil {
		return nil, false
	}
	return st, true
}

// Get returns the committed state of a payment. A final payment's is read
// from disk into a fresh copy; a payment under way's is the store's own,
// not to be changed (partView clones it). A final state that cannot be read
// back is a broken state directory: Get panics, which fails the batch in
// hand (processBatch), and the processor restarts its session, which builds
// the partition's state anew.
func (s *Store) Get(part int32, id string) (*PaymentState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.open[part][id]; ok {
		return st, true
	}
	fs, ok := s.finals[part]
	if !ok {
		return nil, false
	}
	st, ok, err := fs.get(id)
	if err != nil {
		panic(err)
	}
	return st, ok
}

// partitionLoader builds a partition's state from its changelog, in order:
// final states go to disk as they are read, so a restore holds no more in
// memory than the payments under way.
type partitionLoader struct {
	part   int32
	open   map[string]*PaymentState
	finals *finalStates
}

// loader starts loading a partition; install or discard it.
func (s *Store) loader(part int32) (*partitionLoader, error) {
	fs, err := newFinalStates(s.dir, part)
	if err != nil {
		return nil, err
	}
	return &partitionLoader{part: part, open: map[string]*PaymentState{}, finals: fs}, nil
}

// add applies one changelog record: a payment's state, or its tombstone
// (nil value).
func (l *partitionLoader) add(key string, value []byte) error {
	if value == nil {
		delete(l.open, key)
		return l.finals.delete(key)
	}
	st, err := decodeState(value)
	if err != nil {
		// A state this build cannot read must stop the instance, not be
		// skipped: skipping would forget a payment.
		return fmt.Errorf("%w: %w", errStateUnreadable, err)
	}
	if st.Phase == PhaseFinal {
		delete(l.open, st.PaymentID)
		return l.finals.put(st, value)
	}
	l.open[st.PaymentID] = st
	return l.finals.delete(st.PaymentID)
}

func (l *partitionLoader) discard() { l.finals.close() }

// install replaces the partition's state with what the loader read.
func (s *Store) install(l *partitionLoader) error {
	if err := l.finals.flush(); err != nil {
		l.discard()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked(l.part)
	s.open[l.part] = l.open
	s.finals[l.part] = l.finals
	for id, st := range l.open {
		s.index(l.part, id, st)
	}
	return nil
}

// Drop forgets partitions that are no longer owned.
func (s *Store) Drop(parts ...int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		s.dropLocked(p)
	}
}

func (s *Store) dropLocked(part int32) {
	if fs, ok := s.finals[part]; ok {
		fs.close()
	}
	delete(s.open, part)
	delete(s.finals, part)
	delete(s.parked, part)
	delete(s.held, part)
}

// Apply merges a committed batch's changes (a nil state deletes); encoded
// holds the changelog value each state was written as, which is what a
// final state is kept as on disk. An error leaves the partition's state
// incomplete: the caller must restart and restore it.
func (s *Store) Apply(part int32, changes map[string]*PaymentState, encoded map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	open, ok := s.open[part]
	if !ok {
		// Revoked while the batch committed: the next owner restores it
		// from the changelog, which has these changes.
		return nil
	}
	fs := s.finals[part]
	for id, st := range changes {
		switch {
		case st == nil:
			delete(open, id)
			if err := fs.delete(id); err != nil {
				return err
			}
		case st.Phase == PhaseFinal:
			delete(open, id)
			b, ok := encoded[id]
			if !ok {
				return fmt.Errorf("final state of %s applied without its encoding", id)
			}
			if err := fs.put(st, b); err != nil {
				return err
			}
		default:
			open[id] = st
			if err := fs.delete(id); err != nil {
				return err
			}
		}
		s.index(part, id, st)
	}
	return fs.flush()
}

// Scheduled returns the payments of owned partitions that are due at nowMs
// (parked retries, and customer actions given up on), at most limit per
// partition, and the earliest due time of those that are not (0 when
// none). The limit keeps one batch's transaction small when many come due
// at once (a retry tier's worth, or every abandoned action on the first
// start of a release that expires them); the rest are due on the next turn.
func (s *Store) Scheduled(nowMs int64, limit int) (due map[int32][]string, next int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for part, m := range s.parked {
		for id, dueAt := range m {
			if dueAt <= nowMs {
				if len(due[part]) >= limit {
					continue
				}
				if due == nil {
					due = map[int32][]string{}
				}
				due[part] = append(due[part], id)
			} else if next == 0 || dueAt < next {
				next = dueAt
			}
		}
	}
	return due, next
}

// Expired lists up to limit final payments of a partition that last changed
// before the retention allows: approvals that follow-ups may still need are
// kept until approvalBeforeMs, everything else until beforeMs. A state
// directory that cannot be read panics, as in Get.
func (s *Store) Expired(part int32, beforeMs, approvalBeforeMs int64, limit int) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fs, ok := s.finals[part]
	if !ok {
		return nil
	}
	ids, err := fs.expired(beforeMs, approvalBeforeMs, limit)
	if err != nil {
		panic(err) // as in Get
	}
	return ids
}

// Held lists held payments of owned partitions, oldest first.
func (s *Store) Held() []heldPayment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []heldPayment
	for part, m := range s.held {
		for id := range m {
			out = append(out, heldPayment{part: part, st: s.open[part][id]})
		}
	}
	slices.SortFunc(out, func(a, b heldPayment) int { return cmp.Compare(a.st.HeldAtMs, b.st.HeldAtMs) })
	return out
}

type heldPayment struct {
	part int32
	st   *PaymentState
}

// Attempting lists the payments of a partition whose PSP call is under way
// (after a restore: calls a previous owner started).
func (s *Store) Attempting(part int32) []*PaymentState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*PaymentState
	for _, st := range s.open[part] {
		if st.Phase == PhaseAttempting && st.InFlight != nil {
			out = append(out, st.clone())
		}
	}
	return out
}

// Unfinished counts the payments that have no final result yet.
func (s *Store) Unfinished() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.open {
		n += len(m)
	}
	return n
}

// Len is the number of payments held, final ones included, for metrics and
// tests.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for part, m := range s.open {
		n += len(m) + s.finals[part].len()
	}
	return n
}

// partView is one partition's state as a batch sees it: its own changes
// over the committed store.
type partView struct {
	store   *Store
	part    int32
	changes map[string]*PaymentState
	// encoded holds the changelog value each changed state was written as
	// (work.flushState).
	encoded map[string][]byte
}

func (v *partView) get(id string) (*PaymentState, bool) {
	if st, ok := v.changes[id]; ok {
		return st, st != nil
	}
	st, ok := v.store.Get(v.part, id)
	if !ok {
		return nil, false
	}
	return st.clone(), true
}

func (v *partView) put(st *PaymentState) {
	if v.changes == nil {
		v.changes = map[string]*PaymentState{}
	}
	v.changes[st.PaymentID] = st
}

// forget deletes a payment's state (a tombstone on the changelog).
func (v *partView) forget(id string) {
	if v.changes == nil {
		v.changes = map[string]*PaymentState{}
	}
	v.changes[id] = nil
}
