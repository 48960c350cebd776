// Command payroute is the one payroute binary: the payment processor, the
// demo, the PSP simulator and the analytics tools are its subcommands.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string) error
}

// commands is filled in init: its entries refer back to it for their usage.
var commands map[string]command

func init() {
	commands = map[string]command{
		"run":     {"run the payment processor (and the ClickHouse sink) until interrupted", runCommand},
		"demo":    {"run a self-contained demo: embedded Kafka, simulated PSPs with a primary outage, load, report", demoCommand},
		"psp-sim": {"serve simulated PSPs over HTTP", pspSimCommand},
		"bench":   {"measure throughput, added latency, CPU and memory against a Kafka pass-through ceiling", benchCommand},
		"report":  {"print per-PSP attempts, success and failover rates from ClickHouse", reportCommand},
		"migrate": {"apply the ClickHouse migrations", migrateCommand},
		"replay":  {"replay historical payments through a candidate routing configuration: projected share, success and cost per PSP next to actual", replayCommand},
		"config":  {"validate a configuration file and print the effective configuration (secrets redacted)", configCommand},
		"status":  {"print the health of every PSP (down, probing, healthy) from the psp.health topic", statusCommand},
		"rules":   {"check the routing rules of a configuration file: unreachable, contradictory, unknown PSPs", rulesCommand},
		"explain": {"explain how a payment event is routed: the matching rule, why earlier rules did not match", explainCommand},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `payroute routes payment events to ranked PSPs over Kafka, fails over when a
PSP fails, publishes one final result per payment, and streams every attempt
into ClickHouse.

Usage:
  payroute <command> [flags]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'payroute <command> --help' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "payroute: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		if err == flag.ErrHelp {
			return
		}
		fatalf("%s: %v", name, err)
	}
}

// newFlagSet is a subcommand's flag set with a usage line.
func newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: payroute %s %s\n\n%s.\n\nFlags:\n", name, args, commands[name].summary)
		fs.PrintDefaults()
	}
	return fs
}
