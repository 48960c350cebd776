package chaos

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/config/tlstest"
)

var (
	longRun    = flag.Bool("chaos.long", false, "run the long chaos profile (100k payments, hundreds of faults; use -timeout 4h)")
	seed       = flag.Uint64("chaos.seed", 0, "seed of the chaos run (0: the profile's)")
	payments   = flag.Int("chaos.payments", 0, "number of payments of the chaos run (0: the profile's)")
	faultEvery = flag.Duration("chaos.fault-every", 0, "mean time between faults (0: the profile's)")
)

// runProfile runs p and fails on any violation, or when fewer than
// minKinds kinds of fault were injected (a run that proves little).
func runProfile(t *testing.T, p Profile, o Options, minKinds int) {
	t.Helper()
	if *seed != 0 {
		p.Seed = *seed
	}
	if *payments != 0 {
		p.Payments = *payments
	}
	if *faultEvery != 0 {
		p.FaultEvery = *faultEvery
	}
	o.Logf = t.Logf
	if testing.Verbose() && os.Getenv("CHAOS_LOG") != "" {
		o.Log = os.Stderr
	}
	timeout := 20 * time.Minute
	if d, ok := t.Deadline(); ok {
		timeout = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, err := Run(ctx, p, o)
	if rep != nil {
		t.Logf("\n%s", rep)
		if len(rep.Violations) > 0 || os.Getenv("CHAOS_FAULT_LOG") != "" {
			t.Logf("fault log:\n%s", joinLines(rep.FaultLog))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("%d violations (seed %d)", len(rep.Violations), p.Seed)
	}
	if len(rep.Faults) < minKinds {
		t.Fatalf("only %d kinds of fault were injected, want at least %d: the run proves little", len(rep.Faults), minKinds)
	}
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// TestChaos runs the short profile (or, with -chaos.long, the long one)
// and fails on any violation of the guarantees.
func TestChaos(t *testing.T) {
	p := ShortProfile()
	if *longRun || os.Getenv("CHAOS_LONG") != "" {
		p = LongProfile()
	}
	p.ClickHouse = clickhousetest.Addr(t)
	runProfile(t, p, Options{}, 8)
}

// TestChaosSecured runs a smaller profile with every Kafka client over TLS
// and SASL SCRAM-SHA-512, against a broker that requires both: processors,
// the sink, the harness's own clients, under the same faults. The scan also
// looks for the SASL password in every topic, log line (the configuration
// dump included) and table.
func TestChaosSecured(t *testing.T) {
	if *longRun {
		t.Skip("the long run is TestChaos")
	}
	p := ShortProfile()
	p.Name, p.Seed, p.Payments, p.Secure, p.FaultEvery = "short-secured", 2, 900, true, 600*time.Millisecond
	p.ClickHouse = clickhousetest.Addr(t)
	pki := tlstest.New(t)
	runProfile(t, p, Options{TLS: &TLSSetup{Server: pki.ServerConfig(true), Client: pki.Client(true)}}, 6)
}
