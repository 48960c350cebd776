package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/router"
)

// rulesCommand is `payroute rules check CONFIG`: it checks the routing of a
// configuration file (unreachable and contradictory rules, unknown PSPs,
// routes and gateway sets, splits that do not sum to 100, ...) and prints
// every problem with its file line and rule. It exits non-zero when there
// is an error; warnings are printed but pass. The processor refuses to
// start on the same errors with the same messages (LoadConfiguration calls
// checkRouting).
func rulesCommand(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		rulesUsage(os.Stderr)
		if len(args) == 0 {
			return errors.New("missing subcommand")
		}
		return nil
	}
	switch args[0] {
	case "check":
		return rulesCheckCommand(args[1:], os.Stdout)
	}
	rulesUsage(os.Stderr)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func rulesUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: payroute rules check CONFIG

Checks the router section of the payroute configuration file CONFIG against
its PSP accounts and prints every problem as FILE:LINE: KEY (RULE): MESSAGE:
unreachable rules (shadowed by an earlier rule), contradictory conditions,
unknown PSPs, routes and gateway sets, splits that do not sum to 100, and
malformed rules. Exits 1 when there is an error; warnings do not fail.
`)
}

func rulesCheckCommand(args []string, out io.Writer) error {
	fs := newFlagSet("rules", "check CONFIG")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		rulesUsage(os.Stderr)
		return errors.New("check needs exactly one configuration file")
	}
	path := fs.Arg(0)
	cfg, problems, err := checkConfigFile(path, os.Environ())
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(out, p.Error())
	}
	if n := len(problems.Errors()); n > 0 {
		return fmt.Errorf("%s: %d error(s), %d warning(s)", path, n, len(problems.Warnings()))
	}
	r := cfg.Router
	fmt.Fprintf(out, "%s: version %s: %d rule(s), %d retry rule(s), %d route(s), %d gateway set(s): ok",
		path, r.Version, len(r.Rules), len(r.RetryRules), len(r.Routes), len(r.GatewaySets))
	if n := len(problems.Warnings()); n > 0 {
		fmt.Fprintf(out, " with %d warning(s)", n)
	}
	fmt.Fprintln(out)
	return nil
}

// checkConfigFile loads the configuration file at path as `run` does and
// checks its routing. Every problem is returned located at its file line:
// decoding errors carry it already; validation errors, which the loader
// reports by key only, are located here. err is for a file that cannot be
// read.
func checkConfigFile(path string, environ []string) (Configuration, router.Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Configuration{}, nil, err
	}
	src := router.NewSource(path, data)
	cfg := DefaultConfiguration()
	if err := config.LoadBytes(path, data, environ, &cfg); err != nil {
		return cfg, locate(src, err), nil
	}
	cfg.Router = cfg.Router.WithSource(src)
	names, opts := routerAccounts(cfg.PSPs)
	return cfg, router.Check(cfg.Router, names, opts...), nil
}

// locate turns the loader's errors into problems, adding the line of the
// key to those that have none.
func locate(src *router.Source, err error) router.Problems {
	var ps router.Problems
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if fe, ok := e.(config.FieldError); ok {
			ps = append(ps, router.Problem{Key: fe.Key, Msg: fe.Msg, File: src.File(), Line: src.Line(fe.Key)})
			return
		}
		ps = append(ps, router.Problem{Msg: e.Error()})
	}
	walk(err)
	return ps
}

// checkRouting checks the routing of a loaded configuration as New will,
// so that every command refuses a configuration the processor would refuse,
// with the same messages, located in the file at path when there is one.
func checkRouting(path string, cfg *Configuration) error {
	if path != "" {
		if data, err := os.ReadFile(path); err == nil {
			cfg.Router = cfg.Router.WithSource(router.NewSource(path, data))
		}
	}
	names, opts := routerAccounts(cfg.PSPs)
	return router.Check(cfg.Router, names, opts...).Err()
}

// routerAccounts is what the router needs from the PSP accounts: their
// names, and which are excluded from failover. It matches what
// router.Module reads from the registry built from the same accounts.
func routerAccounts(c psp.Configuration) ([]string, []router.Option) {
	names := make([]string, 0, len(c.Accounts))
	var excluded []string
	for name, a := range c.Accounts {
		names = append(names, name)
		if a.ExcludeFromFailover {
			excluded = append(excluded, name)
		}
	}
	sort.Strings(names)
	return names, []router.Option{router.ExcludeFromFailover(excluded...)}
}
