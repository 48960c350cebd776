package router

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Reloader applies a new routing configuration version to a running
// payroute: on SIGHUP it reads the router section of the configuration file
// again and swaps it into the Holder (Holder.Reload). A file with a problem
// changes nothing: the current version stays, and the log lists every
// problem at its file line. Payments in flight keep the version they
// started with; new payments get the new one.
//
// Each instance reloads its own file, so a fleet runs two versions while a
// change rolls out (every decision, attempt and result names its
// version). Only the router section is reloaded: PSP accounts, topics and
// the rest need a restart.
type Reloader struct {
	holder *Holder
	path   string
	log    *slog.Logger

	mu   sync.Mutex
	sig  chan os.Signal
	done chan struct{}
}

// NewReloader reloads holder from the configuration file at path.
func NewReloader(holder *Holder, path string, log *slog.Logger) *Reloader {
	return &Reloader{holder: holder, path: path, log: log}
}

// Reload reads the file and swaps the configuration in, logging the
// outcome; the error is Holder.Reload's.
func (r *Reloader) Reload() error {
	before := r.holder.Current().Version()
	if err := r.holder.Reload(r.path); err != nil {
		r.log.Error("routing configuration not reloaded: the current version stays", "version", before, "file", r.path, "err", err)
		return err
	}
	if after := r.holder.Current().Version(); after != before {
		r.log.Info("routing configuration reloaded", "from", before, "to", after, "file", r.path)
	} else {
		r.log.Info("routing configuration reloaded: unchanged", "version", after, "file", r.path)
	}
	return nil
}

// Start listens for SIGHUP in a goroutine until Stop.
func (r *Reloader) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sig != nil {
		return nil
	}
	r.sig, r.done = make(chan os.Signal, 1), make(chan struct{})
	signal.Notify(r.sig, syscall.SIGHUP)
	go func(sig <-chan os.Signal, done chan<- struct{}) {
		defer close(done)
		for range sig {
			_ = r.Reload()
		}
	}(r.sig, r.done)
	return nil
}

// Stop stops listening and waits for a reload under way.
func (r *Reloader) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sig == nil {
		return nil
	}
	signal.Stop(r.sig)
	close(r.sig)
	<-r.done
	r.sig = nil
	return nil
}
