package bench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/payroute/payroute/memlimit"
)

// SystemReport is what one system under test did.
type SystemReport struct {
	// Name is "processor" (payroute), "pass-through" or "pass-through-txn".
	Name string
	// Outputs are the records it made visible; Span the time from its first
	// input fetched to its last output visible; Rate their quotient.
	Outputs int64
	Span    time.Duration
	Rate    float64
	// PublishRate is how fast its input was published while it ran (0 for
	// a backlog). A Rate close to it means the publisher was the limit.
	PublishRate float64
	// CPU is user plus system time and PeakRSS the peak resident memory in
	// bytes: the system's own when Isolated (a child process), else this
	// process's (broker, simulator and publisher included).
	CPU      time.Duration
	PeakRSS  int64
	Isolated bool
	// HostCPU is this process's CPU time during an isolated run: the
	// broker, the simulator and the publisher.
	HostCPU time.Duration
	// MemoryLimit is the soft memory limit payroute's worker ran with and
	// where it came from ("none (no container memory limit)"); "" when
	// none was applied (in-process, pass-throughs).
	MemoryLimit string
	// Transactions are EndTxn round trips, Aborted the ones that aborted.
	Transactions, Aborted int64
}

// CPUPer1k is CPU seconds per 1,000 outputs.
func (s SystemReport) CPUPer1k() float64 {
	if s.Outputs == 0 {
		return 0
	}
	return s.CPU.Seconds() / float64(s.Outputs) * 1000
}

// Report is the outcome of one scenario.
type Report struct {
	Configuration Configuration
	Profile       Profile
	// Processor is payroute; PassThrough and PassThroughTxn the ceilings
	// (nil unless Configuration.PassThrough).
	Processor                   SystemReport
	PassThrough, PassThroughTxn *SystemReport
	// BacklogRate is how fast the backlog was published.
	BacklogRate float64
	// Latency is the latency payroute added (see the package
	// documentation); TopicLatency the same from the topics' millisecond
	// timestamps (paced runs with Verify).
	Latency      Latency
	TopicLatency *Latency
	// Phases split Latency into where it was spent. Latency and Phases
	// are not measured in a backlog run (see spec.Stamped).
	Phases *Phases
	// WhilePublishing is, for a run whose load was published while it ran,
	// the payments per second whose results became visible from the first
	// record published to the last: what payroute sustained
	// with the publisher competing for the CPUs. Processor.Rate also counts
	// the drain of what it fell behind by, after publishing ended, and so
	// can overstate it. 0 for a backlog.
	WhilePublishing float64
	// PSPMean is the mean PSP call as payroute timed it, round trip to
	// the simulator included, over PSPCalls calls.
	PSPMean  time.Duration
	PSPCalls int64
	// Verification is what reading the results back found (with Verify).
	Verification *Verification
	// CPUs is the number of CPUs; LoadStart and LoadEnd the machine's
	// one-minute load average when the scenario started and ended (-1:
	// unknown). A load above CPUs means other processes took CPU time
	// from the run.
	CPUs               int
	LoadStart, LoadEnd float64
}

// Ratio is payroute's rate as a share of the plain pass-through's, or 0
// without one.
func (r *Report) Ratio() float64 {
	if r.PassThrough == nil || r.PassThrough.Rate == 0 {
		return 0
	}
	return r.Processor.Rate / r.PassThrough.Rate
}

// LittleBound is the most payments per second InFlight calls at the
// profile's mean latency can carry (Little's law), or 0 for the instant
// profile, which has no such bound.
func (r *Report) LittleBound() float64 {
	if r.Profile.Mean <= 0 {
		return 0
	}
	return float64(r.Configuration.InFlight) / r.Profile.Mean.Seconds()
}

// BoundShare is payroute's rate as a share of LittleBound, or 0.
func (r *Report) BoundShare() float64 {
	b := r.LittleBound()
	if b == 0 {
		return 0
	}
	return r.Processor.Rate / b
}

// SlotsBusy is the mean number of PSP calls under way during payroute's
// run as a share of InFlight (Little's law on the calls payroute timed:
// calls x mean duration / span), or 0 without timed calls. With one call
// per payment (no failover, no status inquiry: the benchmark's PSPs
// approve everything), throughput is SlotsBusy x InFlight / the PSP's
// latency as seen, so it splits a share of LittleBound below 1 into what
// payroute controls (slots left idle: this figure below 1) and what it
// does not (calls slower than the profile's mean: the round trip to the
// simulator, a loaded machine).
func (r *Report) SlotsBusy() float64 {
	if r.PSPCalls == 0 || r.Processor.Span <= 0 || r.Configuration.InFlight <= 0 {
		return 0
	}
	busy := float64(r.PSPCalls) * r.PSPMean.Seconds() / r.Processor.Span.Seconds()
	return busy / float64(r.Configuration.InFlight)
}

// Write prints the report.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	c := r.Configuration
	fmt.Fprintf(&b, "scenario: psp %s — %s\n", c.PSP, r.Profile.Description)
	fmt.Fprintf(&b, "          PSP transport: %s\n", transportLine(r.Profile.Transport))
	fmt.Fprintf(&b, "          %d payments, %d partitions, %d in flight, ", c.Payments, c.Partitions, c.InFlight)
	switch {
	case c.Backlog:
		fmt.Fprintf(&b, "drained from a backlog published beforehand (at %.0f/s)\n", r.BacklogRate)
	case c.Rate > 0:
		fmt.Fprintf(&b, "published at %.0f/s while running\n", c.Rate)
	default:
		fmt.Fprintf(&b, "published as fast as the broker takes them while running\n")
	}
	b.WriteString("\n")
	rows := [][]string{{"system", "payments/s", "span", "CPU s/1k", "peak RSS", "txns", "aborted", "input"}}
	for _, s := range []*SystemReport{r.PassThrough, r.PassThroughTxn, &r.Processor} {
		if s == nil {
			continue
		}
		name := s.Name
		if name == kindProcessor {
			name = "payroute"
		}
		pub := "published beforehand"
		if s.PublishRate > 0 {
			pub = fmt.Sprintf("published at %.0f/s", s.PublishRate)
		}
		rows = append(rows, []string{name, fmt.Sprintf("%.0f", s.Rate), fmt.Sprintf("%.2fs", s.Span.Seconds()),
			fmt.Sprintf("%.3f", s.CPUPer1k()), mib(s.PeakRSS), fmt.Sprint(s.Transactions), fmt.Sprint(s.Aborted), pub})
	}
	writeTable(&b, rows, 1)
	b.WriteString("\n")
	if ratio := r.Ratio(); ratio > 0 {
		fmt.Fprintf(&b, "payroute / plain pass-through: %.1f%%", 100*ratio)
		if r.PassThroughTxn != nil && r.PassThroughTxn.Rate > 0 {
			fmt.Fprintf(&b, " (/ transactional pass-through: %.1f%%)", 100*r.Processor.Rate/r.PassThroughTxn.Rate)
		}
		b.WriteString("\n")
	}
	if r.WhilePublishing > 0 && c.Rate > 0 {
		fmt.Fprintf(&b, "sustained while publishing at %.0f/s: %.0f/s (results visible by the end of publishing, per second of publishing)\n", c.Rate, r.WhilePublishing)
	}
	if bound := r.LittleBound(); bound > 0 {
		fmt.Fprintf(&b, "Little's law bound: %d in flight / %s mean PSP latency = %.0f/s; payroute reached %.1f%% of it\n",
			c.InFlight, r.Profile.Mean, bound, 100*r.BoundShare())
	}
	if r.PSPCalls > 0 {
		fmt.Fprintf(&b, "PSP calls as payroute timed them (the %s round trip to the simulator included): %d, mean %s\n",
			r.Profile.Transport, r.PSPCalls, r.PSPMean.Round(time.Microsecond))
		if busy := r.SlotsBusy(); r.LittleBound() > 0 && busy > 0 {
			fmt.Fprintf(&b, "  calls under way, on average: %.0f of %d (%.1f%% of the slots busy; the rest of the gap to the bound is calls slower than the profile's %s)\n",
				busy*float64(c.InFlight), c.InFlight, 100*busy, r.Profile.Mean)
		}
	}
	if l := r.Latency; l.Samples > 0 {
		fmt.Fprintf(&b, "latency added by payroute (publish ack → result committed, minus PSP calls; µs clock): p50 %s  p90 %s  p99 %s  max %s  (%d payments)\n",
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.Samples)
		if c.Rate == 0 {
			b.WriteString("  (not paced: at saturation this is mostly time queued in the topic, not processing)\n")
		}
		if p := r.Phases; p != nil {
			fmt.Fprintf(&b, "  where: ack → fetched p50 %s p99 %s; fetched → PSP call p50 %s p99 %s; PSP answer → result committed p50 %s p99 %s\n",
				ms(p.Fetch.P50), ms(p.Fetch.P99), ms(p.BeforeCall.P50), ms(p.BeforeCall.P99), ms(p.AfterCall.P50), ms(p.AfterCall.P99))
		}
	} else if c.Backlog {
		b.WriteString("latency: not measured when draining a backlog (every payment waits in the topic; per-payment stamps would weigh in the peak RSS)\n")
	}
	if l := r.TopicLatency; l != nil && l.Samples > 0 {
		fmt.Fprintf(&b, "  cross-check from topic timestamps and latency_ms (ms resolution, commit excluded): p50 %s  p99 %s\n", ms(l.P50), ms(l.P99))
	}
	if r.Processor.Isolated {
		host := "the broker, simulator and publisher"
		if r.Profile.Transport == TransportInProcess {
			host = "the broker and publisher"
		}
		fmt.Fprintf(&b, "CPU and peak RSS: each system in its own child process, its figures alone; %s used %.2f CPU s during payroute's run\n",
			host, r.Processor.HostCPU.Seconds())
		if l := r.Processor.MemoryLimit; l != "" {
			fmt.Fprintf(&b, "  payroute's soft memory limit: %s; memory.limit %s%s\n", l, c.MemoryLimit, limitOrigin(c.MemoryLimit))
		}
		if per := r.Processor.CPUPer1k(); per > 0 {
			fmt.Fprintf(&b, "  at %.3f CPU s per 1,000 payments, payroute alone would carry about %.0f payments/s per CPU it had to itself (broker and PSPs elsewhere)\n",
				per, 1000/per)
			if r.Profile.Transport == TransportInProcess {
				b.WriteString("  (its figures include the in-process simulator: its handler's CPU, and its memory of every payment it answered)\n")
			}
		}
	} else {
		b.WriteString("CPU and peak RSS: in-process totals — the embedded broker (every record in memory), the simulator and the publisher are included\n")
	}
	if r.PassThrough != nil {
		b.WriteString("the pass-throughs drain records published before they start, so the publisher never limits the ceiling\n")
	}
	b.WriteString(machineLine(r.CPUs, r.LoadStart, r.LoadEnd))
	if v := r.Verification; v != nil {
		state := "OK"
		if !v.OK(c.Payments) {
			state = "MISMATCH"
		}
		fmt.Fprintf(&b, "read back: %d results for %d payments, %d with more than one, %d approved — %s\n",
			v.Results, v.Payments, v.Duplicates, v.Approved, state)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// limitOrigin says whether memory.limit was payroute's default.
func limitOrigin(l memlimit.Limit) string {
	if l == memlimit.DefaultConfiguration().Limit {
		return ", payroute's default"
	}
	return ", set for this run (--memory-limit)"
}

// transportLine says plainly how payroute reached its PSP.
func transportLine(transport string) string {
	switch transport {
	case TransportInProcess:
		return "in-process — the simulator runs in payroute's process and every attempt goes through the connector " +
			"(JSON request and answer) to its handler with no socket (simulator.Server.Transport); " +
			"--psp instant-http measures the same PSP over loopback HTTP"
	case TransportHTTP:
		return "loopback HTTP — every attempt is an HTTP round trip to the simulator in the benchmark's process, " +
			"part of the measured system (payroute's side in its figures, the simulator's in the host's)"
	default:
		return "none"
	}
}

// machineLine describes the machine's load during a run, or is empty when
// it is unknown.
func machineLine(cpus int, start, end float64) string {
	if start < 0 || end < 0 {
		return ""
	}
	line := fmt.Sprintf("machine: %d CPUs, 1-minute load average %.1f at start and %.1f at end", cpus, start, end)
	if max(start, end) > float64(cpus) {
		line += " — other processes competed for the CPUs: the figures are below what the machine can do"
	}
	return line + "\n"
}

// writeTable writes rows with aligned columns: the first left columns
// left-aligned (names, text), the others right-aligned (figures).
func writeTable(b *strings.Builder, rows [][]string, left int) {
	widths := map[int]int{}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if i < left {
				line.WriteString("  " + cell + pad)
			} else {
				line.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
