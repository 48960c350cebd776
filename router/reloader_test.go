package router_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/payroute/payroute/router"
)

// SIGHUP makes a running payroute apply the file's new routing version;
// a file with a problem leaves the current version in force and says why.
func TestReloaderOnSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payroute.yaml")
	write := func(version, psp string) {
		t.Helper()
		doc := fmt.Sprintf("router:\n  version: %s\n  default_route: main\n  routes:\n    main: [{psp: %s}]\n", version, psp)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v1", "psp-a")
	cfg, err := router.LoadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(cfg, knownPSPs)
	if err != nil {
		t.Fatal(err)
	}
	h := router.NewHolder(r)
	var logs syncBuffer
	rl := router.NewReloader(h, path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := rl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rl.Stop(context.Background()) }()

	hup := func(want string) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", want, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write("v2", "psp-b")
	hup("from=v1 to=v2")
	if d, _ := h.Route(event()); d.ConfigVersion != "v2" || d.Candidates[0].PSP != "psp-b" {
		t.Fatalf("after SIGHUP: %+v, want version v2 routing to psp-b", d)
	}
	write("v3", "worldpay")
	hup(`unknown PSP \"worldpay\"`)
	if v := h.Current().Version(); v != "v2" {
		t.Fatalf("a file with an unknown PSP replaced the router: version %s", v)
	}
	if !strings.Contains(logs.String(), "the current version stays") {
		t.Errorf("the failed reload does not say the current version stays:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutine and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
