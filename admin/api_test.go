package admin

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/schemas"
)

type fakeAccounts map[string]psp.Account

func (f fakeAccounts) Names() []string { return sortedNames(f) }
func (f fakeAccounts) Account(n string) (psp.Account, bool) {
	a, ok := f[n]
	return a, ok
}

func TestPSPsAPI(t *testing.T) {
	src := Sources{
		Cluster: embeddedCluster(t),
		Accounts: fakeAccounts{
			"psp-a": {Kind: "simulator", Endpoint: "http://user:secret@127.0.0.1:8090/x", Timeout: 3 * time.Second},
			"psp-b": {Kind: "stripe", ExcludeFromFailover: true},
		},
		Health: HealthFunc(func() []PSPHealth {
			return []PSPHealth{{PSP: "psp-a", Scope: "USD/visa", State: "down", Reason: "62% PSP errors"}, {PSP: "psp-a", State: "up"}}
		}),
	}
	s, err := New(testConfig(), nil, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.live.ObserveAttempt("psp-a", schemas.ClassPSPError, time.Millisecond)
	s.live.ObserveAttempt("psp-gone", schemas.ClassNone, time.Millisecond) // attempted, no longer configured
	var got PSPs
	if code := getJSON(t, s.Handler(), "/api/psps", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if !got.HealthTracked || len(got.PSPs) != 3 {
		t.Fatalf("got %+v", got)
	}
	a, b, gone := got.PSPs[0], got.PSPs[1], got.PSPs[2]
	if a.Name != "psp-a" || a.Endpoint != "http://127.0.0.1:8090/x" || a.TimeoutMs != 3000 || a.Kind != "simulator" {
		t.Errorf("psp-a = %+v (credentials in the endpoint must be dropped)", a)
	}
	if len(a.Health) != 2 || a.Health[0].Scope != "" || a.Health[1].State != "down" || a.Live.PSPErrors != 1 {
		t.Errorf("psp-a health/live = %+v / %+v", a.Health, a.Live)
	}
	if b.Name != "psp-b" || !b.ExcludeFromFailover || b.TimeoutMs != psp.DefaultTimeout.Milliseconds() || len(b.Health) != 0 || b.Live.WindowSeconds != 60 {
		t.Errorf("psp-b = %+v", b)
	}
	if gone.Name != "psp-gone" || gone.Live.Approved != 1 || gone.Kind != "" {
		t.Errorf("psp-gone = %+v", gone)
	}
}

func TestConfigAndExplainAPI(t *testing.T) {
	holder := testHolder(t, "v7")
	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t), Router: holder}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.flow.noteVersion(time.Unix(100, 0), "v6")
	var c ActiveConfig
	if code := getJSON(t, s.Handler(), "/api/config", &c); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if c.Version != "v7" || c.DefaultRoute != "cards" || len(c.Routes) != 1 || strings.Join(c.Routes[0].PSPs, ",") != "psp-a,psp-b" {
		t.Errorf("config %+v", c)
	}
	if len(c.Versions) != 2 || c.Versions[0].Version != "v6" || c.Versions[1].Version != "v7" {
		t.Errorf("versions %+v: want the one seen before and the current one", c.Versions)
	}
	if !strings.Contains(c.YAML, "version: v7") || !strings.Contains(c.YAML, "default_route: cards") {
		t.Errorf("yaml:\n%s", c.YAML)
	}

	ev := `{"payment_id":"p-1","merchant_id":"m","operation":"AUTHORIZE","amount_minor":100,"currency":"EUR",
		"payment_method":{"token":"tok","type":"card","network":"visa","bin":"411111","last4":"0004","expiry_month":1,"expiry_year":2031},
		"requested_at_ms":1}`
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/explain", strings.NewReader(ev)))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "psp-a") {
		t.Errorf("explain: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/api/explain", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/explain = %d, want 405", rec.Code)
	}

	// Without a router: no /api/config, no /api/explain.
	bare, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, bare.Handler(), "/api/config"); code != http.StatusNotFound {
		t.Errorf("/api/config without a router = %d", code)
	}
	if code, _ := get(t, bare.Handler(), "/api/explain?event={}"); code != http.StatusNotFound {
		t.Errorf("/api/explain without a router = %d", code)
	}
	var idx struct{ Endpoints []string }
	getJSON(t, s.Handler(), "/api", &idx)
	if !strings.Contains(strings.Join(idx.Endpoints, " "), "/api/explain") {
		t.Errorf("/api lists %v", idx.Endpoints)
	}
	var e map[string]string
	if code := getJSON(t, s.Handler(), "/api/nothing", &e); code != http.StatusNotFound || !strings.Contains(e["error"], "GET /api") {
		t.Errorf("unknown endpoint: %d %v", code, e)
	}
}

// TestConsoleIsSelfContained serves the console and checks that nothing in
// it refers to another origin: the only absolute URL allowed is the SVG
// namespace, which is a name, never fetched.
func TestConsoleIsSelfContained(t *testing.T) {
	s, err := New(testConfig(), nil, Sources{Cluster: embeddedCluster(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "payroute console") {
		t.Fatalf("GET / = %d", rec.Code)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	absolute := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err = fs.WalkDir(consoleFiles, "console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range absolute.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s: the console must load nothing from elsewhere", path, m)
			}
		}
		served := strings.TrimPrefix(path, "console")
		if served == "/index.html" {
			served = "/" // the file server redirects /index.html to /
		}
		code, _ := get(t, s.Handler(), served)
		if code != http.StatusOK {
			t.Errorf("%s is not served: %d", path, code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	cfg.Console = false
	off, err := New(cfg, nil, Sources{Cluster: embeddedCluster(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, off.Handler(), "/"); code != http.StatusNotFound {
		t.Errorf("console disabled, GET / = %d", code)
	}
	if code, _ := get(t, off.Handler(), "/healthz"); code != http.StatusOK {
		t.Errorf("console disabled, /healthz = %d", code)
	}
}
