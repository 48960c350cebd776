package bench

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// peakEnv makes the test binary print ownPeakRSS and exit.
const peakEnv = "BENCH_TEST_PEAK_RSS"

// A child's peak RSS is its own, however much memory the process that
// started it holds: a worker started by a benchmark whose broker holds
// every record must not report the broker's memory as its own.
func TestOwnPeakRSSIsTheChilds(t *testing.T) {
	if ownPeakRSS() == 0 {
		t.Skip("no VmHWM in /proc/self/status on this system")
	}
	const ballast = 160 << 20
	b := make([]byte, ballast)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	if own := ownPeakRSS(); own < ballast {
		t.Fatalf("this process's peak %d bytes, below the %d it touched", own, ballast)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), peakEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	if child <= 0 || child >= ballast/2 {
		t.Fatalf("the child's own peak is %d bytes; the parent holds %d", child, ballast)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.Logf("child's own peak %d MiB; its rusage says %d MiB", child>>20, ru.Maxrss>>10)
	}
	b[len(b)-1] = 1
}
