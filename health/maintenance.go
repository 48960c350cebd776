package health

import "time"

// maintenance is the configured planned downtime, by PSP scope. Every
// instance reads the same configuration, so every instance takes a scope
// down and brings it back to probing at the same instants without a
// message; the records published for them are for operators and for
// instances whose configuration lags.
type maintenance map[string][]MaintenanceWindow // by key(psp, scope)

// scopeKey is a PSP scope with maintenance configured.
type scopeKey struct{ psp, scope string }

func newMaintenance(windows []MaintenanceWindow) maintenance {
	m := maintenance{}
	for _, w := range windows {
		scope, err := normalizeScope(w.Scope)
		if err != nil {
			continue // Validate has reported it
		}
		k := key(w.PSP, scope)
		m[k] = append(m[k], w)
	}
	return m
}

// keys lists the scopes with maintenance windows.
func (m maintenance) keys() []scopeKey {
	out := make([]scopeKey, 0, len(m))
	for _, ws := range m {
		scope, _ := normalizeScope(ws[0].Scope)
		out = append(out, scopeKey{ws[0].PSP, scope})
	}
	return out
}

// covers reports whether a window of the scope covers now, with the
// earliest start and the latest end of the windows that do (overlapping
// windows make one downtime).
func (m maintenance) covers(psp, scope string, now time.Time) (in bool, start, end time.Time) {
	for _, w := range m[key(psp, scope)] {
		if now.Before(w.Start) || !now.Before(w.End) {
			continue
		}
		if !in || w.Start.Before(start) {
			start = w.Start
		}
		if !in || w.End.After(end) {
			end = w.End
		}
		in = true
	}
	return in, start, end
}
