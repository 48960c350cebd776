package analytics

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- a comment; with a semicolon\nCREATE X;\n\n  -- another\nCREATE Y\n(a String);\n")
	want := []string{"CREATE X", "CREATE Y\n(a String)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMigrationsParse(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations: %+v", ms)
	}
	for _, m := range ms {
		stmts, err := m.statements("somedb")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if strings.Contains(s, "payroute.") || strings.Contains(s, "{{") {
				t.Errorf("migration %d: statement not templated on the database: %s", m.Version, s)
			}
			// Types 18.16 does not have.
			for _, bad := range []string{"DateTime64", "Map(", "LowCardinality", "JSON"} {
				if strings.Contains(s, bad) {
					t.Errorf("migration %d uses %s, unknown to ClickHouse 18.16", m.Version, bad)
				}
			}
			// An ADD COLUMN is idempotent only through runStatement's check,
			// which reads one column per statement, without IF NOT EXISTS
			// (a syntax error on 18.16).
			if n := strings.Count(strings.ToUpper(s), "ADD COLUMN"); n > 0 {
				if n != 1 || addColumn.FindStringSubmatch(s) == nil || strings.Contains(strings.ToUpper(s), "IF NOT EXISTS") {
					t.Errorf("migration %d: %q: want one ADD COLUMN per statement, as ALTER TABLE db.table ADD COLUMN name type", m.Version, s)
				}
			}
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	c := openTest(t, cfg)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := Migrate(ctx, c); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := AppliedMigrations(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) {
		t.Fatalf("applied %v, want %d migrations", applied, len(ms))
	}
	// Recorded once each: the second run applied nothing.
	if n := count(t, c, "SELECT count() FROM "+c.table("schema_migrations")); n != uint64(len(ms)) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	// The tables exist, in the configured database only, and the sink's
	// named column lists are exactly their columns.
	for table, cols := range map[string][]string{"attempts": names(attemptColumns), "payments": names(paymentColumns), "requests": names(requestColumns)} {
		rows, err := c.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ?", c.Database, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		rows.Close()
		sort.Strings(got)
		sort.Strings(cols)
		if !reflect.DeepEqual(got, cols) {
			t.Errorf("%s: table columns %v, inserted columns %v", table, got, cols)
		}
	}
	// Losing the bookkeeping table is harmless: every statement is
	// idempotent, so a re-run over the existing tables succeeds and records
	// the versions again.
	if err := c.Exec(ctx, "DROP TABLE "+c.table("schema_migrations")); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, c); err != nil {
		t.Fatalf("re-run on existing tables: %v", err)
	}
	if n := count(t, c, "SELECT count() FROM "+c.table("schema_migrations")); n != uint64(len(ms)) {
		t.Fatalf("schema_migrations has %d rows after re-run, want %d", n, len(ms))
	}
}

func names[R any](cols []column[R]) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}
