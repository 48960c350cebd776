package chaos

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/kafka/kafkatest"
	"github.com/payroute/payroute/schemas"
)

// Finding is one place where card data, or a field meant for it, was seen.
// It never quotes what was found: that would copy the card number into the
// report.
type Finding struct {
	// Kind is "pan" (a Luhn-valid 13-19 digit run, see schemas.ContainsPAN),
	// "cvv_field" (a field named like a card security code) or "secret
	// <name>" (a credential given to Secret).
	Kind string
	// Where says which topic and offset, log line or table and column.
	Where string
}

func (f Finding) String() string { return f.Kind + " in " + f.Where }

// cvvName matches names of fields that hold a card security code: CVV,
// CVV2, CVC, CVC2, CID, CSC, CAV2, "security code", "card verification
// value/code". PSP decline codes such as incorrect_cvc do not match: the
// name must stand alone, as a key, header or column.
var cvvName = regexp.MustCompile(`(?i)^(cvv2?|cvc2?|cav2|cid|csc|card[_ -]?security[_ -]?code|security[_ -]?code|card[_ -]?verification([_ -]?(value|code))?)$`)

// cvvField matches such a name used as a key in text: `cvv=...`,
// `"cvc": ...`, `cvv2: ...` (slog text and JSON output, YAML, query
// strings), whatever the value.
var cvvField = regexp.MustCompile(`(?i)(^|[^a-z0-9_])"?(cvv2?|cvc2?|cav2|csc|card[_ -]?security[_ -]?code|security[_ -]?code|card[_ -]?verification([_ -]?(value|code))?)"?\s*[=:]`)

// Scanner looks for card data in everything a run wrote: every record of
// every topic (keys, values, header keys and values, aborted transactions
// included), every log line, and every row and column name of every table.
// Avro values are scanned as written: strings are stored as raw bytes, so a
// card number in any string field is a digit run in the value. It is safe
// for concurrent use.
type Scanner struct {
	mu       sync.Mutex
	secrets  map[string]string // value -> name, see Secret
	findings []Finding
	counts   map[string]int64 // what was scanned: records, log lines, rows
	partial  []byte           // log output not ended by a newline yet
	line     int64
}

// NewScanner returns an empty scanner.
func NewScanner() *Scanner { return &Scanner{counts: map[string]int64{}} }

// maxFindings bounds what a scanner keeps; the count goes on.
const maxFindings = 100

func (s *Scanner) add(kind, where string) {
	s.counts["findings"]++
	if len(s.findings) < maxFindings {
		s.findings = append(s.findings, Finding{Kind: kind, Where: where})
	}
}

// text scans free text: PANs and security-code keys. Callers hold s.mu.
func (s *Scanner) text(where string, b []byte) {
	if len(b) == 0 {
		return
	}
	if schemas.ContainsPAN(string(b)) {
		s.add("pan", where)
	}
	if cvvField.Match(b) {
		s.add("cvv_field", where)
	}
	for v, name := range s.secrets {
		if bytes.Contains(b, []byte(v)) {
			s.add("secret "+name, where)
		}
	}
}

// Secret makes the scanner also look for a credential (a password the run
// configured), reported as a finding of kind "secret <name>".
func (s *Scanner) Secret(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]string{}
	}
	s.secrets[value] = name
}

// name scans a field name (header key, column). Callers hold s.mu.
func (s *Scanner) name(where, n string) {
	if cvvName.MatchString(n) {
		s.add("cvv_field", where)
	}
	s.text(where, []byte(n))
}

// Record scans one Kafka record.
func (s *Scanner) Record(r *kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts["records"]++
	where := fmt.Sprintf("topic %s partition %d offset %d", r.Topic, r.Partition, r.Offset)
	s.text(where+" key", r.Key)
	s.text(where+" value", r.Value)
	for _, h := range r.Headers {
		s.name(where+" header name", h.Key)
		s.text(where+" header "+h.Key, h.Value)
	}
}

// Write scans log output line by line; give it to slog handlers (it is an
// io.Writer). It never fails and keeps nothing but a partial last line.
func (s *Scanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := p
	if len(s.partial) > 0 {
		data = append(s.partial, p...)
		s.partial = nil
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		s.line++
		s.counts["log lines"]++
		s.text(fmt.Sprintf("log line %d", s.line), data[:i])
		data = data[i+1:]
	}
	if len(data) > 0 {
		s.partial = append([]byte(nil), data...)
	}
	return len(p), nil
}

// Topics reads every payroute topic from its start to its end, read
// uncommitted (aborted transactions are in the log too), and scans every
// record.
func (s *Scanner) Topics(ctx context.Context, cluster *kafka.Cluster) error {
	var topics []string
	for t := range cluster.Topics().All() {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	return kafkatest.ReadToEnd(ctx, cluster, topics, false, 0, s.Record)
}

// Tables scans every row of every table of the database: the values of
// every String and Array(String) column, and every column name. Numeric
// columns hold amounts, times, offsets and counters: a sum of millisecond
// durations can be any 13-digit number, and would pass the Luhn check one
// time in ten without being card data.
func (s *Scanner) Tables(ctx context.Context, conn *analytics.Conn) error {
	type column struct{ table, name, typ string }
	// Materialized views are skipped: reading one reads its TO table,
	// which is scanned as itself.
	rows, err := conn.Query(ctx, "SELECT c.table, c.name, c.type FROM system.columns AS c ANY INNER JOIN "+
		"(SELECT name AS table FROM system.tables WHERE database = ? AND engine != 'MaterializedView') AS t USING table "+
		"WHERE c.database = ? ORDER BY c.table, c.name", conn.Database, conn.Database)
	if err != nil {
		return fmt.Errorf("scan: columns: %w", err)
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	byTable := map[string][]string{}
	var order []string
	for _, c := range cols {
		s.mu.Lock()
		s.name(fmt.Sprintf("table %s column name", c.table), c.name)
		s.mu.Unlock()
		var expr string
		switch {
		case c.typ == "String" || strings.HasPrefix(c.typ, "FixedString"):
			expr = "toString(`" + c.name + "`)"
		case c.typ == "Array(String)":
			expr = "arrayStringConcat(`" + c.name + "`, ' ')"
		default:
			continue // numbers, dates, aggregate states
		}
		if _, ok := byTable[c.table]; !ok {
			order = append(order, c.table)
		}
		byTable[c.table] = append(byTable[c.table], c.name+"\x00"+expr)
	}
	for _, table := range order {
		if err := s.table(ctx, conn, table, byTable[table]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scanner) table(ctx context.Context, conn *analytics.Conn, table string, cols []string) error {
	names := make([]string, len(cols))
	exprs := make([]string, len(cols))
	for i, c := range cols {
		names[i], exprs[i], _ = strings.Cut(c, "\x00")
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + conn.Database + ".`" + table + "`"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("scan: table %s: %w", table, err)
	}
	defer rows.Close()
	vals := make([]string, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := int64(0)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("scan: table %s: %w", table, err)
		}
		n++
		s.mu.Lock()
		for i, v := range vals {
			s.text(fmt.Sprintf("table %s row %d column %s", table, n, names[i]), []byte(v))
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.counts["table rows"] += n
	s.mu.Unlock()
	return rows.Err()
}

// Findings are what the scanner found, at most the first 100.
func (s *Scanner) Findings() []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Finding(nil), s.findings...)
}

// Counts says how much was scanned ("records", "log lines", "table rows")
// and how many findings there were in all ("findings").
func (s *Scanner) Counts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}
