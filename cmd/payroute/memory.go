package main

import (
	"log/slog"

	"github.com/payroute/payroute/memlimit"
)

// applyMemoryLimit sets the process's soft memory limit as memory.limit
// says (by default from the container's limit) and logs which is in force,
// so an operator reading the start-up log knows whether the heap may grow
// to twice its live data. A container limit that cannot be read is a
// warning: the process runs, without a limit.
func applyMemoryLimit(c memlimit.Configuration, log *slog.Logger) memlimit.Applied {
	a, err := c.Apply()
	if err != nil {
		log.Warn("no memory limit: the container's cannot be read", "err", err)
	}
	log.Info("memory limit", "limit", a.String())
	return a
}
