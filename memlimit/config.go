package memlimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/payroute/payroute/config"
)

// Configuration sets the process's soft memory limit.
type Configuration struct {
	// Limit is the soft memory limit of the Go runtime
	// (runtime/debug.SetMemoryLimit): near it the garbage collector works
	// harder instead of letting the heap grow to twice its live data, so a
	// peak of garbage (a backlog drained, a partition restored) costs CPU
	// rather than memory. It is not a cap: live data beyond it still
	// grows, the collector then spending up to half the CPU. "auto" takes
	// limit_ratio of the container's memory limit (cgroup v2 memory.max,
	// or v1 memory.limit_in_bytes, the smallest on the way up the
	// hierarchy), and sets none where there is no container limit: the
	// heap then grows to twice its live data (GOGC). "off" sets none. A
	// size in GOMEMLIMIT's syntax ("900MiB", "1GiB", bytes) sets that. The
	// GOMEMLIMIT environment variable, where set, wins over this key.
	Limit Limit `yaml:"limit"`
	// LimitRatio is the share of the container's memory limit that "auto"
	// takes. The rest is for memory the Go runtime does not count (the
	// binary's code, thread stacks of the system) and for the collector to
	// catch up before the kernel kills the process at the container's
	// limit.
	LimitRatio float64 `yaml:"limit_ratio"`
}

// DefaultConfiguration derives the limit from the container's.
func DefaultConfiguration() Configuration {
	return Configuration{Limit: Auto, LimitRatio: 0.9}
}

// minLimit is the smallest limit accepted: below it the collector would
// run most of the time for the memory the process needs just to start.
const minLimit = 32 << 20

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Limit > 0 && c.Limit < minLimit {
		errs = append(errs, config.Errorf("limit", "must be auto, off or at least 32MiB, got %s", c.Limit))
	}
	if c.Limit < Auto {
		errs = append(errs, config.Errorf("limit", "must be auto, off or a size"))
	}
	if !(c.LimitRatio > 0 && c.LimitRatio <= 1) {
		errs = append(errs, config.Errorf("limit_ratio", "must be within (0, 1], got %v", c.LimitRatio))
	}
	return errors.Join(errs...)
}

// Limit is a memory limit setting: Auto, Off, or a size in bytes.
type Limit int64

const (
	// Auto derives the limit from the container's.
	Auto Limit = -1
	// Off sets no limit.
	Off Limit = 0
)

// units are GOMEMLIMIT's suffixes, largest first.
var units = []struct {
	suffix string
	bytes  int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// String is "auto", "off", or the size in the largest unit that writes it
// whole ("900MiB").
func (l Limit) String() string {
	switch {
	case l == Auto:
		return "auto"
	case l == Off:
		return "off"
	case l < 0:
		return fmt.Sprintf("invalid(%d)", int64(l))
	}
	for _, u := range units {
		if int64(l)%u.bytes == 0 {
			return strconv.FormatInt(int64(l)/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(l), 10) + "B"
}

// MarshalText writes String, so configuration dumps load back.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads "auto", "off", or a size as GOMEMLIMIT takes it: a
// whole number of bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func (l *Limit) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch s {
	case "auto":
		*l = Auto
		return nil
	case "off":
		*l = Off
		return nil
	}
	mult := int64(1)
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/mult {
		return fmt.Errorf("%q is not auto, off or a size such as 900MiB or 1GiB", s)
	}
	*l = Limit(n * mult)
	return nil
}
