package chaos

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payroute/payroute/schemas"
)

// Report is what a run did and what it found.
type Report struct {
	Profile Profile
	// PublishTime is how long publishing (with faults) took; RunTime until
	// every payment had its final result.
	PublishTime, RunTime time.Duration

	// Payments is the number of distinct payments published; Duplicates
	// the duplicate requests among the records; BadInputs the bad input
	// records.
	Payments, Duplicates, BadInputs int
	// Statuses counts the final results by status.
	Statuses map[schemas.Status]int
	// Replays counts results republished for duplicate requests;
	// ActionRequired the ACTION_REQUIRED results (each answered by a
	// customer action).
	Replays, ActionRequired int
	// Attempts is the number of attempts on payments.attempts;
	// Failovers the attempts after the first of a payment.
	Attempts, Failovers int
	// Approvals is the number of approvals the PSPs granted (AUTHORIZE and
	// CHARGE); InDoubtApproved the IN_DOUBT results whose payment the PSP
	// did approve (the designed outcome when inquiries run out).
	Approvals, InDoubtApproved int
	// DeadLetters counts payments.dlq records by reason.
	DeadLetters map[string]int
	// Faults counts the faults injected by kind; BrokerHits how many
	// requests kfake answered with an injected error, by kind.
	Faults, BrokerHits map[Kind]int
	// FaultLog is every fault in order, with its offset from the start.
	FaultLog []string
	// ProcessorExits are the errors that stopped a processor for good
	// (each followed by a supervised restart), by error text. Errors a
	// processor recovers from by restarting its Kafka session are only
	// counted (consumers.Stats.Restarts), and printed.
	ProcessorExits map[string]int
	// ClickHouse compares the tables with the topics ("attempts: 1200 rows,
	// 1200 records"); empty without ClickHouse.
	ClickHouse []string
	// Scanned says how much the card-data scan read.
	Scanned map[string]int64
	// PSPTimeoutsHeld is how many PSP answers the gate withheld.
	PSPTimeoutsHeld int64
	// Violations are the broken guarantees; a correct run has none.
	Violations []string

	start                                                                         time.Time
	mu                                                                            sync.Mutex
	startFailures, publishRetries, sinkExits, actions, connDrops, sessionRestarts atomic.Int64
}

func newReport(p Profile) *Report {
	return &Report{Profile: p, start: time.Now(), Statuses: map[schemas.Status]int{}, DeadLetters: map[string]int{},
		Faults: map[Kind]int{}, BrokerHits: map[Kind]int{}, ProcessorExits: map[string]int{}}
}

func (r *Report) fault(k Kind, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Faults[k]++
	r.FaultLog = append(r.FaultLog, fmt.Sprintf("%7.2fs %s %s", time.Since(r.start).Seconds(), k, detail))
}

func (r *Report) brokerHits(k Kind, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.BrokerHits[k] += n
}

func (r *Report) processorExit(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ProcessorExits[msg]++
}

func (r *Report) violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

func (r *Report) totalFaults() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.Faults {
		n += c
	}
	return n
}

// maxViolationsShown bounds the violations printed.
const maxViolationsShown = 50

// String prints the report: payments, faults by kind and violations.
func (r *Report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	p := r.Profile
	fmt.Fprintf(&b, "chaos profile %s, seed %d: %d partitions, %d-%d processors, secure=%v, clickhouse=%v\n",
		p.Name, p.Seed, p.Partitions, 1, p.MaxInstances, p.Secure, p.ClickHouse != "")
	fmt.Fprintf(&b, "published in %s, all final after %s\n", r.PublishTime.Round(time.Second), r.RunTime.Round(time.Second))
	fmt.Fprintf(&b, "payments: %d accepted, %d duplicate requests, %d bad input records\n", r.Payments, r.Duplicates, r.BadInputs)
	var st []string
	for _, s := range schemas.Statuses {
		if n := r.Statuses[s]; n > 0 {
			st = append(st, fmt.Sprintf("%s %d", s, n))
		}
	}
	fmt.Fprintf(&b, "final results: %s; replays %d, ACTION_REQUIRED %d (customer actions sent %d)\n",
		strings.Join(st, ", "), r.Replays, r.ActionRequired, r.actions.Load())
	fmt.Fprintf(&b, "attempts: %d (%d after a first attempt); approvals at the PSPs: %d (IN_DOUBT but approved: %d); PSP answers withheld: %d\n",
		r.Attempts, r.Failovers, r.Approvals, r.InDoubtApproved, r.PSPTimeoutsHeld)
	fmt.Fprintf(&b, "dead letters: %s\n", countList(r.DeadLetters))
	total := 0
	var fs []string
	for _, k := range Kinds {
		if n := r.Faults[k]; n > 0 {
			total += n
			s := fmt.Sprintf("%s %d", k, n)
			if hits, ok := r.BrokerHits[k]; ok {
				s += fmt.Sprintf(" (%d requests failed)", hits)
			}
			if k == BrokerConnectionDrop {
				s += fmt.Sprintf(" (%d connections dropped)", r.connDrops.Load())
			}
			fs = append(fs, s)
		}
	}
	fmt.Fprintf(&b, "faults injected: %d: %s\n", total, strings.Join(fs, ", "))
	fmt.Fprintf(&b, "processor starts retried %d, publish retries %d, sink exits %d\n",
		r.startFailures.Load(), r.publishRetries.Load(), r.sinkExits.Load())
	if n := r.sessionRestarts.Load(); n > 0 {
		fmt.Fprintf(&b, "processor kafka sessions restarted after an error: %d\n", n)
	}
	if len(r.ProcessorExits) > 0 {
		fmt.Fprintf(&b, "processor run loops stopped by an error (restarted): %s\n", countList(r.ProcessorExits))
	}
	for _, c := range r.ClickHouse {
		fmt.Fprintf(&b, "clickhouse: %s\n", c)
	}
	if len(r.Scanned) > 0 {
		fmt.Fprintf(&b, "card data scan: %d records, %d log lines, %d table rows: %d findings\n",
			r.Scanned["records"], r.Scanned["log lines"], r.Scanned["table rows"], r.Scanned["findings"])
	}
	fmt.Fprintf(&b, "violations: %d\n", len(r.Violations))
	for i, v := range r.Violations {
		if i == maxViolationsShown {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.Violations)-i)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}

// countList prints a count map as "a 3, b 1", largest first.
func countList[K ~string](m map[K]int) string {
	type kv struct {
		k K
		n int
	}
	var l []kv
	for k, n := range m {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].k < l[j].k
	})
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.n))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
