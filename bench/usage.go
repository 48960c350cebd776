package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is CPU time, from getrusage(2), and peak resident memory.
type usage struct {
	User, System time.Duration
	// MaxRSS is the peak resident set size in bytes (ownPeakRSS where
	// there is one). It is a high-water mark over the process's whole
	// life, so it cannot be taken as a difference: in-process it covers
	// everything the process did so far.
	MaxRSS int64
}

// CPU is user plus system time.
func (u usage) CPU() time.Duration { return u.User + u.System }

// since is the CPU time spent after before; MaxRSS stays the peak so far.
func (u usage) since(before usage) usage {
	return usage{User: u.User - before.User, System: u.System - before.System, MaxRSS: u.MaxRSS}
}

// processUsage is this process's usage so far (RUSAGE_SELF: every thread).
func processUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	u := usageOf(&ru)
	if peak := ownPeakRSS(); peak > 0 {
		u.MaxRSS = peak
	}
	return u
}

// ownPeakRSS is the peak resident memory of this process's program, in
// bytes: VmHWM of /proc/self/status, or 0 where there is none (not Linux).
//
// It is not ru_maxrss, which on Linux survives exec: the kernel folds the
// high-water mark of the memory a process leaves at exec into the
// process's maxrss (exec_mmap), and os/exec starts a child with
// CLONE_VM, so until its exec the child's memory is its parent's. A
// worker's ru_maxrss was therefore never below the peak its parent had
// reached when it started it: the benchmark's, whose embedded broker holds
// every record published. A worker that peaked at 160 MiB was reported at
// 328 MiB in `payroute bench --all`, and 1M-payment drains varied from 224
// to 408 MiB with the parent's peak. VmHWM starts from zero at exec.
func ownPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kib * 1024
	}
	return 0
}

// usageOf converts a rusage. Linux reports ru_maxrss in KiB.
func usageOf(ru *syscall.Rusage) usage {
	return usage{
		User:   time.Duration(ru.Utime.Nano()),
		System: time.Duration(ru.Stime.Nano()),
		MaxRSS: int64(ru.Maxrss) * 1024,
	}
}

// loadAverage is the machine's one-minute load average (/proc/loadavg), or
// -1 where there is none. Figures taken while other processes keep the
// CPUs busy are lower than the machine can do: the report says so.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
