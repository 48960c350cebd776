package analytics

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// DivergedError stops the sink at an assignment when a partition ends at or
// before an offset ClickHouse already holds rows of: the partition does not
// have the records that were loaded from it.
//
// ClickHouse knows how far it has loaded each partition by topic name and
// partition number (ingest_offsets, migration 0002), so a topic deleted and
// created again under the same name (or a broker that lost records in an
// unclean leader election) looks already loaded: resuming after the old
// offset would skip the new records silently, and for good. The sink
// refuses to guess. It stops before loading anything of that assignment;
// once the operator has said the topic is a new one (ForgetTopic, `payroute
// migrate --forget-topic`), the sink loads it from its start.
//
// The check catches a recreated topic as long as it holds fewer records
// than the old one had; forget a topic when recreating it, before a sink
// starts on it, to be safe in every case (docs/operators.md).
type DivergedError struct {
	Topic     string
	Partition int32
	// Loaded is the highest offset ClickHouse holds rows of; End the
	// partition's end offset (high watermark), at most Loaded.
	Loaded, End int64
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("analytics: %s partition %d ends at offset %d, but ClickHouse holds rows of it up to offset %d: "+
		"the topic was deleted and created again, or the brokers lost records; the sink stopped rather than skip what the partition holds now. "+
		"If the topic is a new one, run `payroute migrate --forget-topic %s` and restart: the sink then loads it from its start",
		e.Topic, e.Partition, e.End, e.Loaded, e.Topic)
}

// diverged returns a *DivergedError for the first partition of assigned
// (topic → partitions) whose end offset is at or before the offset held
// says ClickHouse has loaded, nil when none is. A partition whose end
// cannot be read is not judged: ListEndOffsets failing as a whole is
// returned (and retried by the caller).
func diverged(ctx context.Context, adm *kadm.Client, assigned map[string][]int32, held map[partition]int64) (*DivergedError, error) {
	var topics []string
	for topic, ids := range assigned {
		for _, id := range ids {
			if _, ok := held[partition{topic, id}]; ok {
				topics = append(topics, topic)
				break
			}
		}
	}
	if len(topics) == 0 {
		return nil, nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	for topic, ids := range assigned {
		for _, id := range ids {
			loaded, ok := held[partition{topic, id}]
			if !ok {
				continue
			}
			end, found := ends.Lookup(topic, id)
			if !found || end.Err != nil {
				continue
			}
			if end.Offset <= loaded {
				return &DivergedError{Topic: topic, Partition: id, Loaded: loaded, End: end.Offset}, nil
			}
		}
	}
	return nil, nil
}

// divergedPartition is the DivergedError an assignment found, if any.
func (s *Sink) divergedPartition() *DivergedError {
	s.asg.mu.Lock()
	defer s.asg.mu.Unlock()
	return s.asg.diverged
}
