package bench

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A system under test can run in a child process (Configuration.Worker),
// so that its CPU time and peak RSS are its own: in-process they include
// the embedded broker, which holds every record of the run in memory, the
// simulator, which keeps every payment it answered, and the load
// generator. The parent starts the child, writes the spec to its stdin
// (gob) and keeps stdin open; the child answers on stdout with a stream of
// workerMsg: Ready once it owns its partitions, Outputs about ten times a
// second, and Final with its measurements after the parent closed stdin
// (the signal to stop). The child's stderr is the parent's. The CPU time
// is then read from the child's rusage when it exits (wait4), which
// counts the child alone, start-up and shutdown included. The peak RSS
// the child reads itself once its system stopped (ownPeakRSS): on Linux
// the rusage's counts the parent's peak too.

// workerMsg is one message from a worker to its parent.
type workerMsg struct {
	Ready   bool
	Outputs int64
	Final   *outcome
	Err     string
}

// RunWorker is the child side (`payroute bench --worker`): it reads a spec
// from in, runs that system under test, reports to out, and stops when in
// is closed or ctx ends. It is not meant to be run by hand.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	var s spec
	if err := gob.NewDecoder(in).Decode(&s); err != nil {
		return fmt.Errorf("bench worker: reading the spec: %w", err)
	}
	enc := gob.NewEncoder(out)
	var limit string
	if s.Kind == kindProcessor {
		// As `payroute run` does: the process is payroute's alone.
		a, _ := s.Memory.Apply() // a limit that cannot be read is none, and says why
		limit = a.String()
	}
	sys, err := startSystem(ctx, s)
	if err != nil {
		_ = enc.Encode(workerMsg{Err: err.Error()})
		return err
	}
	if err := enc.Encode(workerMsg{Ready: true}); err != nil {
		_, _ = sys.Stop(context.Background())
		return err
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(stop)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if sys.Err() != nil {
				break loop
			}
			if err := enc.Encode(workerMsg{Outputs: sys.Outputs()}); err != nil {
				break loop
			}
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := sys.Stop(stopCtx)
	o.PeakRSS, o.MemoryLimit = ownPeakRSS(), limit
	msg := workerMsg{Final: &o}
	if err == nil {
		err = sys.Err()
	}
	if err != nil {
		msg.Err = err.Error()
	}
	if encErr := enc.Encode(msg); encErr != nil && err == nil {
		err = encErr
	}
	return err
}

// child is a system under test running in a child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	outputs atomic.Int64
	ready   chan struct{}
	ended   chan struct{} // the child's stdout closed

	mu    sync.Mutex
	final *outcome
	err   error
}

// startChild starts argv as a worker for s and waits until it is ready.
// stderr receives the child's stderr.
func startChild(ctx context.Context, argv []string, s spec, stderr io.Writer) (system, error) {
	if len(argv) == 0 {
		return nil, errors.New("bench: empty worker command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, errorf("starting worker %v: %w", argv, err)
	}
	c := &child{cmd: cmd, stdin: stdin, ready: make(chan struct{}), ended: make(chan struct{})}
	go c.read(stdout)
	if err := gob.NewEncoder(stdin).Encode(s); err != nil {
		c.kill()
		return nil, errorf("sending the spec to the worker: %w", err)
	}
	select {
	case <-c.ready:
		return c, nil
	case <-c.ended:
		c.kill()
		return nil, errorf("worker for %s failed to start: %v", s.Kind, c.Err())
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// read decodes the worker's messages until its stdout closes.
func (c *child) read(r io.Reader) {
	defer close(c.ended)
	dec := gob.NewDecoder(r)
	readyOnce := sync.Once{}
	for {
		var m workerMsg
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				c.setErr(fmt.Errorf("reading from the worker: %w", err))
			}
			return
		}
		if m.Err != "" {
			c.setErr(errors.New(m.Err))
		}
		if m.Ready {
			readyOnce.Do(func() { close(c.ready) })
		}
		if m.Final != nil {
			c.mu.Lock()
			c.final = m.Final
			c.mu.Unlock()
			c.outputs.Store(m.Final.Outputs)
		} else if m.Outputs > 0 {
			c.outputs.Store(m.Outputs)
		}
	}
}

func (c *child) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// Outputs is the count the worker last reported.
func (c *child) Outputs() int64 { return c.outputs.Load() }

// Err is the worker's error, or that it ended without stopping.
func (c *child) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	select {
	case <-c.ended:
		if c.final == nil {
			return errors.New("bench: the worker exited before it was stopped")
		}
	default:
	}
	return nil
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// Stop closes the worker's stdin, waits for its measurements and its
// exit, and adds its rusage.
func (c *child) Stop(ctx context.Context) (outcome, error) {
	_ = c.stdin.Close()
	select {
	case <-c.ended:
	case <-ctx.Done():
		c.kill()
		return outcome{}, ctx.Err()
	}
	waitErr := c.cmd.Wait()
	c.mu.Lock()
	final, err := c.final, c.err
	c.mu.Unlock()
	if final == nil {
		if err == nil {
			err = fmt.Errorf("bench: the worker sent no measurements (%v)", waitErr)
		}
		return outcome{}, err
	}
	o := *final
	if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		o.Usage = usageOf(ru)
	}
	if o.PeakRSS > 0 {
		o.Usage.MaxRSS = o.PeakRSS
	}
	o.Isolated = true
	if err == nil && waitErr != nil {
		err = fmt.Errorf("bench: worker: %w", waitErr)
	}
	return o, err
}
