package router_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/payroute/payroute/router"
)

// SIGHUP makes a running payroute apply the file's new routing version; a
// file with a problem leaves the current version in force.
func TestReloaderOnSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroute.yaml")
	h := holderFromFile(t, path, "v1", "psp-a")
	rl := router.NewReloader(h, path, slog.New(slog.DiscardHandler))
	if err := rl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rl.Stop(context.Background()) }()

	writeRouting(t, path, "v2", "psp-b")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Current().Version() != "v2" {
		if time.Now().After(deadline) {
			t.Fatalf("still version %s 10 s after SIGHUP, want v2", h.Current().Version())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d, _ := h.Route(event()); d.ConfigVersion != "v2" || d.Candidates[0].PSP != "psp-b" {
		t.Fatalf("after SIGHUP: %+v, want version v2 routing to psp-b", d)
	}

	// What a SIGHUP runs, with its error: a file with a problem changes
	// nothing.
	writeRouting(t, path, "v3", "worldpay")
	if err := rl.Reload(); err == nil || !strings.Contains(err.Error(), `unknown PSP "worldpay"`) {
		t.Fatalf("Reload of a file naming an unknown PSP: %v", err)
	}
	if v := h.Current().Version(); v != "v2" {
		t.Fatalf("a file with an unknown PSP replaced the router: version %s", v)
	}
}
