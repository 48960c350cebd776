package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is CPU time and peak resident memory, from getrusage(2).
type usage struct {
	User, System time.Duration
	// MaxRSS is the peak resident set size in bytes. It is a high-water
	// mark over the process's whole life, so it cannot be taken as a
	// difference: in-process it covers everything the process did so far.
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
	return usageOf(&ru)
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
