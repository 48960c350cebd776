package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/payroute/payroute/config"
)

// writeJSON writes v as indented JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// PSP is one PSP account in /api/psps.
type PSP struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Endpoint is the account's base URL without any user information.
	Endpoint            string      `json:"endpoint"`
	TimeoutMs           int64       `json:"timeout_ms"`
	ExcludeFromFailover bool        `json:"exclude_from_failover"`
	HasFees             bool        `json:"has_fees"`
	Health              []PSPHealth `json:"health"`
	// Live is the last minute of this instance's attempts at the PSP.
	Live LiveStats `json:"live"`
}

// PSPs is /api/psps.
type PSPs struct {
	// HealthTracked says whether a health tracker reports states; without
	// one, Health is empty and Live is what there is.
	HealthTracked bool  `json:"health_tracked"`
	PSPs          []PSP `json:"psps"`
}

// redactURL drops user information (credentials) from an endpoint.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}

func (s *Server) psps() PSPs {
	live := s.live.snapshot()
	health := map[string][]PSPHealth{}
	out := PSPs{HealthTracked: s.src.Health != nil, PSPs: []PSP{}}
	if s.src.Health != nil {
		for _, h := range s.src.Health.PSPHealth() {
			health[h.PSP] = append(health[h.PSP], h)
		}
	}
	names := map[string]bool{}
	if s.src.Accounts != nil {
		for _, n := range s.src.Accounts.Names() {
			names[n] = true
		}
	}
	for n := range live {
		names[n] = true
	}
	for n := range health {
		names[n] = true
	}
	for _, name := range sortedNames(names) {
		p := PSP{Name: name, Live: live[name], Health: health[name]}
		if p.Live.WindowSeconds == 0 {
			p.Live.WindowSeconds = liveSeconds
		}
		if p.Health == nil {
			p.Health = []PSPHealth{}
		}
		sort.Slice(p.Health, func(i, j int) bool { return p.Health[i].Scope < p.Health[j].Scope })
		if s.src.Accounts != nil {
			if a, ok := s.src.Accounts.Account(name); ok {
				p.Kind, p.Endpoint = a.Kind, redactURL(a.Endpoint)
				p.TimeoutMs = a.EffectiveTimeout().Milliseconds()
				p.ExcludeFromFailover = a.ExcludeFromFailover
				p.HasFees = len(a.Fees.Rates) > 0
			}
		}
		out.PSPs = append(out.PSPs, p)
	}
	return out
}

func (s *Server) handlePSPs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.psps())
}

// RouteSummary is one stored route in /api/config.
type RouteSummary struct {
	Name string   `json:"name"`
	PSPs []string `json:"psps"`
}

// ActiveConfig is /api/config: the routing configuration in force.
type ActiveConfig struct {
	Version string `json:"version"`
	// Versions are the versions this instance has used since it started,
	// oldest first, the current one last.
	Versions     []VersionSeen  `json:"versions"`
	DefaultRoute string         `json:"default_route"`
	Routes       []RouteSummary `json:"routes"`
	Rules        []string       `json:"rules"`
	RetryRules   int            `json:"retry_rules"`
	GatewaySets  []string       `json:"gateway_sets"`
	// YAML is the router section as a file would say it (payroute config).
	YAML string `json:"yaml"`
}

func (s *Server) activeConfig() (ActiveConfig, error) {
	r := s.src.Router.Current()
	cfg := r.Configuration()
	dump, err := config.Dump(cfg)
	if err != nil {
		return ActiveConfig{}, err
	}
	out := ActiveConfig{
		Version: r.Version(), Versions: s.flow.seenVersions(), DefaultRoute: cfg.DefaultRoute,
		Routes: []RouteSummary{}, Rules: []string{}, RetryRules: len(cfg.RetryRules),
		GatewaySets: sortedNames(cfg.GatewaySets), YAML: string(dump),
	}
	if n := len(out.Versions); n == 0 || out.Versions[n-1].Version != out.Version {
		out.Versions = append(out.Versions, VersionSeen{Version: out.Version, Since: time.Now()})
	}
	for _, name := range sortedNames(cfg.Routes) {
		rs := RouteSummary{Name: name, PSPs: []string{}}
		for _, c := range cfg.Routes[name] {
			rs.PSPs = append(rs.PSPs, c.PSP)
		}
		out.Routes = append(out.Routes, rs)
	}
	for _, ru := range cfg.Rules {
		out.Rules = append(out.Rules, ru.ID)
	}
	return out, nil
}

func (s *Server) handleConfig(w http.ResponseWriter, _ *http.Request) {
	if s.src.Router == nil {
		writeError(w, http.StatusNotFound, "this instance runs no router")
		return
	}
	c, err := s.activeConfig()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// LiveFlow is /api/flow: the processor's live flow and consumer lag.
type LiveFlow struct {
	Flow
	// Processor is false on an instance without a processor.
	Processor bool       `json:"processor"`
	Lag       []TopicLag `json:"lag"`
	LagAt     *time.Time `json:"lag_at,omitempty"`
	LagError  string     `json:"lag_error,omitempty"`
}

func (s *Server) handleFlow(w http.ResponseWriter, _ *http.Request) {
	out := LiveFlow{Flow: s.flow.series(), Processor: s.src.Counters != nil, Lag: []TopicLag{}}
	if s.lag != nil {
		lag, at, err := s.lag.snapshot()
		if lag != nil {
			out.Lag = lag
		}
		if !at.IsZero() {
			out.LagAt = &at
		}
		if err != nil {
			out.LagError = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, out)
}
