// Package schemas is payroute's event contract: the Avro schemas of the six
// events on its topics (the .avsc files in this folder), the Go structs that
// mirror them (events.go), the validation of what upstream producers send,
// and the Serde that puts events on the wire.
//
// # Wire format
//
// Every record value, on every topic, in every mode, is in the Confluent
// Schema Registry framing:
//
//	byte 0     magic byte 0
//	bytes 1-4  schema id, big-endian uint32
//	bytes 5-   Avro binary encoding of the record
//
// so any Confluent-compatible consumer (kcat -s avro, ksqlDB, Kafka Connect)
// can read payroute's topics, and producers in any language can write them.
// The framing is implemented by franz-go's sr.Serde; Avro by goavro.
//
// # Where schema ids come from
//
// Registry mode (Configuration.RegistryURLs set): at start payroute registers
// each schema under the subject named after the full record name
// (RecordNameStrategy, e.g. io.payroute.v1.PaymentRequested) and encodes with
// the ids the registry returns. Record-name subjects rather than topic
// subjects, because AttemptFailed travels on several retry topics and must
// stay one schema. A record whose id this process has not registered is
// looked up in the registry: if it is another version of one of our schemas,
// it is decoded with that writer schema and resolved to this build's one.
//
// Registry-less mode (the embedded default): there is no registry to hand
// out ids, yet the framing needs one and upstream producers must know it
// without asking anybody. So the ids are fixed constants (SchemaIDPaymentRequested
// and the others), and each id means exactly one schema text forever: the
// current SchemaText(name) for the ids written today, the text of the
// release that wrote it for a retired id (3: AttemptRecorded before
// inquiries and in_doubt_ms), which is still read. The price: a producer and payroute must
// agree on the schema out of band (this package, or the .avsc files), and
// decoding can only resolve the schemas it knows.
//
// # Evolving a schema
//
// Every field has a default, so fields can be added and removed with full
// (backward and forward) compatibility; in registry mode the registry checks
// each new version against its compatibility level at registration, and a
// rejected schema fails New. Renaming a field or changing its type is incompatible: add a
// new field instead. Adding an enum symbol is forward-incompatible (an old
// reader cannot decode it): upgrade readers first. In registry-less mode the
// fixed ids pin the schemas, so a changed schema needs a new id and this
// package must keep decoding the old one (retired/<id>.json). Readers of an
// earlier release do not know the new id, so upgrade the instances that run
// the analytics sink before (or with) the ones that write the event: a sink
// that meets an attempt or a result with an id it does not know stops at
// that record rather than lose its row (analytics.NewerRecordError), and
// one with a request skips it, as the processor parks it.
//
// Named types (PaymentMethod, Candidate, AttemptSummary, the enums, ...) are
// written once in the .avsc files and referenced by full name elsewhere; the
// package inlines each at its first use to give goavro and the registry one
// self-contained text per event (SchemaText).
//
// # No card data
//
// No schema has a field for a card number or a CVV (a test enforces it), and
// Validate rejects a PaymentRequested whose token or metadata looks like a
// card number (ContainsPAN), with errors.Is(err, ErrCardData).
//
// # Errors
//
// Input problems are *DecodeError with a Kind (malformed, unknown schema,
// wrong schema, invalid field) and a stable Reason for DLQ headers; they are
// permanent. An error wrapping ErrRegistryUnavailable is transient.
package schemas
