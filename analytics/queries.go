package analytics

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The query pack: documented SQL in queries/NAME.sql answering the
// analysts' standing questions about their PSPs. Each file starts with "--"
// comment lines (the first one "-- NAME: title") saying what it answers,
// what every column means and which table it reads, followed by one SELECT.
// The SELECT is a text/template with the database and the period and
// merchant filters as fields, so that the same file serves payroute report
// --query NAME, the tests and, rendered with payroute report --query NAME
// --sql, clickhouse-client:
//
//	{{.DB}}                   the database, e.g. payroute
//	{{.Period "minute"}}      minute >= toDateTime(...) AND minute < toDateTime(...)
//	{{.Merchant "merchant_id"}} merchant_id = '...', or 1 for every merchant
//
// Periods are whole minutes (the aggregates' resolution): From is rounded
// down and To up, and every query applies the same bounds, to the column
// it names (an attempt's start, a result's completion).
//
//go:embed queries/*.sql
var queryFiles embed.FS

// Query is one query of the pack.
type Query struct {
	// Name is the file name without .sql, e.g. "success_rate".
	Name string
	// Title is the first comment line's text after "NAME: ".
	Title string
	// Doc is the whole comment header, without the "-- " prefixes.
	Doc  string
	tmpl *template.Template
}

var queryName = regexp.MustCompile(`^[a-z0-9_]+\.sql$`)

// Queries lists the query pack, by name.
func Queries() ([]Query, error) {
	names, err := fs.Glob(queryFiles, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Query, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		if !queryName.MatchString(base) {
			return nil, fmt.Errorf("query file %s: want lower-case name.sql", base)
		}
		b, err := queryFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		q, err := parseQuery(strings.TrimSuffix(base, ".sql"), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// QueryByName returns one query of the pack.
func QueryByName(name string) (Query, error) {
	qs, err := Queries()
	if err != nil {
		return Query{}, err
	}
	var names []string
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
		names = append(names, q.Name)
	}
	return Query{}, fmt.Errorf("no query %q in the pack (have: %s)", name, strings.Join(names, ", "))
}

func parseQuery(name, text string) (Query, error) {
	var doc []string
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "--") {
			break
		}
		doc = append(doc, strings.TrimPrefix(strings.TrimPrefix(t, "--"), " "))
	}
	if len(doc) == 0 || !strings.HasPrefix(doc[0], name+": ") {
		return Query{}, fmt.Errorf("query %s: the file must start with a comment line %q", name, "-- "+name+": <title>")
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return Query{}, fmt.Errorf("query %s: %w", name, err)
	}
	return Query{Name: name, Title: strings.TrimPrefix(doc[0], name+": "), Doc: strings.Join(doc, "\n"), tmpl: t}, nil
}

// queryParams are the template fields of a query.
type queryParams struct {
	DB       string
	from, to time.Time
	merchant string
}

// Period is the condition keeping col (a DateTime column) within the period.
func (p queryParams) Period(col string) string {
	return fmt.Sprintf("%s >= toDateTime(%d) AND %s < toDateTime(%d)", col, p.from.Unix(), col, p.to.Unix())
}

// Merchant is the condition keeping col to the merchant, or 1.
func (p queryParams) Merchant(col string) string {
	if p.merchant == "" {
		return "1"
	}
	return col + " = " + quoteString(p.merchant)
}

// quoteString is a ClickHouse string literal.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// Bounds of a DateTime column: 1970 to 2106.
var (
	minDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Unix(1<<32-60, 0).UTC()
)

// period turns report options into whole-minute bounds, From rounded down
// and To up; no bound is the whole DateTime range.
func (o ReportOptions) period() (from, to time.Time) {
	from, to = minDateTime, maxDateTime
	if !o.From.IsZero() && o.From.After(minDateTime) {
		from = o.From.UTC().Truncate(time.Minute)
	}
	if !o.To.IsZero() && o.To.Before(maxDateTime) {
		to = o.To.UTC().Truncate(time.Minute)
		if to.Before(o.To) {
			to = to.Add(time.Minute)
		}
	}
	return from, to
}

// SQL renders the query for a database and a period and merchant.
func (q Query) SQL(database string, opts ReportOptions) (string, error) {
	if !identifier.MatchString(database) {
		return "", fmt.Errorf("database %q: want letters, digits and underscores", database)
	}
	from, to := opts.period()
	var buf bytes.Buffer
	if err := q.tmpl.Execute(&buf, queryParams{DB: database, from: from, to: to, merchant: opts.Merchant}); err != nil {
		return "", fmt.Errorf("query %s: %w", q.Name, err)
	}
	return strings.TrimSpace(buf.String()), nil
}

// QueryResult is the answer to a query of the pack.
type QueryResult struct {
	Query   Query
	Columns []string
	Rows    [][]any
}

// Column returns the index of a column, or -1.
func (r *QueryResult) Column(name string) int {
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// RunQuery runs a query of the pack over the period and merchant of opts.
func RunQuery(ctx context.Context, c *Conn, name string, opts ReportOptions) (*QueryResult, error) {
	q, err := QueryByName(name)
	if err != nil {
		return nil, err
	}
	sql, err := q.SQL(c.Database, opts)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", name, err)
	}
	defer rows.Close()
	res := &QueryResult{Query: q, Columns: rows.Columns()}
	types := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query %s: %w", name, err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query %s: %w", name, err)
	}
	return res, nil
}

// WriteQueryText prints a query's answer as an aligned table under its
// title. Rates (columns ending in _rate) print as percentages.
func WriteQueryText(w io.Writer, r *QueryResult) error {
	var b strings.Builder
	b.WriteString(r.Query.Name + ": " + r.Query.Title + "\n\n")
	if len(r.Rows) == 0 {
		b.WriteString("no rows\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	table := [][]string{r.Columns}
	for _, row := range r.Rows {
		line := make([]string, len(row))
		for i, v := range row {
			line[i] = formatCell(r.Columns[i], v)
		}
		table = append(table, line)
	}
	writeAligned(&b, table)
	_, err := io.WriteString(w, b.String())
	return err
}

func formatCell(column string, v any) string {
	switch x := v.(type) {
	case float64:
		if strings.HasSuffix(column, "_rate") {
			return strconv.FormatFloat(100*x, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(x, 'f', 2, 64)
	case float32:
		return formatCell(column, float64(x))
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04")
	case []float32:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(float64(f), 'f', 0, 32)
		}
		return strings.Join(parts, "/")
	}
	return fmt.Sprint(v)
}
