package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// TestStatusPrintsTheSharedPSPHealth takes a PSP down through a Tracker on
// an embedded broker and reads it back with `payroute status`, the way an
// operator would from another machine.
func TestStatusPrintsTheSharedPSPHealth(t *testing.T) {
	kcfg := kafka.DefaultConfiguration()
	e, err := kafka.NewEmbedded(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "payroute.yaml")
	if err := os.WriteFile(cfgPath, []byte("kafka:\n  brokers: ["+e.Addrs()[0]+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := status([]string{"--config", cfgPath}, &out); err != nil {
		t.Fatalf("status on an empty topic: %v", err)
	}
	if !strings.Contains(out.String(), "every PSP has been healthy") {
		t.Errorf("empty topic:\n%s", out.String())
	}

	cluster, err := kafka.NewCluster(kcfg, e)
	if err != nil {
		t.Fatal(err)
	}
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	hcfg := health.DefaultConfiguration()
	hcfg.InstanceID = "instance-1"
	tr, err := health.New(hcfg, health.WithKafka(cluster, serde), health.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		tr.Observe(health.Observation{PSP: "psp-a", Currency: "EUR", Network: "visa", Class: schemas.ClassPSPError})
	}
	if err := tr.Stop(ctx); err != nil { // flushes the transition
		t.Fatal(err)
	}

	out.Reset()
	if err := status([]string{"--config", cfgPath}, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("payroute status:\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "PSP ") {
		t.Fatalf("want a header and one line:\n%s", out.String())
	}
	for _, want := range []string{"psp-a", " * ", "DOWN", "100.0%", "instance-1", "20 PSP failures in a row"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}

	out.Reset()
	if err := status([]string{"--brokers", e.Addrs()[0], "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var recs []schemas.PspHealthChanged
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if len(recs) != 1 || recs[0].State != schemas.HealthDown || recs[0].PreviousState != schemas.HealthHealthy {
		t.Errorf("--json: %+v", recs)
	}
}

func TestStatusNeedsAKafkaToReadFrom(t *testing.T) {
	err := status(nil, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Fatalf("status without brokers: %v", err)
	}
}
