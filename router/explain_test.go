package router_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
)

func readEvent(t *testing.T, path string) *schemas.PaymentRequested {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, err := router.DecodeEvent(f)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestExplainText(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/payrails-rules.yaml", payrailsPSPs)
	req := readEvent(t, "../deploy/examples/events/dach-eur.json")
	req.PaymentMethod.IssuerCountry = "FR"
	var buf bytes.Buffer
	if err := r.Explain(req).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := `config version payrails-2024-06-01 (../deploy/examples/payrails-rules.yaml)
payment pay_dach_eur_1: decided by rules
  rule 1 visa-adyen (line 31): no match: payment_method.network is "mastercard", wanted payment_method.network equals "visa" (when[0])
  rule 2 dach-eur-braintree (line 41): no match: payment_method.issuer_country is "FR", wanted payment_method.issuer_country one_of ["AT", "DE", "CH"] (when[0])
  rule 3 eur-gbp-stripe (line 48): match
  ranked list: route stripe-first
decision: rule eur-gbp-stripe, config version payrails-2024-06-01
  1. stripe (card)
  2. adyen (card)
`
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), want)
	}

	// A split, and a payment matching no rule.
	req.PaymentMethod.Network, req.Currency = "amex", "USD"
	ex := r.Explain(req)
	if ex.Split == nil || !strings.HasPrefix(ex.Split.Branch, "usd-split/") || ex.Split.Percent != 50 || ex.Split.Bucket < 0 || ex.Split.Bucket >= 100 {
		t.Fatalf("split: %+v", ex.Split)
	}
	buf.Reset()
	_ = ex.WriteText(&buf)
	if !strings.Contains(buf.String(), "  split: payment at ") {
		t.Fatalf("split text:\n%s", buf.String())
	}
	req.Currency = "JPY"
	buf.Reset()
	ex = r.Explain(req)
	_ = ex.WriteText(&buf)
	if ex.Source != router.SourceDefault || len(ex.Rules) != 4 || ex.Decision.RuleID != router.RuleDefault ||
		!strings.Contains(buf.String(), "no rule matched; the default route applies") {
		t.Fatalf("default:\n%s", buf.String())
	}
}

func TestExplainSources(t *testing.T) {
	r, err := router.New(fullConfig(), knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		routing schemas.Routing
		source  string
		text    string
		reason  string
	}{
		{"override", schemas.Routing{ProviderOverride: "psp-c"}, router.SourceOverride, "provider override decides", ""},
		{"inline", schemas.Routing{Candidates: []schemas.Candidate{{PSP: "psp-a"}}}, router.SourceInline, "own ranked candidates decide", ""},
		{"route_ref", schemas.Routing{RouteRef: "fallback"}, router.SourceRouteRef, "route_ref decides", ""},
		{"unknown route_ref", schemas.Routing{RouteRef: "nope"}, router.SourceRouteRef, "rejected: unknown_route_ref", router.ReasonUnknownRouteRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := event()
			req.Routing = tt.routing
			ex := r.Explain(req)
			var buf bytes.Buffer
			_ = ex.WriteText(&buf)
			if ex.Source != tt.source || len(ex.Rules) != 0 || !strings.Contains(buf.String(), tt.text) {
				t.Fatalf("source %q rules %d:\n%s", ex.Source, len(ex.Rules), buf.String())
			}
			if tt.reason != "" && (ex.Rejected == nil || ex.Rejected.Reason != tt.reason || ex.Decision != nil) {
				t.Fatalf("rejection: %+v", ex)
			}
			if tt.reason == "" {
				d, _ := r.Route(req)
				if ex.Decision == nil || ex.Decision.RuleID != d.RuleID {
					t.Fatalf("explanation %+v disagrees with Route %+v", ex.Decision, d)
				}
			}
		})
	}
}

func TestDecodeEvent(t *testing.T) {
	for _, tt := range []struct{ name, json, err string }{
		{"unknown field", `{"payment_id": "p", "curency": "EUR"}`, `unknown field "curency"`},
		{"two values", `{"payment_id": "p"} {}`, "more than one JSON value"},
		{"invalid", `{"payment_id": "p", "operation": "CHARGE", "amount_minor": 1, "currency": "eur", "payment_method": {"token": "t"}}`, "the processor would reject it"},
		{"not JSON", `payment`, "event: invalid character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := router.DecodeEvent(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestExplainHandler(t *testing.T) {
	r := loadRouter(t, "../deploy/examples/payrails-rules.yaml", payrailsPSPs)
	h := router.NewHolder(r)
	srv := httptest.NewServer(router.ExplainHandler(h))
	defer srv.Close()
	event, err := os.ReadFile("../deploy/examples/events/dach-eur.json")
	if err != nil {
		t.Fatal(err)
	}

	decode := func(resp *http.Response) (router.Explanation, map[string]string) {
		t.Helper()
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var ex router.Explanation
		var e map[string]string
		var raw json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &ex); err != nil {
				t.Fatal(err)
			}
		} else if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		return ex, e
	}

	resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := decode(resp)
	if resp.StatusCode != 200 || ex.Decision == nil || ex.Decision.RuleID != "dach-eur-braintree" || len(ex.Rules) != 2 ||
		ex.Rules[0].Failed == nil || ex.Rules[0].Failed.Actual != "mastercard" || ex.Rules[1].Line != 41 {
		t.Fatalf("POST: %d %+v", resp.StatusCode, ex)
	}

	resp, err = http.Get(srv.URL + "?event=" + url.QueryEscape(string(event)))
	if err != nil {
		t.Fatal(err)
	}
	if ex, _ := decode(resp); resp.StatusCode != 200 || ex.Decision.RuleID != "dach-eur-braintree" {
		t.Fatalf("GET: %d %+v", resp.StatusCode, ex)
	}

	// After a swap, ?version= explains with a retained version.
	cfg := r.Configuration()
	cfg.Version = "payrails-2024-07-01"
	cfg.Rules = cfg.Rules[2:]
	if err := h.Swap(cfg); err != nil {
		t.Fatal(err)
	}
	resp, _ = http.Post(srv.URL, "application/json", bytes.NewReader(event))
	if ex, _ := decode(resp); ex.ConfigVersion != "payrails-2024-07-01" || ex.Decision.RuleID != "eur-gbp-stripe" {
		t.Fatalf("after swap: %+v", ex)
	}
	resp, _ = http.Post(srv.URL+"?version=payrails-2024-06-01", "application/json", bytes.NewReader(event))
	if ex, _ := decode(resp); ex.ConfigVersion != "payrails-2024-06-01" || ex.Decision.RuleID != "dach-eur-braintree" {
		t.Fatalf("retained version: %+v", ex)
	}

	for _, tt := range []struct {
		name, method, query, body string
		status                    int
		msg                       string
	}{
		{"unknown version", http.MethodPost, "?version=nope", string(event), 404, `"nope" is neither current`},
		{"GET without event", http.MethodGet, "", "", 400, "GET needs ?event="},
		{"bad JSON", http.MethodPost, "", "{", 400, "event:"},
		{"invalid event", http.MethodPost, "", `{"payment_id": "p"}`, 400, "the processor would reject it"},
		{"too large", http.MethodPost, "", `{"payment_id": "` + strings.Repeat("x", router.MaxEventBytes) + `"}`, 400, "too large"},
		{"method", http.MethodPut, "", "", 405, "use GET or POST"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.query, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, e := decode(resp)
			if resp.StatusCode != tt.status || !strings.Contains(e["error"], tt.msg) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, e["error"], tt.status, tt.msg)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow: %q", resp.Header.Get("Allow"))
			}
		})
	}
}
