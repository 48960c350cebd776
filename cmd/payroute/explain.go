package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"

	"github.com/payroute/payroute/router"
)

// explainCommand is `payroute explain --config CONFIG --event EVENT.json`:
// it routes one PaymentRequested with the configuration's router, as the
// processor would, and prints which rule matched, why each earlier rule did
// not, and the ranked candidates; --json prints the router.Explanation. The
// admin HTTP port serves the same at /api/explain (router.ExplainHandler).
func explainCommand(args []string) error {
	fs := newFlagSet("explain", "--config FILE --event EVENT.json [--json]")
	cfgPath := fs.String("config", "", "YAML configuration file (defaults and PAYROUTE_* environment apply without one)")
	eventPath := fs.String("event", "", "the PaymentRequested as JSON, with its schema's field names; - reads standard input")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *eventPath == "" {
		fs.Usage()
		return errors.New("--event is required")
	}
	return explain(*cfgPath, *eventPath, *asJSON, os.Stdin, os.Stdout)
}

func explain(cfgPath, eventPath string, asJSON bool, stdin io.Reader, out io.Writer) error {
	cfg, err := LoadConfiguration(cfgPath)
	if err != nil {
		return err
	}
	names, opts := routerAccounts(cfg.PSPs)
	r, err := router.New(cfg.Router, names, opts...)
	if err != nil {
		return err
	}
	in := stdin
	if eventPath != "-" {
		f, err := os.Open(eventPath)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	req, err := router.DecodeEvent(in)
	if err != nil {
		return err
	}
	ex := r.Explain(req)
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	return ex.WriteText(out)
}
