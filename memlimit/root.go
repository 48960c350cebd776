// Package memlimit gives payroute's process a soft memory limit
// (runtime/debug.SetMemoryLimit), by default derived from the container's
// memory limit, the way automemlimit does.
//
// Without a limit the Go collector lets the heap grow to twice its live
// data (GOGC=100) before collecting. payroute's live data is small and
// steady (payments in flight, the index of final payments, fetched
// records), but a burst of garbage (a backlog drained at full speed, a
// partition restored) lifts the heap goal with it, and a container's limit
// knows nothing of GOGC: the kernel kills the process at its limit, however
// much of the heap was garbage. With a limit, the collector runs more often
// as the heap nears it, and returns freed memory to the system, so the
// process stays under it as long as its live data does; past it, it still
// grows (the collector then takes up to half the CPU), and the container's
// limit stops it.
//
// The limit in force comes from, first to last: the GOMEMLIMIT environment
// variable, which the Go runtime reads at start (payroute leaves it
// alone); memory.limit set to a size, or "off"; and memory.limit "auto",
// the default: memory.limit_ratio (0.9) of the container's limit, read
// from the cgroup file system (cgroup v2 memory.max, or v1
// memory.limit_in_bytes, the lowest of the process's cgroup and its
// ancestors). Where there is no container limit (a plain host, a container
// run without one) auto sets none, and the heap grows to twice its live
// data; payroute logs which it is at start.
package memlimit

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
)

// Applied is the limit in force and where it came from.
type Applied struct {
	// Bytes is the limit; 0 for none.
	Bytes int64
	// Source says where it came from: "GOMEMLIMIT", "memory.limit",
	// "90% of the container's 1GiB (/sys/fs/cgroup/memory.max)", or why
	// there is none.
	Source string
}

// String is "900MiB (GOMEMLIMIT)" or "none (no container memory limit)".
func (a Applied) String() string {
	if a.Bytes == 0 {
		return "none (" + a.Source + ")"
	}
	return Limit(a.Bytes).String() + " (" + a.Source + ")"
}

// Apply sets the process's soft memory limit as c says, and returns it.
// A container limit that cannot be read leaves no limit, and the error
// says why: the process can run without one.
func (c Configuration) Apply() (Applied, error) {
	a, err := c.resolve(os.Getenv("GOMEMLIMIT"), func() (int64, string, error) { return containerLimit("/") })
	switch {
	case a.Source == "GOMEMLIMIT":
		// The runtime applied it at start; read it back.
		if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
			a.Bytes = cur
		}
	case a.Bytes > 0:
		debug.SetMemoryLimit(a.Bytes)
	default:
		debug.SetMemoryLimit(math.MaxInt64)
	}
	return a, err
}

// resolve decides the limit from GOMEMLIMIT's value env and the
// container's limit (read only for auto).
func (c Configuration) resolve(env string, container func() (int64, string, error)) (Applied, error) {
	switch {
	case env != "":
		return Applied{Source: "GOMEMLIMIT"}, nil
	case c.Limit == Off:
		return Applied{Source: "memory.limit off"}, nil
	case c.Limit > 0:
		return Applied{Bytes: int64(c.Limit), Source: "memory.limit"}, nil
	}
	limit, file, err := container()
	if err != nil {
		return Applied{Source: "container memory limit unreadable"}, fmt.Errorf("memory.limit auto: %w", err)
	}
	if limit == 0 {
		return Applied{Source: "no container memory limit"}, nil
	}
	// Rounded down to a MiB, so that it reads as it is.
	bytes := int64(float64(limit)*c.LimitRatio) &^ (1<<20 - 1)
	return Applied{Bytes: bytes, Source: fmt.Sprintf("%.0f%% of the container's %s (%s)", 100*c.LimitRatio, Limit(limit), file)}, nil
}
