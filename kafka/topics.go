package kafka

import (
	"fmt"
	"strings"
	"time"
)

// Topics are the names of every topic payroute reads or writes, after the
// configured prefix. All topics carrying one payment are keyed by payment_id.
type Topics struct {
	Requested string // payments.requested: PaymentRequested from upstream
	Results   string // payments.results: one final PaymentResult per payment
	Attempts  string // payments.attempts: AttemptRecorded for every attempt
	DLQ       string // payments.dlq: raw bad records, reason in headers
	Actions   string // payments.actions: CustomerAction (RETRY/CANCEL)
	Health    string // psp.health: compacted PspHealthChanged
	// State is payments.state, the compacted changelog of payment state,
	// co-partitioned with the payment topics (see consumers).
	State string
	// FollowUps is payments.followups: CAPTURE, VOID and REFUND requests
	// re-keyed by the payment they follow, so the owner of that payment's
	// state handles them.
	FollowUps string
	// Delays are the scheduled-retry topics, one per delay tier, shortest first.
	Delays []DelayTopic
	// Reattempts is payments.reattempts: one record per scheduled retry of a
	// declined card payment, keyed by card fingerprint and kept for the
	// card networks' 30-day window, read in full by every instance to count
	// a card's reattempts (see consumers).
	Reattempts string
	// Retry holds payments.retry.rank-<n> for n = 2..MaxRanks, indexed by n.
	Retry map[int]string

	prefix string
}

// Topics derives the topic names from the configuration.
func (c Configuration) Topics() Topics {
	p := c.TopicPrefix
	t := Topics{
		Requested:  p + "payments.requested",
		Results:    p + "payments.results",
		Attempts:   p + "payments.attempts",
		DLQ:        p + "payments.dlq",
		Actions:    p + "payments.actions",
		Health:     p + "psp.health",
		State:      p + "payments.state",
		FollowUps:  p + "payments.followups",
		Reattempts: p + "payments.reattempts",
		Retry:      map[int]string{},
		prefix:     p,
	}
	for n := 2; n <= c.MaxRanks; n++ {
		t.Retry[n] = RetryTopic(p, n)
	}
	for _, d := range c.RetryDelayTiers {
		t.Delays = append(t.Delays, DelayTopic{Topic: p + "payments.retry.delay-" + tierName(d), Delay: d})
	}
	return t
}

// DelayTopic is one scheduled-retry tier: every record on it is due Delay
// after its timestamp.
type DelayTopic struct {
	Topic string
	Delay time.Duration
}

// tierName renders a delay as a topic-name suffix: 1m, 10m, 1h, 6h, 24h, 90s.
func tierName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return strings.ReplaceAll(d.String(), ".", "_")
	}
}

// ReattemptRetention is how long payments.reattempts keeps records: the
// card networks count reattempts over 30 days.
const ReattemptRetention = 30 * 24 * time.Hour

// Retention is the retention a topic needs, or 0 for the broker default.
func (t Topics) Retention(topic string) time.Duration {
	if topic == t.Reattempts {
		return ReattemptRetention
	}
	return 0
}

// DelayOf returns the tier of a delay topic, or false for other topics.
func (t Topics) DelayOf(topic string) (DelayTopic, bool) {
	for _, d := range t.Delays {
		if d.Topic == topic {
			return d, true
		}
	}
	return DelayTopic{}, false
}

// DelayFor picks the tier for a retry due after d: the smallest tier that is
// at least d, or the largest tier when d exceeds them all (the record is then
// re-scheduled from the state store until it is due; see consumers).
func (t Topics) DelayFor(d time.Duration) (DelayTopic, bool) {
	if len(t.Delays) == 0 {
		return DelayTopic{}, false
	}
	for _, tier := range t.Delays {
		if tier.Delay >= d {
			return tier, true
		}
	}
	return t.Delays[len(t.Delays)-1], true
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

// Processing lists the topics the payment processor consumes: requests,
// follow-ups, customer actions, every retry rank and every delay tier.
func (t Topics) Processing() []string {
	out := []string{t.Requested, t.FollowUps, t.Actions}
	for n := 2; n <= len(t.Retry)+1; n++ {
		out = append(out, t.Retry[n])
	}
	for _, d := range t.Delays {
		out = append(out, d.Topic)
	}
	return out
}

// All lists every topic, with whether it is compacted.
func (t Topics) All() map[string]bool {
	out := map[string]bool{
		t.Requested: false, t.Results: false, t.Attempts: false,
		t.DLQ: false, t.Actions: false, t.Health: true,
		t.State: true, t.FollowUps: false, t.Reattempts: false,
	}
	for _, d := range t.Delays {
		out[d.Topic] = false
	}
	for _, r := range t.Retry {
		out[r] = false
	}
	return out
}
