package consumers_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/router"
	"github.com/payroute/payroute/schemas"
	"github.com/payroute/payroute/schemas/schemastest"
)

// The consumer path of a payments.requested record is: decode and validate
// (schemas.Serde.DecodePaymentRequested), route (router.Router.Route), and
// on any refusal a dead letter (producers.Records.DeadLetter) plus, where a
// payment id can be read, a REJECTED result (producers.Records.Result).
// FuzzConsumerInput drives those pure steps with arbitrary keys and values;
// TestCorpusThroughProcessor pushes the committed corpus through a real
// processor on kfake. Running a processor per fuzz input would be far too
// slow to fuzz with.
//
// The committed corpus, testdata/fuzz/FuzzConsumerInput, holds one file per
// kind of bad input (the file name says which): random bytes, truncated
// Avro, unknown and foreign schema ids, another event's body, huge strings,
// invalid UTF-8, control characters, unicode, negative, zero, overflowing
// and over-long amounts, unknown currencies and operations, a missing
// payment_id, a payment_id that differs from the key, and bad routing. None
// of them holds a card number: card data is built at run time
// (TestCardDataIsWithheld).
//
//	go test ./consumers -run '^$' -fuzz FuzzConsumerInput -fuzztime 60s

// fuzzEnv is the consumer path's pure parts.
type fuzzEnv struct {
	topics  kafka.Topics
	serde   *schemas.Serde
	records *producers.Records
	router  *router.Router
}

func newFuzzEnv(t testing.TB) *fuzzEnv {
	t.Helper()
	serde, err := schemas.New(schemas.DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	topics := kafka.DefaultConfiguration().Topics()
	rcfg := router.DefaultConfiguration()
	rcfg.Version = "v-fuzz"
	rcfg.Routes = map[string][]router.Candidate{"Route_portone": {{PSP: "psp-a"}, {PSP: "psp-b"}}}
	r, err := router.New(rcfg, []string{"psp-a", "psp-b"})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzEnv{topics: topics, serde: serde, records: producers.NewRecords(serde, topics), router: r}
}

// reasons a dead letter of payments.requested may carry.
var knownReasons = map[string]bool{
	"malformed": true, "unknown_schema": true, "wrong_schema": true, "invalid_field": true, "undecodable": true,
	"key_mismatch": true,
}

func FuzzConsumerInput(f *testing.F) {
	env := newFuzzEnv(f)
	good := goodRequest("fz-good")
	goodBytes, err := env.serde.Encode(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("fz-good"), goodBytes)
	f.Add([]byte("fz-truncated"), goodBytes[:len(goodBytes)/2])
	f.Add([]byte(""), []byte{})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		env.check(t, key, value)
	})
}

// check runs one input through the consumer path's pure steps and asserts
// what the processor relies on: no panic; a refusal is a *DecodeError or
// *RouteError with a stable reason; its dead letter keeps the key, the
// reason and the source, and never carries card data the input did not;
// a REJECTED result for the readable id encodes (the processor panics, and
// so stops, on a result it cannot encode).
func (env *fuzzEnv) check(t *testing.T, key, value []byte) {
	src := &kgo.Record{Topic: env.topics.Requested, Partition: 2, Offset: 41, Key: key, Value: value,
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("fuzz")}}}
	req, err := env.serde.DecodePaymentRequested(value)
	reason, field := "", ""
	switch {
	case err != nil:
		var de *schemas.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("decode error %v (%T) is not a *schemas.DecodeError: the processor would call it transient", err, err)
		}
		reason, field = de.Reason(), de.Field
		if req != nil && de.Kind != schemas.KindInvalid {
			t.Fatalf("a %s error returned a request", de.Reason())
		}
	case string(key) != req.PaymentID:
		reason, field = "key_mismatch", "payment_id"
		err = errors.New("record key is not the payment_id")
	default:
		if req.Operation.IsFollowUp() {
			return // handed to payments.followups as is
		}
		dec, rerr := env.router.Route(req)
		if rerr == nil {
			if len(dec.Candidates) == 0 || dec.ConfigVersion != "v-fuzz" {
				t.Fatalf("decision without candidates or version: %+v", dec)
			}
			return
		}
		var re *router.RouteError
		if !errors.As(rerr, &re) || re.Reason == "" {
			t.Fatalf("route error %v (%T) without a reason", rerr, rerr)
		}
		reason, field, err = "routing:"+re.Reason, "routing", rerr
	}
	if !knownReasons[reason] && !strings.HasPrefix(reason, "routing:") {
		t.Fatalf("unexpected reason %q for %v", reason, err)
	}

	dl := env.records.DeadLetter(src, reason, field, err)
	if dl.Topic != env.topics.DLQ || !bytes.Equal(dl.Key, key) {
		t.Fatalf("dead letter to %s with key %q", dl.Topic, dl.Key)
	}
	if producers.HeaderValue(dl, producers.HeaderDLQReason) != reason ||
		producers.HeaderValue(dl, producers.HeaderSourceTopic) != env.topics.Requested ||
		producers.HeaderValue(dl, producers.HeaderSourceOffset) != "41" ||
		producers.HeaderValue(dl, producers.HeaderDLQError) == "" || producers.HeaderValue(dl, "origin") != "fuzz" {
		t.Fatalf("dead letter headers %v", dl.Headers)
	}
	withheld := producers.HeaderValue(dl, producers.HeaderDLQWithheld) != ""
	if errors.Is(err, schemas.ErrCardData) != withheld || withheld && dl.Value != nil || !withheld && !bytes.Equal(dl.Value, value) {
		t.Fatalf("dead letter value kept %v, withheld %v, card data %v", dl.Value != nil, withheld, errors.Is(err, schemas.ErrCardData))
	}
	// Validation and routing errors never quote a field value that could be
	// card data. (Malformed-record errors carry the Avro library's text,
	// which can quote a number decoded from the input, such as a negative
	// string length: the corpus entry fuzz-negative-string-length is one
	// whose text holds a 13-digit Luhn-valid run.)
	var de *schemas.DecodeError
	if !errors.As(err, &de) || de.Kind == schemas.KindInvalid {
		if msg := producers.HeaderValue(dl, producers.HeaderDLQError); schemas.ContainsPAN(msg) && !schemas.ContainsPAN(string(key)) {
			t.Fatalf("the error header carries something like a card number: %q", msg)
		}
	}

	id := string(key)
	if req != nil && req.PaymentID != "" {
		id = req.PaymentID
	}
	if id == "" {
		return // nothing to answer: the dead letter is all
	}
	base := schemas.PaymentRequested{PaymentID: id}
	if req != nil {
		base = *req
		base.PaymentID = id
	}
	res := &schemas.PaymentResult{PaymentID: id, MerchantID: base.MerchantID, Operation: schemas.OpUnknown,
		Status: schemas.StatusRejected, Class: schemas.ClassInvalidRequest, AmountMinor: base.AmountMinor,
		Currency: base.Currency, Reason: reason + ": " + err.Error(), RequestedAtMs: base.RequestedAtMs}
	rec, rerr := env.records.Result(res)
	if rerr != nil {
		t.Fatalf("the REJECTED result of %q does not encode: %v", id, rerr)
	}
	var back schemas.PaymentResult
	if err := env.serde.Decode(rec.Value, &back); err != nil || back.PaymentID != id || back.Status != schemas.StatusRejected {
		t.Fatalf("the REJECTED result does not read back: %+v, %v", back, err)
	}
}

// goodRequest is a valid CHARGE with inline candidates.
func goodRequest(id string) *schemas.PaymentRequested {
	p := payment(id, "tok_approve", "psp-a", "psp-b")
	p.RequestedAtMs = 1_700_000_000_000
	return p
}

// corpusEntry is one committed corpus file.
type corpusEntry struct {
	name       string
	key, value []byte
}

// readCorpus parses the "go test fuzz v1" files of FuzzConsumerInput.
func readCorpus(t *testing.T) []corpusEntry {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzConsumerInput")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusEntry
	for _, fi := range files {
		f, err := os.Open(filepath.Join(dir, fi.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		var args [][]byte
		for sc.Scan() {
			line := sc.Text()
			if line == "go test fuzz v1" || line == "" {
				continue
			}
			lit, ok := strings.CutPrefix(line, "[]byte(")
			lit, ok2 := strings.CutSuffix(lit, ")")
			if !ok || !ok2 {
				t.Fatalf("%s: unexpected line %.60q", fi.Name(), line)
			}
			s, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("%s: %v", fi.Name(), err)
			}
			args = append(args, []byte(s))
		}
		f.Close()
		if err := sc.Err(); err != nil || len(args) != 2 {
			t.Fatalf("%s: %d arguments, %v", fi.Name(), len(args), err)
		}
		out = append(out, corpusEntry{name: fi.Name(), key: args[0], value: args[1]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	if len(out) < 20 {
		t.Fatalf("the corpus has %d entries; it is committed with more", len(out))
	}
	return out
}

// TestCorpusIsBad: every committed corpus entry is refused (the corpus is
// bad input only, which TestCorpusThroughProcessor relies on), and none
// carries a card number.
func TestCorpusIsBad(t *testing.T) {
	env := newFuzzEnv(t)
	for _, c := range readCorpus(t) {
		if schemas.ContainsPAN(string(c.key)) || schemas.ContainsPAN(string(c.value)) {
			t.Errorf("%s holds something like a card number", c.name)
		}
		req, err := env.serde.DecodePaymentRequested(c.value)
		if err == nil && string(c.key) == req.PaymentID {
			if _, rerr := env.router.Route(req); rerr == nil {
				t.Errorf("%s is a valid, routable request", c.name)
			}
		}
		t.Run(c.name, func(t *testing.T) { env.check(t, c.key, c.value) })
	}
}

// TestCardDataIsWithheld: a request whose token or metadata holds a card
// number (built at run time) is refused with its value withheld from the
// dead letter, and the number is in no header.
func TestCardDataIsWithheld(t *testing.T) {
	env := newFuzzEnv(t)
	pan := schemastest.CardNumber("4" + strings.Repeat("0", 14))
	for _, mutate := range []func(*schemas.PaymentRequested){
		func(p *schemas.PaymentRequested) { p.PaymentMethod.Token = pan },
		func(p *schemas.PaymentRequested) {
			p.PaymentMethod.Token = "tok " + pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:]
		},
		func(p *schemas.PaymentRequested) { p.Metadata = map[string]string{"note": "card " + pan} },
		func(p *schemas.PaymentRequested) { p.Metadata = map[string]string{pan: "x"} },
	} {
		p := goodRequest("fz-card")
		mutate(p)
		b, err := env.serde.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.serde.DecodePaymentRequested(b)
		if !errors.Is(err, schemas.ErrCardData) {
			t.Fatalf("not refused as card data: %v", err)
		}
		env.check(t, []byte("fz-card"), b)
		dl := env.records.DeadLetter(&kgo.Record{Topic: env.topics.Requested, Key: []byte("fz-card"), Value: b}, "invalid_field", "", err)
		for _, h := range dl.Headers {
			if schemas.ContainsPAN(string(h.Value)) {
				t.Fatalf("header %s carries the card number", h.Key)
			}
		}
	}
}

// TestCorpusThroughProcessor publishes every corpus entry, then a huge
// record close to the broker's size limit, then a good payment, to a real
// processor: each bad record lands in the DLQ once with a reason and its
// source offset, each readable id gets a REJECTED result with a reason,
// and the good payment behind them all is approved.
func TestCorpusThroughProcessor(t *testing.T) {
	s := newStack(t, nil)
	topic := s.cluster.Topics().Requested
	corpus := readCorpus(t)
	var recs []*kgo.Record
	rejected := map[string]bool{}
	for _, c := range corpus {
		recs = append(recs, &kgo.Record{Topic: topic, Key: c.key, Value: c.value})
		id := string(c.key)
		if req, _ := s.serde.DecodePaymentRequested(c.value); req != nil && req.PaymentID != "" {
			id = req.PaymentID
		}
		if id != "" && len(id) <= schemas.MaxIDBytes {
			rejected[id] = true
		}
	}
	// Garbage under a key of 700 KB: no payment can have that id, so the
	// dead letter is the only answer (a REJECTED result under that key
	// would not fit in a record, and would stall the partition).
	recs = append(recs, &kgo.Record{Topic: topic, Key: bytes.Repeat([]byte("k"), 700<<10), Value: []byte{0, 1, 2}})
	// Close to a megabyte, the broker's default record size limit: its
	// dead letter, the value plus the reason headers, still fits.
	huge := goodRequest("fz-huge")
	huge.MerchantID = strings.Repeat("m", 999_000)
	hugeBytes, err := s.serde.Encode(huge)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("fz-huge"), Value: hugeBytes})
	rejected["fz-huge"] = true
	recs = append(recs, s.request(t, goodRequest("fz-good")))
	for _, r := range recs {
		s.publish(t, r)
	}

	dlq := s.readTopic(t, s.cluster.Topics().DLQ, len(recs)-1)
	if len(dlq) != len(recs)-1 {
		t.Fatalf("DLQ holds %d records for %d bad inputs", len(dlq), len(recs)-1)
	}
	offsets := map[string]bool{}
	for _, r := range dlq {
		reason := producers.HeaderValue(r, producers.HeaderDLQReason)
		off := producers.HeaderValue(r, producers.HeaderSourcePart) + "/" + producers.HeaderValue(r, producers.HeaderSourceOffset)
		if reason == "" || producers.HeaderValue(r, producers.HeaderDLQError) == "" || offsets[off] {
			t.Errorf("DLQ record of %s: reason %q, error %q, seen before %v", off, reason, producers.HeaderValue(r, producers.HeaderDLQError), offsets[off])
		}
		offsets[off] = true
	}
	results := s.results(t, len(rejected)+1)
	if res := results["fz-good"]; res.Status != schemas.StatusApproved {
		t.Fatalf("the good payment behind the bad input: %s (%s)", res.Status, res.Reason)
	}
	for id := range rejected {
		res, ok := results[id]
		if !ok || res.Status != schemas.StatusRejected || res.Reason == "" {
			t.Errorf("%.40q: %+v, want REJECTED with a reason", id, res.Status)
		}
	}
	for id := range results {
		if id != "fz-good" && !rejected[id] {
			t.Errorf("%.40q: a result for an id no payment may have", id)
		}
	}
}

// Helpers below build the corpus' inputs; TestCorpusInputsAreBad runs them
// through the pure path so that a change in the serde that makes one valid
// is noticed. They are also how the committed files were written (see
// writeCorpusEntry).

// overlongAmount replaces the varint of amount_minor (written as the
// distinctive 424242) in an encoded request with raw.
func overlongAmount(t testing.TB, env *fuzzEnv, raw []byte) []byte {
	t.Helper()
	p := goodRequest("fz-amount-varint")
	p.AmountMinor = 424242
	b, err := env.serde.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	v := binary.AppendVarint(nil, 424242)
	if bytes.Count(b, v) != 1 {
		t.Fatalf("amount varint found %d times", bytes.Count(b, v))
	}
	return bytes.Replace(b, v, raw, 1)
}

// corpusInputs are the corpus' cases, built from the serde.
func corpusInputs(t testing.TB, env *fuzzEnv) map[string][2][]byte {
	t.Helper()
	enc := func(v any) []byte {
		b, err := env.serde.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := func(id string, mutate func(*schemas.PaymentRequested)) []byte {
		p := goodRequest(id)
		mutate(p)
		return enc(p)
	}
	good := enc(goodRequest("fz-truncated"))
	frame := func(id uint32, body []byte) []byte {
		b := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], id)
		return append(b, body...)
	}
	in := map[string][2][]byte{}
	add := func(name, key string, value []byte) { in[name] = [2][]byte{[]byte(key), value} }
	add("random-bytes", "fz-random", []byte("\x8f\x12\xff\x00\x9c\xd4qZ\x03\xee\x7f\x80\x01\x02\xfe\xfd"))
	add("empty-value", "fz-empty", nil)
	add("no-framing-json", "fz-json", []byte(`{"payment_id":"fz-json","amount_minor":100}`))
	add("magic-byte-only", "fz-magic", []byte{0})
	add("truncated-header", "fz-header", []byte{0, 0, 0})
	add("truncated-avro", "fz-truncated", good[:len(good)/2])
	add("truncated-avro-last-byte", "fz-truncated", good[:len(good)-1])
	add("trailing-bytes", "fz-trailing", append(append([]byte{}, enc(goodRequest("fz-trailing"))...), 0x02, 0x41))
	add("unknown-schema-id", "fz-unknown-schema", frame(999, good[5:]))
	add("schema-id-zero", "fz-schema-zero", frame(0, good[5:]))
	add("negative-schema-id", "fz-schema-negative", frame(math.MaxUint32, good[5:]))
	add("wrong-schema-customer-action", "fz-action", enc(&schemas.CustomerAction{PaymentID: "fz-action", Action: schemas.ActionCancel}))
	add("wrong-type-action-body-as-request", "fz-wrong-type", frame(schemas.SchemaIDPaymentRequested,
		enc(&schemas.CustomerAction{PaymentID: "fz-wrong-type", Action: schemas.ActionRetry})[5:]))
	add("wrong-type-request-body-as-result", "fz-as-result", frame(schemas.SchemaIDPaymentResult, good[5:]))
	add("huge-merchant-id", "fz-huge-merchant", req("fz-huge-merchant", func(p *schemas.PaymentRequested) { p.MerchantID = strings.Repeat("m", 64<<10) }))
	add("huge-payment-id", strings.Repeat("p", 4096), req(strings.Repeat("p", 4096), func(*schemas.PaymentRequested) {}))
	add("huge-metadata", "fz-huge-metadata", req("fz-huge-metadata", func(p *schemas.PaymentRequested) {
		p.Metadata = map[string]string{}
		for i := 0; i < 100; i++ {
			p.Metadata["k"+strconv.Itoa(i)] = "v"
		}
	}))
	add("invalid-utf8-merchant", "fz-utf8", req("fz-utf8", func(p *schemas.PaymentRequested) { p.MerchantID = "m\xff\xfe" }))
	add("control-characters-token", "fz-control", req("fz-control", func(p *schemas.PaymentRequested) { p.PaymentMethod.Token = "tok\napprove" }))
	add("unicode-payment-id", "fz-ünïcødé-💳", req("fz-ünïcødé-💳", func(*schemas.PaymentRequested) {}))
	add("unicode-currency", "fz-currency-unicode", req("fz-currency-unicode", func(p *schemas.PaymentRequested) { p.Currency = "€UR" }))
	add("unknown-currency", "fz-currency", req("fz-currency", func(p *schemas.PaymentRequested) { p.Currency = "XYZ" }))
	add("lower-case-currency", "fz-currency-lower", req("fz-currency-lower", func(p *schemas.PaymentRequested) { p.Currency = "eur" }))
	add("negative-amount", "fz-negative", req("fz-negative", func(p *schemas.PaymentRequested) { p.AmountMinor = -1250 }))
	add("zero-amount", "fz-zero", req("fz-zero", func(p *schemas.PaymentRequested) { p.AmountMinor = 0 }))
	add("min-int64-amount", "fz-min-amount", req("fz-min-amount", func(p *schemas.PaymentRequested) { p.AmountMinor = math.MinInt64 }))
	add("max-int64-amount", "fz-max-amount", req("fz-max-amount", func(p *schemas.PaymentRequested) { p.AmountMinor = math.MaxInt64 }))
	add("amount-over-limit", "fz-over-limit", req("fz-over-limit", func(p *schemas.PaymentRequested) { p.AmountMinor = schemas.MaxAmountMinor + 1 }))
	add("overlong-amount-varint", "fz-amount-varint", overlongAmount(t, env, bytes.Repeat([]byte{0xff}, 11)))
	add("missing-payment-id", "", req("", func(*schemas.PaymentRequested) {}))
	add("missing-payment-id-with-key", "fz-no-id", req("", func(*schemas.PaymentRequested) {}))
	add("key-differs-from-payment-id", "fz-other-key", req("fz-key-mismatch", func(*schemas.PaymentRequested) {}))
	add("missing-token", "fz-no-token", req("fz-no-token", func(p *schemas.PaymentRequested) { p.PaymentMethod.Token = "" }))
	add("unknown-operation", "fz-operation", req("fz-operation", func(p *schemas.PaymentRequested) { p.Operation = schemas.OpUnknown }))
	add("bad-bin", "fz-bin", req("fz-bin", func(p *schemas.PaymentRequested) { p.PaymentMethod.BIN = "42x" }))
	add("bad-expiry", "fz-expiry", req("fz-expiry", func(p *schemas.PaymentRequested) { p.PaymentMethod.ExpiryMonth = 13 }))
	add("unknown-psp-candidate", "fz-unknown-psp", req("fz-unknown-psp", func(p *schemas.PaymentRequested) {
		p.Routing.Candidates = []schemas.Candidate{{PSP: "psp-nope", Rank: 1}}
	}))
	add("unknown-route-ref", "fz-route-ref", req("fz-route-ref", func(p *schemas.PaymentRequested) {
		p.Routing = schemas.Routing{RouteRef: "Route_nope"}
	}))
	add("duplicate-rank", "fz-rank", req("fz-rank", func(p *schemas.PaymentRequested) {
		p.Routing.Candidates = []schemas.Candidate{{PSP: "psp-a", Rank: 1}, {PSP: "psp-b", Rank: 1}}
	}))
	return in
}

// TestCorpusInputsAreBad keeps the corpus builders honest: each of their
// cases is refused by the pure path.
func TestCorpusInputsAreBad(t *testing.T) {
	env := newFuzzEnv(t)
	for name, kv := range corpusInputs(t, env) {
		t.Run(name, func(t *testing.T) {
			if !utf8.Valid(kv[0]) {
				t.Fatalf("key is not UTF-8")
			}
			req, err := env.serde.DecodePaymentRequested(kv[1])
			if err == nil && string(kv[0]) == req.PaymentID {
				if _, rerr := env.router.Route(req); rerr == nil {
					t.Fatal("accepted")
				}
			}
			env.check(t, kv[0], kv[1])
			if os.Getenv("WRITE_FUZZ_CORPUS") != "" {
				writeCorpusEntry(t, name, kv[0], kv[1])
			}
		})
	}
}

// writeCorpusEntry writes one committed corpus file.
func writeCorpusEntry(t *testing.T, name string, key, value []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	b.WriteString("[]byte(" + strconv.Quote(string(key)) + ")\n")
	b.WriteString("[]byte(" + strconv.Quote(string(value)) + ")\n")
	path := filepath.Join("testdata", "fuzz", "FuzzConsumerInput", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
