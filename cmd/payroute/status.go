package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payroute/payroute/health"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

func statusCommand(args []string) error { return status(args, os.Stdout) }

// status prints the health of every PSP scope as the psp.health topic holds
// it: the state every instance converges on and a new instance starts from.
// It reads the topic only, so it works from any machine that reaches Kafka,
// whether or not payroute runs there.
func status(args []string, w io.Writer) error {
	fs := newFlagSet("status", "[--config FILE] [--brokers HOST:PORT,...] [--json]")
	path := fs.String("config", "", "YAML configuration file; its kafka and schemas sections are used")
	brokers := fs.String("brokers", "", "Kafka brokers to read from, comma-separated; default: kafka.brokers, or the embedded broker at 127.0.0.1:<kafka.embedded.port> of a running payroute")
	asJSON := fs.Bool("json", false, "print the PspHealthChanged records as a JSON array")
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading the topic after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	kcfg := cfg.Kafka
	switch {
	case *brokers != "":
		kcfg.Brokers = strings.Split(*brokers, ",")
	case len(kcfg.Brokers) == 0 && kcfg.Embedded.Port != 0:
		kcfg.Brokers = []string{"127.0.0.1:" + strconv.Itoa(kcfg.Embedded.Port)}
	case len(kcfg.Brokers) == 0:
		return errors.New("no Kafka to read from: set kafka.brokers, kafka.embedded.port (the port of a running payroute's embedded broker) or --brokers")
	}
	cluster, err := kafka.NewCluster(kcfg, nil)
	if err != nil {
		return err
	}
	serde, err := schemas.New(cfg.Schemas)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	recs, skipped, err := health.Load(ctx, cluster, serde)
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "payroute: status: skipped %d unreadable records on %s\n", skipped, cluster.Topics().Health)
	}
	if *asJSON {
		if recs == nil {
			recs = []schemas.PspHealthChanged{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	return writeStatus(w, recs, cluster.Topics().Health)
}

// writeStatus prints one line per PSP scope. A scope with no record has
// never left HEALTHY.
func writeStatus(w io.Writer, recs []schemas.PspHealthChanged, topic string) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintf(w, "no transitions on %s: every PSP has been healthy\n", topic)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PSP\tSCOPE\tSTATE\tSINCE\tFAILURE RATE\tCALLS\tDECIDED BY\tREASON")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f%%\t%d\t%s\t%s\n", r.PSP, r.Scope, r.State,
			time.UnixMilli(r.ChangedAtMs).UTC().Format(time.RFC3339), 100*r.FailureRate, r.WindowCalls, r.InstanceID, r.Reason)
	}
	return tw.Flush()
}
