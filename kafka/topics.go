package kafka

import "fmt"

// Topics are the names of every topic payroute reads or writes, after the
// configured prefix. All topics carrying one payment are keyed by payment_id.
type Topics struct {
	Requested string // payments.requested: PaymentRequested from upstream
	Results   string // payments.results: one final PaymentResult per payment
	Attempts  string // payments.attempts: AttemptRecorded for every attempt
	DLQ       string // payments.dlq: raw bad records, reason in headers
	Actions   string // payments.actions: CustomerAction (RETRY/CANCEL)
	Health    string // psp.health: compacted PspHealthChanged
	// Retry holds payments.retry.rank-<n> for n = 2..MaxRanks, indexed by n.
	Retry map[int]string

	prefix string
}

// Topics derives the topic names from the configuration.
func (c Configuration) Topics() Topics {
	p := c.TopicPrefix
	t := Topics{
		Requested: p + "payments.requested",
		Results:   p + "payments.results",
		Attempts:  p + "payments.attempts",
		DLQ:       p + "payments.dlq",
		Actions:   p + "payments.actions",
		Health:    p + "psp.health",
		Retry:     map[int]string{},
		prefix:    p,
	}
	for n := 2; n <= c.MaxRanks; n++ {
		t.Retry[n] = RetryTopic(p, n)
	}
	return t
}

// RetryTopic names the retry topic of a rank.
func RetryTopic(prefix string, rank int) string {
	return fmt.Sprintf("%spayments.retry.rank-%d", prefix, rank)
}

// RankOf returns the rank a retry topic serves, or false for other topics.
func (t Topics) RankOf(topic string) (int, bool) {
	for n, name := range t.Retry {
		if name == topic {
			return n, true
		}
	}
	return 0, false
}

// Processing lists the topics the payment processor consumes: requests and
// every retry rank.
func (t Topics) Processing() []string {
	out := []string{t.Requested}
	for n := 2; n <= len(t.Retry)+1; n++ {
		out = append(out, t.Retry[n])
	}
	return out
}

// All lists every topic, with whether it is compacted.
func (t Topics) All() map[string]bool {
	out := map[string]bool{
		t.Requested: false, t.Results: false, t.Attempts: false,
		t.DLQ: false, t.Actions: false, t.Health: true,
	}
	for _, r := range t.Retry {
		out[r] = false
	}
	return out
}
