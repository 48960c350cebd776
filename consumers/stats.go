package consumers

import (
	"sync"
	"sync/atomic"

	"github.com/payroute/payroute/schemas"
)

// Stats counts what the processor did, for progress output and tests. The
// Prometheus series are built on the same counters.
type Stats struct {
	committed  atomic.Int64
	attempts   atomic.Int64
	failovers  atomic.Int64
	deadLetter atomic.Int64

	mu       sync.Mutex
	byStatus map[schemas.Status]int64
}

func newStats() *Stats { return &Stats{byStatus: map[schemas.Status]int64{}} }

func (s *Stats) result(st schemas.Status) {
	s.mu.Lock()
	s.byStatus[st]++
	s.mu.Unlock()
}

// Committed is the number of input records whose offsets are committed.
func (s *Stats) Committed() int64 { return s.committed.Load() }

// Attempts is the number of PSP attempts made.
func (s *Stats) Attempts() int64 { return s.attempts.Load() }

// Failovers is the number of payments moved to a next rank.
func (s *Stats) Failovers() int64 { return s.failovers.Load() }

// DeadLettered is the number of records sent to the DLQ.
func (s *Stats) DeadLettered() int64 { return s.deadLetter.Load() }

// Results returns final results published, by status.
func (s *Stats) Results() map[schemas.Status]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[schemas.Status]int64, len(s.byStatus))
	for k, v := range s.byStatus {
		out[k] = v
	}
	return out
}

// TotalResults is the number of final results published.
func (s *Stats) TotalResults() int64 {
	var n int64
	for _, v := range s.Results() {
		n += v
	}
	return n
}
