package health

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/payroute/payroute/schemas"
)

// machine is the health state of one PSP scope. The Tracker's mutex guards
// it.
type machine struct {
	psp, scope, key string

	state  schemas.HealthState
	since  time.Time // when state was entered (a record's changed_at_ms)
	reason string
	// origin is the instance whose decision the state is; the DOWN's origin
	// publishes the timed move to PROBING.
	origin string
	// last is the transition into the current state, as published or to be
	// published.
	last schemas.PspHealthChanged

	win         window
	consecutive int // PSP-caused failures in a row
	probeOK     int // answered calls while PROBING
	probeFailed int // failed or slow calls while PROBING

	// maintenance is set while a configured window covers the scope; the
	// scope is then DOWN whatever the topic says. maintenanceEnd is when
	// the covering windows end.
	maintenance    bool
	maintenanceEnd time.Time

	// unpublished is set when the state came from a timed transition that
	// no record has confirmed yet (see advanceLocked).
	unpublished bool
	// pendingOwn counts this instance's records for the key that are
	// produced and not yet read back (see adoptLocked).
	pendingOwn int
}

// effective is the state payments see: DOWN during maintenance.
func (m *machine) effective() schemas.HealthState {
	if m.maintenance {
		return schemas.HealthDown
	}
	return m.state
}

// severity orders states from usable to unusable.
func severity(s schemas.HealthState) int {
	switch s {
	case schemas.HealthDown:
		return 2
	case schemas.HealthProbing:
		return 1
	}
	return 0
}

// known reports whether s is a state of the model.
func known(s schemas.HealthState) bool {
	return s == schemas.HealthHealthy || s == schemas.HealthDown || s == schemas.HealthProbing
}

// how says where a transition comes from, which decides whether and when it
// is published.
type how int

const (
	// decided: this instance's own observations decided; publish now.
	decided how = iota
	// timed: every instance computes it alike; publish only if no record
	// confirms it within the grace.
	timed
	// adopted: read from the topic; never published again.
	adopted
)

// machineLocked returns the machine of a scope, creating it healthy.
func (t *Tracker) machineLocked(psp, scope string) *machine {
	k := key(psp, scope)
	if m, ok := t.machines[k]; ok {
		return m
	}
	m := &machine{psp: psp, scope: scope, key: k, state: schemas.HealthHealthy,
		win: newWindow(t.cfg.Window, t.cfg.Bucket)}
	t.machines[k] = m
	t.byPSP[psp] = append(t.byPSP[psp], m)
	return m
}

// record feeds one call to a machine and applies the transition it causes.
// mayTrip is false for a narrow scope whose whole account is not healthy:
// the call is counted but cannot take the scope down.
func (t *Tracker) recordLocked(m *machine, at, now time.Time, failure, slow, mayTrip bool) {
	t.advanceLocked(m, now)
	m.win.add(at, failure, slow)
	if failure {
		m.consecutive++
	} else {
		m.consecutive = 0
	}
	if m.maintenance {
		return // planned downtime: calls forced onto it decide nothing
	}
	switch m.state {
	case schemas.HealthHealthy:
		if !mayTrip {
			return
		}
		c := m.win.totals(now)
		switch {
		case t.cfg.ConsecutiveFailures > 0 && m.consecutive >= t.cfg.ConsecutiveFailures:
			t.enterLocked(m, schemas.HealthDown, fmt.Sprintf("%d PSP failures in a row", m.consecutive), now, decided, c)
		case c.calls >= int64(t.cfg.MinCalls) && c.failureRate() >= t.cfg.FailureRate:
			t.enterLocked(m, schemas.HealthDown, fmt.Sprintf("failure rate %.0f%% of %d calls in %s reached %.0f%%",
				100*c.failureRate(), c.calls, t.cfg.Window, 100*t.cfg.FailureRate), now, decided, c)
		case c.calls >= int64(t.cfg.MinCalls) && c.slowRate() >= t.cfg.SlowCallRate:
			t.enterLocked(m, schemas.HealthDown, fmt.Sprintf("%.0f%% of %d calls in %s slower than %s (threshold %.0f%%)",
				100*c.slowRate(), c.calls, t.cfg.Window, t.cfg.SlowCall, 100*t.cfg.SlowCallRate), now, decided, c)
		}
	case schemas.HealthProbing:
		if failure || slow {
			m.probeFailed++
		} else {
			m.probeOK++
		}
		probes := counts{calls: int64(m.probeOK + m.probeFailed), failures: int64(m.probeFailed)}
		switch {
		case m.probeFailed >= t.cfg.ProbeFailures:
			t.enterLocked(m, schemas.HealthDown, fmt.Sprintf("%d of %d probes failed", m.probeFailed, probes.calls), now, decided, probes)
		case m.probeOK >= t.cfg.ProbeSuccesses:
			t.enterLocked(m, schemas.HealthHealthy, fmt.Sprintf("%d of %d probes succeeded", m.probeOK, probes.calls), now, decided, probes)
		}
	}
}

// advanceLocked applies the transitions that time alone causes: a
// maintenance window starting or ending, the cool-off of a DOWN scope, and
// publishing a timed transition nobody else published.
//
// Timed transitions are dated at the instant they were due, not when an
// instance happened to notice, so every instance computes the same state
// and the same changed_at_ms from the same record.
func (t *Tracker) advanceLocked(m *machine, now time.Time) {
	in, start, end := t.maint.covers(m.psp, m.scope, now)
	switch {
	case in && !m.maintenance:
		m.maintenance, m.maintenanceEnd = true, end
		if m.state != schemas.HealthDown {
			t.enterLocked(m, schemas.HealthDown, "maintenance until "+end.UTC().Format(time.RFC3339), start, timed, counts{})
		}
	case in:
		m.maintenanceEnd = end
	case m.maintenance:
		m.maintenance = false
		if m.state != schemas.HealthProbing {
			t.enterLocked(m, schemas.HealthProbing, "maintenance ended", m.maintenanceEnd, timed, counts{})
		}
	}
	if m.state == schemas.HealthDown && !m.maintenance {
		if due := m.since.Add(t.cfg.CoolOff); !now.Before(due) {
			h := timed
			if m.origin == t.id {
				h = decided
			}
			t.enterLocked(m, schemas.HealthProbing, fmt.Sprintf("cool-off of %s passed", t.cfg.CoolOff), due, h, counts{})
		}
	}
	if m.unpublished && !now.Before(m.since.Add(confirmGrace+t.stagger)) {
		m.unpublished = false
		ev := m.last
		ev.InstanceID = t.id
		m.origin = t.id
		m.last = ev
		t.queueLocked(m, ev)
	}
}

// advanceAllLocked advances every machine.
func (t *Tracker) advanceAllLocked(now time.Time) {
	for _, m := range t.machines {
		t.advanceLocked(m, now)
	}
}

// enterLocked moves a machine to a new state at instant at, resets what the
// new state starts afresh, tells subscribers, and queues the record when
// this instance publishes it.
func (t *Tracker) enterLocked(m *machine, to schemas.HealthState, reason string, at time.Time, h how, c counts) {
	ev := schemas.PspHealthChanged{
		PSP: m.psp, Scope: m.scope, State: to, PreviousState: m.state, Reason: reason,
		FailureRate: c.failureRate(), WindowCalls: c.calls, InstanceID: t.id, ChangedAtMs: at.UnixMilli(),
	}
	t.applyLocked(m, ev, h)
}

// applyLocked makes ev the machine's state. ev.PreviousState must be the
// machine's current state.
func (t *Tracker) applyLocked(m *machine, ev schemas.PspHealthChanged, h how) {
	prev := m.state
	m.state, m.since, m.reason, m.origin, m.last = ev.State, time.UnixMilli(ev.ChangedAtMs), ev.Reason, ev.InstanceID, ev
	m.unpublished = h == timed
	if h == timed {
		m.origin = "" // nobody's decision until a record confirms it
	}
	m.probeOK, m.probeFailed = 0, 0
	m.consecutive = 0
	if ev.State == schemas.HealthHealthy {
		m.win.reset()
		if m.scope == WholeAccount {
			// The narrow scopes were not judged while the account was
			// not healthy; their windows hold calls from the outage.
			for _, n := range t.byPSP[m.psp] {
				if n != m && n.state == schemas.HealthHealthy {
					n.win.reset()
					n.consecutive = 0
				}
			}
		}
	}
	t.stats.count(ev.State, h == adopted)
	level := slog.LevelInfo
	if ev.State == schemas.HealthDown {
		level = slog.LevelWarn
	}
	t.log.Log(context.Background(), level, "psp health changed", "psp", m.psp, "scope", m.scope, "from", prev, "to", ev.State,
		"reason", ev.Reason, "decided_by", ev.InstanceID, "adopted", h == adopted)
	if h == decided {
		t.queueLocked(m, ev)
	}
	for _, ch := range t.subs {
		select {
		case ch <- ev:
		default:
			t.stats.DroppedEvents++
		}
	}
	if ev.State == schemas.HealthHealthy && prev != schemas.HealthHealthy {
		close(t.recovered)
		t.recovered = make(chan struct{})
	}
}

// adoptLocked applies a record read from psp.health. Every instance applies
// every record in log order, so all end in the state of the last record of
// each key.
//
// This instance's own records come back too. While more of its records for
// the key are on their way, an earlier one is stale (this instance has
// moved on, and its later record follows in the log), so it is skipped
// rather than briefly undoing the later state; the last one is applied,
// because a record of another instance may have come in between.
func (t *Tracker) adoptLocked(ev schemas.PspHealthChanged) {
	scope, err := normalizeScope(ev.Scope)
	if err != nil || ev.PSP == "" || !known(ev.State) {
		t.stats.DecodeErrors++
		t.log.Warn("ignoring psp.health record", "psp", ev.PSP, "scope", ev.Scope, "state", ev.State)
		return
	}
	m := t.machineLocked(ev.PSP, scope)
	if ev.InstanceID == t.id && m.pendingOwn > 0 {
		m.pendingOwn--
		if m.pendingOwn > 0 {
			return
		}
	}
	m.unpublished = false
	ev.Scope = scope
	if ev.State == m.state {
		// Same state: take the record's time and author, so that the
		// timed transitions that follow are computed alike everywhere.
		m.since, m.reason, m.origin, m.last = time.UnixMilli(ev.ChangedAtMs), ev.Reason, ev.InstanceID, ev
		return
	}
	ev.PreviousState = m.state
	t.applyLocked(m, ev, adopted)
}
