package memlimit

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	container := func(limit int64) func() (int64, string, error) {
		return func() (int64, string, error) { return limit, "/sys/fs/cgroup/memory.max", nil }
	}
	unread := func() (int64, string, error) { return 0, "", errors.New("permission denied") }
	noCall := func() (int64, string, error) { t.Fatal("the container limit was read"); return 0, "", nil }
	auto := DefaultConfiguration()
	fixed := Configuration{Limit: 700 << 20, LimitRatio: 0.9}
	off := Configuration{Limit: Off, LimitRatio: 0.9}
	for _, tc := range []struct {
		name      string
		c         Configuration
		env       string
		container func() (int64, string, error)
		want      string
		wantErr   bool
	}{
		{"GOMEMLIMIT wins over a size", fixed, "500MiB", noCall, "none (GOMEMLIMIT)", false},
		{"GOMEMLIMIT wins over auto", auto, "off", noCall, "none (GOMEMLIMIT)", false},
		{"a size", fixed, "", noCall, "700MiB (memory.limit)", false},
		{"off", off, "", noCall, "none (memory.limit off)", false},
		{"auto in a 1 GiB container", auto, "", container(1 << 30), "921MiB (90% of the container's 1GiB (/sys/fs/cgroup/memory.max))", false},
		{"auto without a container limit", auto, "", container(0), "none (no container memory limit)", false},
		{"auto with an unreadable limit", auto, "", unread, "none (container memory limit unreadable)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.c.resolve(tc.env, tc.container)
			if a.String() != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("%s (%v), want %s", a, err, tc.want)
			}
		})
	}
}

// Apply sets the runtime's limit, and off removes it.
func TestApply(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	a, err := Configuration{Limit: 700 << 20, LimitRatio: 0.9}.Apply()
	if err != nil || a.Bytes != 700<<20 || debug.SetMemoryLimit(-1) != 700<<20 {
		t.Fatalf("applied %s (%v), runtime limit %d", a, err, debug.SetMemoryLimit(-1))
	}
	a, err = Configuration{Limit: Off, LimitRatio: 0.9}.Apply()
	if err != nil || a.Bytes != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("applied %s (%v), runtime limit %d", a, err, debug.SetMemoryLimit(-1))
	}
	// GOMEMLIMIT is read back, not set.
	t.Setenv("GOMEMLIMIT", "600MiB")
	debug.SetMemoryLimit(600 << 20)
	a, err = Configuration{Limit: 700 << 20, LimitRatio: 0.9}.Apply()
	if err != nil || a.String() != "600MiB (GOMEMLIMIT)" || debug.SetMemoryLimit(-1) != 600<<20 {
		t.Fatalf("applied %s (%v), runtime limit %d", a, err, debug.SetMemoryLimit(-1))
	}
}
