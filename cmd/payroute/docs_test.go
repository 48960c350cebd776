package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
)

// TestEveryCommandHasHelp: `payroute <command> --help` prints the command's
// usage, for every command, and does nothing else.
func TestEveryCommandHasHelp(t *testing.T) {
	stderr := os.Stderr
	defer func() { os.Stderr = stderr }()
	for name, c := range commands {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		os.Stderr = f // the commands print their usage there
		err = c.run([]string{"--help"})
		os.Stderr = stderr
		_ = f.Close()
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("payroute %s --help: %v", name, err)
		}
		usage, _ := os.ReadFile(f.Name())
		if !strings.Contains(string(usage), "Usage: payroute "+name) {
			t.Errorf("payroute %s --help does not print its usage:\n%s", name, usage)
		}
		if c.summary == "" {
			t.Errorf("payroute %s has no summary for payroute --help", name)
		}
	}
}

// TestREADMEDocumentsEveryCommand keeps the README's command table
// complete.
func TestREADMEDocumentsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range commands {
		if !strings.Contains(string(b), "| `payroute "+name+"` |") {
			t.Errorf("README.md's command table lacks payroute %s", name)
		}
	}
	for _, cmd := range []string{"scripts/demo.sh --payments 3000", "scripts/test.sh"} {
		if !strings.Contains(string(b), "\n"+cmd+"\n") {
			t.Errorf("README.md's quick start lacks %q", cmd)
		}
	}
}

// TestAnalystGuide keeps docs/analysts.md true: it names every table the
// migrations create and every query of the pack, and its SQL examples run
// on ClickHouse against the real schema.
func TestAnalystGuide(t *testing.T) {
	b, err := os.ReadFile("../../docs/analysts.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(b)
	migrations, err := filepath.Glob("../../analytics/migrations/*.sql")
	if err != nil || len(migrations) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	createTable := regexp.MustCompile(`CREATE TABLE IF NOT EXISTS \{\{\.Database\}\}\.([a-z_]+)`)
	for _, m := range migrations {
		sql, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, tbl := range createTable.FindAllStringSubmatch(string(sql), -1) {
			if !strings.Contains(guide, "`"+tbl[1]+"`") {
				t.Errorf("docs/analysts.md does not describe table %s (%s)", tbl[1], filepath.Base(m))
			}
		}
	}
	queries, err := analytics.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if !strings.Contains(guide, "| `"+q.Name+"` |") {
			t.Errorf("docs/analysts.md's query pack table lacks %s", q.Name)
		}
	}

	addr := clickhousetest.Addr(t)
	ch := analytics.DefaultConfiguration().ClickHouse
	ch.Addr = addr
	ch.Database = "payroute_guide_" + randomSuffix(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database)
		_ = conn.Close()
	}()
	if err := analytics.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(guide, -1)
	if len(examples) == 0 {
		t.Fatal("no SQL examples")
	}
	for _, ex := range examples {
		sql := strings.ReplaceAll(ex[1], "payroute.", ch.Database+".")
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Errorf("example fails: %v\n%s", err, ex[1])
			continue
		}
		rows.Close()
	}
}
