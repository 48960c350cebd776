package main

import (
	"fmt"
	"os"

	"github.com/payroute/payroute/config"
)

func configCommand(args []string) error {
	fs := newFlagSet("config", "[--config FILE]")
	path := fs.String("config", "", "YAML configuration file to check")
	if err := fs.Parse(args); err != nil {
		return err
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
