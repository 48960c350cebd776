package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Configuration says where the schema ids come from.
type Configuration struct {
	// RegistryURLs are the base URLs of a Confluent-compatible schema
	// registry (several for failover). Empty means registry-less mode, the
	// embedded default: the fixed SchemaID constants are used and nothing is
	// registered anywhere. With URLs, payroute registers its six schemas at
	// start (subject = full record name) and uses the ids the registry
	// returns; producers must then use the registry too.
	RegistryURLs []string `yaml:"registry_urls"`
	// RegistryUsername and RegistryPassword are HTTP basic-auth credentials
	// (a Confluent Cloud API key and secret). Empty: no authentication.
	RegistryUsername string `yaml:"registry_username"`
	RegistryPassword string `yaml:"registry_password" secret:"true"`
	// RegistryTimeout bounds one registry round trip: each registration at
	// start, and the lookup of a schema id first seen while decoding.
	RegistryTimeout time.Duration `yaml:"registry_timeout"`
}

// DefaultConfiguration is registry-less mode with the fixed schema ids.
func DefaultConfiguration() Configuration {
	return Configuration{RegistryTimeout: 10 * time.Second}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	for i, u := range c.RegistryURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("registry_urls[%d]: want an http(s) URL, got %q", i, u))
		}
	}
	if c.RegistryPassword != "" && c.RegistryUsername == "" {
		errs = append(errs, errors.New("registry_password: set without registry_username"))
	}
	if c.RegistryTimeout <= 0 {
		errs = append(errs, errors.New("registry_timeout: must be > 0"))
	}
	return errors.Join(errs...)
}

// Serde encodes and decodes payroute events in the Confluent wire format.
// It is safe for concurrent use.
type Serde struct {
	cfg    Configuration
	wire   *sr.Serde
	client *sr.Client // nil in registry-less mode

	mu      sync.Mutex       // serializes registry lookups; guards the maps
	ids     map[string]int   // event full name -> id Encode writes
	known   map[int]string   // every id registered in wire -> full name
	foreign map[int]struct{} // ids the registry has, but not of our events
}

// maxForeignIDs bounds the negative cache of schema ids that are not ours,
// so that a topic full of foreign records cannot grow it without bound (past
// it, such ids are simply asked about again).
const maxForeignIDs = 4096

// New builds a Serde. In registry mode it registers the schemas before
// returning, so a Serde that exists encodes with ids the registry knows; a
// registry that is down or rejects a schema as incompatible fails New.
func New(cfg Configuration) (*Serde, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	s := &Serde{
		cfg:     cfg,
		wire:    sr.NewSerde(sr.Header(&sr.ConfluentHeader{})),
		ids:     map[string]int{},
		known:   map[int]string{},
		foreign: map[int]struct{}{},
	}
	if len(cfg.RegistryURLs) == 0 {
		for _, e := range catalog {
			s.use(e, e.fixedID())
		}
		for _, r := range retiredSchemas {
			r.event.registerWriter(s.wire, r.id, r.writer)
			s.known[r.id] = r.event.fullName()
		}
		return s, nil
	}
	opts := []sr.ClientOpt{
		sr.URLs(cfg.RegistryURLs...),
		sr.HTTPClient(&http.Client{Timeout: cfg.RegistryTimeout}),
		sr.UserAgent("payroute"),
	}
	if cfg.RegistryUsername != "" {
		opts = append(opts, sr.BasicAuth(cfg.RegistryUsername, cfg.RegistryPassword))
	}
	client, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schemas: registry client: %w", err)
	}
	s.client = client
	if err := s.Register(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Register registers the six schemas with the registry, subject = full record
// name (RecordNameStrategy), and encodes with the returned ids from then on.
// It is idempotent: the registry answers an already registered schema with its
// existing id. New calls it; call it again only to pick up a registry that was
// reset. A no-op in registry-less mode.
func (s *Serde) Register(ctx context.Context) error {
	if s.client == nil {
		return nil
	}
	for _, e := range catalog {
		id, err := s.registerOne(ctx, e)
		if err != nil {
			return fmt.Errorf("schemas: register %s: %w", e.fullName(), err)
		}
		s.mu.Lock()
		s.use(e, id)
		s.mu.Unlock()
	}
	return nil
}

func (s *Serde) registerOne(ctx context.Context, e eventCodec) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RegistryTimeout)
	defer cancel()
	return s.client.RegisterSchema(ctx, e.fullName(), sr.Schema{Schema: e.schemaText(), Type: sr.TypeAvro}, -1, -1)
}

// use makes id the id of e for encoding and decoding. Callers hold s.mu or
// own s exclusively.
func (s *Serde) use(e eventCodec, id int) {
	e.register(s.wire, id)
	s.ids[e.fullName()] = id
	s.known[id] = e.fullName()
	delete(s.foreign, id)
}

// SchemaIDs returns the id Encode writes for each event, by full record name.
func (s *Serde) SchemaIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// Encode frames and encodes one event: v is a *PaymentRequested,
// *AttemptFailed, *AttemptRecorded, *PaymentResult, *CustomerAction or
// *PspHealthChanged (a struct value works too). It does not validate: tests
// and tools must be able to produce invalid requests. An enum field holding a
// value outside its symbols (including "") is an error.
//
// The result is allocated at its exact size, once: the event is encoded
// into a pooled scratch buffer and copied out, rather than grown from
// nothing (six reallocations for a typical result). The returned slice is
// the caller's; use AppendEncode to place the record in a buffer of your
// own.
func (s *Serde) Encode(v any) ([]byte, error) {
	scratch := getScratch()
	defer putScratch(scratch)
	b, err := s.AppendEncode((*scratch)[:0], v)
	*scratch = b
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(b)), b...), nil
}

// AppendEncode appends the framed encoding of v (as Encode) to b and
// returns the extended slice; on error, b's contents past its length are
// unspecified.
func (s *Serde) AppendEncode(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid():
		return nil, errors.New("schemas: cannot encode nil")
	case rv.Kind() == reflect.Pointer && rv.IsNil():
		return nil, fmt.Errorf("schemas: cannot encode a nil %T", v)
	case rv.Kind() != reflect.Pointer:
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		v = p.Interface()
	}
	if eventOf(v) == nil {
		return nil, fmt.Errorf("schemas: cannot encode %T: not a payroute event", v)
	}
	return s.wire.AppendEncode(b, v)
}

// scratchPool holds encoding buffers (see Encode). A buffer that grew past
// maxPooledScratch (an event with a huge path or metadata) is dropped
// rather than kept, so that one outlier does not pin its memory.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledScratch = 64 << 10

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) <= maxPooledScratch {
		scratchPool.Put(b)
	}
}

// Decode decodes a framed record into v, a non-nil pointer to one of the six
// event types. Errors caused by the input are *DecodeError (KindMalformed,
// KindUnknownSchema, KindWrongSchema); an error wrapping
// ErrRegistryUnavailable is transient. Decode does not validate.
func (s *Serde) Decode(b []byte, v any) error {
	if eventOf(v) == nil {
		return fmt.Errorf("schemas: cannot decode into %T: not a pointer to a payroute event", v)
	}
	if reflect.ValueOf(v).IsNil() {
		return fmt.Errorf("schemas: cannot decode into a nil %T", v)
	}
	err := s.wire.Decode(b, v)
	if errors.Is(err, sr.ErrNotRegistered) {
		if err = s.learn(b); err == nil {
			err = s.wire.Decode(b, v)
		}
	}
	return s.classify(b, err)
}

// DecodeAny decodes a framed record into a new value of whichever event type
// its schema id names, e.g. a *CustomerAction. For tools that read mixed
// records (the DLQ, the console); consumers know their type and use Decode.
func (s *Serde) DecodeAny(b []byte) (any, error) {
	v, err := s.wire.DecodeNew(b)
	if errors.Is(err, sr.ErrNotRegistered) {
		if err = s.learn(b); err == nil {
			v, err = s.wire.DecodeNew(b)
		}
	}
	if err = s.classify(b, err); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodePaymentRequested decodes and validates a record from
// payments.requested. On a KindInvalid error the decoded request is returned
// too, so that the caller can publish a REJECTED result for its payment_id
// (when the error is not about payment_id itself); on any other error it is
// nil.
func (s *Serde) DecodePaymentRequested(b []byte) (*PaymentRequested, error) {
	p := new(PaymentRequested)
	if err := s.Decode(b, p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// classify turns the wire layer's errors into DecodeErrors.
func (s *Serde) classify(b []byte, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sr.ErrBadHeader):
		return malformed(fmt.Errorf("no Confluent framing (want magic byte 0 and a 4-byte schema id, got %d bytes)", len(b)))
	case errors.Is(err, sr.ErrNotRegistered):
		id, _, _ := s.wire.DecodeID(b)
		return &DecodeError{Kind: KindUnknownSchema, Err: fmt.Errorf("schema id %d is not a payroute event schema", id)}
	}
	return err
}

// learn asks the registry about the unregistered schema id of b. It returns
// nil when the id is now registered for decoding (another version of one of
// our schemas), sr.ErrNotRegistered when the id is not ours, and an error
// wrapping ErrRegistryUnavailable when the registry could not answer.
//
// Registry mode only: in registry-less mode the six fixed ids are all there is.
func (s *Serde) learn(b []byte) error {
	if s.client == nil {
		return sr.ErrNotRegistered
	}
	id, _, err := s.wire.DecodeID(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.known[id]; ok {
		return nil // learned by another goroutine meanwhile
	}
	if _, ok := s.foreign[id]; ok {
		return sr.ErrNotRegistered
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RegistryTimeout)
	defer cancel()
	sch, err := s.client.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			// Not cached: a registry replica that has not caught up with a
			// schema registered a moment ago also says 404, and must not make
			// the id unreadable for the life of the process.
			return sr.ErrNotRegistered
		}
		return fmt.Errorf("schemas: schema id %d: %w: %v", id, ErrRegistryUnavailable, err)
	}
	// Only self-contained Avro schemas of our records: we never register
	// references, so a schema with them was not written by a payroute build.
	if sch.Type != sr.TypeAvro || len(sch.References) > 0 {
		return s.notOurs(id)
	}
	writer, err := goavro.NewCodec(sch.Schema)
	if err != nil {
		return s.notOurs(id)
	}
	e := eventByName(recordName(sch.Schema))
	if e == nil {
		return s.notOurs(id)
	}
	e.registerWriter(s.wire, id, writer)
	s.known[id] = e.fullName()
	return nil
}

func (s *Serde) notOurs(id int) error {
	if len(s.foreign) < maxForeignIDs {
		s.foreign[id] = struct{}{}
	}
	return sr.ErrNotRegistered
}
