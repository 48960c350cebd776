package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payroute/payroute/schemas"
)

// The candidate file is a payroute configuration: its router routes with
// its own PSP accounts, and a mistake in it names the key.
func TestCandidateRouter(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "candidate.yaml")
	if err := os.WriteFile(good, []byte(`router:
  version: cand-1
  default_route: cards
  routes:
    cards:
      - {psp: psp-b}
      - {psp: psp-a}
psps:
  accounts:
    psp-a: {kind: simulator, endpoint: "http://127.0.0.1:8090"}
    psp-b: {kind: simulator, endpoint: "http://127.0.0.1:8090"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := candidateRouter(good)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Route(&schemas.PaymentRequested{PaymentID: "p1", MerchantID: "m-1", Operation: schemas.OpAuthorize,
		AmountMinor: 100, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if d.ConfigVersion != "cand-1" || len(d.Candidates) != 2 || d.Candidates[0].PSP != "psp-b" || d.Candidates[1].PSP != "psp-a" {
		t.Fatalf("decision %+v", d)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`router:
  default_route: cards
  routes:
    cards:
      - {psp: psp-z}
psps:
  accounts:
    psp-a: {kind: simulator, endpoint: "http://127.0.0.1:8090"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := candidateRouter(bad); err == nil || !strings.Contains(err.Error(), "psp-z") {
		t.Fatalf("unknown PSP in the candidate: %v", err)
	}
	if _, err := candidateRouter(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing candidate file was accepted")
	}
}

func TestReplayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--candidate is required"},
		{[]string{"--candidate", "x.yaml", "--source", "s3"}, "--source"},
		{[]string{"--candidate", "x.yaml", "--from", "yesterday"}, "--from"},
	} {
		err := replayCommand(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("replay %v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
