package consumers

import (
	"sync"
	"sync/atomic"

	"github.com/payroute/payroute/schemas"
)

// Stats counts what the processor committed, for progress output, metrics
// and tests. Only committed batches count: an aborted batch is processed
// again and counted then.
type Stats struct {
	committed  atomic.Int64
	attempts   atomic.Int64
	failovers  atomic.Int64
	deadLetter atomic.Int64
	duplicates atomic.Int64
	scheduled  atomic.Int64
	held       atomic.Int64
	aborted    atomic.Int64
	restarts   atomic.Int64

	mu       sync.Mutex
	byStatus map[schemas.Status]int64
}

func newStats() *Stats { return &Stats{byStatus: map[schemas.Status]int64{}} }

func (s *Stats) commit(b *batchResult) {
	c := b.counts
	s.committed.Add(c.records)
	s.attempts.Add(c.attempts)
	s.failovers.Add(c.failovers)
	s.deadLetter.Add(c.deadLetters)
	s.duplicates.Add(c.duplicates)
	s.scheduled.Add(c.scheduled)
	s.held.Add(c.held)
	s.mu.Lock()
	for st, n := range c.results {
		s.byStatus[st] += n
	}
	s.mu.Unlock()
}

// Committed is the number of input records whose processing is committed.
func (s *Stats) Committed() int64 { return s.committed.Load() }

// Attempts is the number of PSP attempts made in committed batches.
func (s *Stats) Attempts() int64 { return s.attempts.Load() }

// Failovers is the number of payments moved to a next rank.
func (s *Stats) Failovers() int64 { return s.failovers.Load() }

// DeadLettered is the number of records sent to the DLQ.
func (s *Stats) DeadLettered() int64 { return s.deadLetter.Load() }

// Duplicates is the number of duplicate requests answered from state.
func (s *Stats) Duplicates() int64 { return s.duplicates.Load() }

// Scheduled is the number of retries scheduled through the delay tiers.
func (s *Stats) Scheduled() int64 { return s.scheduled.Load() }

// Held is the number of recurring payments held because all their PSPs were down.
func (s *Stats) Held() int64 { return s.held.Load() }

// Aborted is the number of batches whose transaction aborted.
func (s *Stats) Aborted() int64 { return s.aborted.Load() }

// Restarts is the number of times the processor restarted its Kafka
// session after an error (see Processor.supervise).
func (s *Stats) Restarts() int64 { return s.restarts.Load() }

// Results returns results published, by status. ACTION_REQUIRED is counted
// when published; the payment's final result is counted again later.
func (s *Stats) Results() map[schemas.Status]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[schemas.Status]int64, len(s.byStatus))
	for k, v := range s.byStatus {
		out[k] = v
	}
	return out
}

// TotalResults is the number of final results published (ACTION_REQUIRED
// is not final).
func (s *Stats) TotalResults() int64 {
	var n int64
	for st, v := range s.Results() {
		if st != schemas.StatusActionRequired {
			n += v
		}
	}
	return n
}
