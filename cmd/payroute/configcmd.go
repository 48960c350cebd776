package main

import (
	"fmt"
	"os"

	"github.com/payroute/payroute/config"
)

func configCommand(args []string) error {
	fs := newFlagSet("config", "[--config FILE] | --reference")
	path := fs.String("config", "", "YAML configuration file to check")
	reference := fs.Bool("reference", false, "print the reference of every configuration key (Markdown: docs/configuration.md) and exit; reads the doc comments from payroute's source, so run it in a checkout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reference {
		return writeReference(os.Stdout)
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	out, err := config.Dump(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "configuration is valid\n")
	_, err = os.Stdout.Write(out)
	return err
}
