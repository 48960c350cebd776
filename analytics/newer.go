package analytics

import (
	"fmt"

	"github.com/payroute/payroute/schemas"
)

// NewerRecordError stops the sink at a record of payments.attempts or
// payments.results written with a schema this build cannot read.
//
// Only payroute writes those topics, so such a record is almost always one
// of a newer release: in registry-less mode a schema that gains a field
// gets a new id, and an instance of the release before does not know it
// (docs/operators.md, "Upgrading"). Skipping it, as the sink skips
// malformed bytes, would lose the row for good: its offset would be
// committed and ClickHouse's exactly-once bookkeeping would then hold the
// rows after it. So the sink loads what came before it, commits up to it,
// and stops; it leaves its consumer group, so that the partitions go to
// instances that can read the record, and an upgraded instance resumes
// from this very record. Payments are not affected: the processor does
// not read these topics.
//
// Records of payments.requested with an unknown schema are still skipped:
// upstream services write that topic, and the processor sends the same
// records to the DLQ.
type NewerRecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	// Err is the decoder's error, of KindUnknownSchema.
	Err *schemas.DecodeError
}

func (e *NewerRecordError) Error() string {
	return fmt.Sprintf("analytics: %s partition %d offset %d has a schema this build cannot read (%v); "+
		"payroute wrote it, most likely a newer release: the sink stopped here rather than lose the row, "+
		"upgrade this instance and it resumes from this record", e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *NewerRecordError) Unwrap() error { return e.Err }
