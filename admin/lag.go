package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicLag is one consumer group's lag on one topic.
type TopicLag struct {
	Group string `json:"group"`
	Topic string `json:"topic"`
	// Lag is the records not yet consumed and committed, summed over the
	// topic's partitions.
	Lag int64 `json:"lag"`
}

// lagReader reads consumer-group lag from Kafka on a schedule and keeps the
// last answer, so that scrapes and the console never wait on Kafka. Lag is
// the autoscaling signal (deploy/k8s): requests and retry ranks piling up
// mean the processors are too few.
type lagReader struct {
	adm     *kadm.Client
	groups  []string
	metrics *Metrics

	mu   sync.Mutex
	last []TopicLag
	err  error
	at   time.Time
}

// read asks Kafka for the lag of every group once, each within timeout. A
// group Kafka does not know yet (its consumers have not joined or
// committed; the sink before its first start) has no lag and is not an
// error. A group Kafka cannot answer for (an ACL refusing it, a coordinator
// that does not answer in time) keeps its last figures and counts as a
// read error, without holding back the other groups' figures: the
// processor's lag stays current when only the sink's group is in trouble,
// and the other way round.
func (l *lagReader) read(ctx context.Context, timeout time.Duration) {
	if len(l.groups) == 0 {
		return
	}
	var (
		out  []TopicLag
		err  error
		kept = map[string]bool{} // groups whose last figures stay
	)
	// One request per group: kadm fails a Lag of several groups as a whole
	// when one of them cannot be described.
	for _, group := range l.groups {
		gctx, cancel := context.WithTimeout(ctx, timeout)
		lags, gerr := l.adm.Lag(gctx, group)
		cancel()
		lag := lags[group]
		if gerr == nil {
			gerr = lag.Error()
		}
		switch {
		case errors.Is(gerr, kerr.GroupIDNotFound):
		case gerr != nil:
			if err == nil {
				err = fmt.Errorf("group %s: %w", group, gerr)
			}
			kept[group] = true
		default:
			for _, tl := range lag.Lag.TotalByTopic() {
				out = append(out, TopicLag{Group: group, Topic: tl.Topic, Lag: tl.Lag})
			}
		}
	}
	if err != nil {
		l.metrics.lagError.Inc()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.last {
		if kept[t.Group] {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Topic < out[j].Topic
	})
	now := map[[2]string]bool{}
	for _, t := range out {
		l.metrics.setLag(t.Group, t.Topic, t.Lag)
		now[[2]string{t.Group, t.Topic}] = true
	}
	for _, t := range l.last {
		if !now[[2]string{t.Group, t.Topic}] {
			l.metrics.lag.DeleteLabelValues(t.Group, t.Topic)
		}
	}
	l.last, l.at, l.err = out, time.Now(), err
}

func (l *lagReader) run(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		l.read(ctx, timeout)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// snapshot is the last lag read, when it was read, and the last error.
func (l *lagReader) snapshot() ([]TopicLag, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]TopicLag(nil), l.last...), l.at, l.err
}
