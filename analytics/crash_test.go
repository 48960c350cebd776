package analytics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// The crash test runs sinks as child processes (this test binary, re-run
// with childSink set) so that it can kill them for real, at any instruction:
// in the middle of an insert, between an insert and its offset commit,
// between two tables of one flush.
const (
	childSink    = "ANALYTICS_TEST_CHILD_SINK"   // set: run a sink, not the tests
	childBroker  = "ANALYTICS_TEST_CHILD_BROKER" // Kafka seed
	childCH      = "ANALYTICS_TEST_CHILD_CH"     // ClickHouse address
	childDB      = "ANALYTICS_TEST_CHILD_DB"     // database
	childGroup   = "ANALYTICS_TEST_CHILD_GROUP"  // consumer group
	childCrashAt = "ANALYTICS_TEST_CHILD_CRASH"  // "<hook point>:<n>": exit(3) the n-th time
)

func TestMain(m *testing.M) {
	if os.Getenv(childSink) != "" {
		os.Exit(runChildSink())
	}
	os.Exit(m.Run())
}

// runChildSink runs a sink until SIGTERM (a clean stop) or death.
func runChildSink() int {
	level := slog.LevelWarn
	if os.Getenv("ANALYTICS_TEST_CHILD_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	kcfg := kafka.DefaultConfiguration()
	kcfg.Brokers = []string{os.Getenv(childBroker)}
	kcfg.Partitions = 3
	cluster, err := kafka.NewCluster(kcfg, nil)
	if err != nil {
		log.Error("child", "err", err)
		return 1
	}
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		log.Error("child", "err", err)
		return 1
	}
	cfg := DefaultConfiguration()
	cfg.ClickHouse.Addr = os.Getenv(childCH)
	cfg.ClickHouse.Database = os.Getenv(childDB)
	cfg.Group = os.Getenv(childGroup)
	cfg.BatchSize = 40
	cfg.FlushInterval = 50 * time.Millisecond
	s, err := New(cfg, cluster, serde, log)
	if err != nil {
		log.Error("child", "err", err)
		return 1
	}
	s.retryInitial, s.retryMax = 20*time.Millisecond, 200*time.Millisecond
	// A dead member's partitions move on after a second.
	s.clientOpts = []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.RebalanceTimeout(2 * time.Second),
		kgo.HeartbeatInterval(100 * time.Millisecond)}
	if spec := os.Getenv(childCrashAt); spec != "" {
		i := strings.LastIndex(spec, ":")
		point := spec[:i]
		n, _ := strconv.Atoi(spec[i+1:])
		var mu sync.Mutex
		s.testHook = func(p string) error {
			mu.Lock()
			defer mu.Unlock()
			if p == point {
				if n--; n <= 0 {
					fmt.Fprintf(os.Stderr, "child: crashing at %s\n", p)
					os.Exit(3)
				}
			}
			return nil
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	if err := s.Start(context.Background()); err != nil {
		log.Error("child", "err", err)
		return 1
	}
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		log.Error("child stop", "err", err)
		return 1
	}
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "child: stopped cleanly: %+v\n", st)
	return 0
}

// child is a running child sink.
type child struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startChild(t *testing.T, e *env, cfg Configuration, crashAt string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childSink+"=1",
		childBroker+"="+e.cluster.Seeds()[0],
		childCH+"="+cfg.ClickHouse.Addr,
		childDB+"="+cfg.ClickHouse.Database,
		childGroup+"="+cfg.Group,
		childCrashAt+"="+crashAt,
	)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits for the child to end, killing it after timeout, and returns
// its exit code (-1 when killed by a signal).
func (c *child) wait(timeout time.Duration) int {
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return c.cmd.ProcessState.ExitCode()
}

// Sinks are killed (SIGKILL) at random moments and crash at the points
// where a crash is most dangerous (right after an insert, before the Kafka
// commit; between the tables of one flush), over and over while events
// keep arriving; then a last sink catches up. ClickHouse then holds every
// event exactly once: raw rows, the offsets of every partition, and the
// aggregates kept by the materialized views, which would count any record
// inserted twice.
func TestSinkKilledAtRandomPointsLoadsExactlyOnce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs sinks as child processes")
	}
	cfg := testConfig(t)
	e := newEnv(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	c := openTest(t, cfg)
	w := newWorld(11, 600, base)
	events := w.events()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	// A first part is there from the start, so that the first child has
	// something to load and crashes between an insert and its commit
	// however slow the machine is; the rest arrives in small chunks for
	// several seconds.
	head := len(events) / 10
	e.publish(t, events[:head]...)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := head; i < len(events); i += 15 {
			if err := e.produce(events[i:min(i+15, len(events))]...); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(70 * time.Millisecond)
		}
	}()

	modes := []string{"committing:1", "kill", "inserted:attempts:1", "kill", "inserted:payments:2", "committing:3", "kill", "inserted:requests:1"}
	exits := map[string]int{}
rounds:
	for round := 0; ; round++ {
		select {
		case <-published:
			if round >= len(modes) {
				break rounds
			}
		default:
		}
		mode := modes[round%len(modes)]
		started := time.Now()
		var ch *child
		switch mode {
		case "kill":
			ch = startChild(t, e, cfg, "")
			time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
			_ = ch.cmd.Process.Kill()
		default:
			ch = startChild(t, e, cfg, mode)
		}
		// A child waiting for a crash point may find nothing left to load
		// once the events have all been published: it is killed instead.
		// The first one always has something.
		timeout := 8 * time.Second
		if round == 0 {
			timeout = 2 * time.Minute
		}
		code := ch.wait(timeout)
		exits[fmt.Sprintf("%s exit %d", mode, code)]++
		if code != 3 && code != -1 {
			t.Fatalf("round %d (%s): child exited %d:\n%s", round, mode, code, ch.out.String())
		}
		if testing.Verbose() {
			t.Logf("round %d (%s): exit %d after %s\n%s", round, mode, code, time.Since(started).Round(time.Millisecond), ch.out.String())
		}
	}
	t.Logf("children: %v", exits)
	if exits["committing:1 exit 3"] == 0 {
		t.Fatalf("no child crashed between an insert and its commit: %v", exits)
	}

	// The last sink runs until the group has committed every record.
	last := startChild(t, e, cfg, "")
	adm := kadm.NewClient(e.producer)
	topics := []string{e.cluster.Topics().Attempts, e.cluster.Topics().Results, e.cluster.Topics().Requested}
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the last sink to commit every record", func() bool {
		committed, err := adm.FetchOffsets(ctx, cfg.Group)
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if c, ok := committed.Lookup(o.Topic, o.Partition); !ok || c.At != o.Offset {
				done = false
			}
		})
		return done
	})
	if err := last.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := last.wait(30 * time.Second); code != 0 {
		t.Fatalf("last sink exited %d:\n%s", code, last.out.String())
	}
	t.Logf("last sink: %s", strings.TrimSpace(last.out.String()))

	// Raw rows: one per record, none twice.
	valid := 0
	for _, r := range w.requests {
		if !w.invalid[r.PaymentID] {
			valid++
		}
	}
	for tbl, want := range map[string]int{"attempts": len(w.attempts), "payments": len(w.results), "requests": valid} {
		n := count(t, c, "SELECT count() FROM "+c.table(tbl))
		distinct := count(t, c, "SELECT uniqExact(source_topic, source_partition, source_offset) FROM "+c.table(tbl))
		if n != uint64(want) || distinct != n {
			t.Errorf("%s: %d rows (%d distinct records), want %d", tbl, n, distinct, want)
		}
	}
	// ClickHouse knows it holds every record of the attempts and results
	// partitions (all of them valid).
	held, err := loadedOffsets(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == e.cluster.Topics().Requested || o.Offset == 0 {
			return
		}
		if got := held[partition{o.Topic, o.Partition}]; got != o.Offset-1 {
			t.Errorf("%s/%d: ClickHouse holds up to offset %d, the partition ends at %d", o.Topic, o.Partition, got, o.Offset-1)
		}
	})
	// The aggregates saw every event exactly once.
	for _, name := range []string{"success_rate", "recovery_by_hop", "rule_hits", "cost_per_approved"} {
		res, err := RunQuery(ctx, c, name, ReportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := packTruth[name]
		compareTables(t, resultTable(t, res, spec.keys), spec.truth(w, scopeOf(ReportOptions{})))
	}
	if t.Failed() {
		_, _ = io.WriteString(os.Stderr, "children: see -v for their logs\n")
	}
}
