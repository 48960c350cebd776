package analytics

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The schema is versioned SQL in migrations/NNNN_name.sql, embedded in the
// binary. A file is a text/template whose only field is .Database, holding
// statements separated by semicolons (so no semicolon may appear inside a
// string literal) with "--" comment lines. Files are never edited once
// released: a change is a new file. Every statement is idempotent (IF NOT
// EXISTS and the like), so a migration interrupted half-way is simply run
// again.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one parsed migration file.
type migration struct {
	Version int
	Name    string
	tmpl    *template.Template
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations parses the embedded files, in version order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		m := migrationName.FindStringSubmatch(base)
		if m == nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", base)
		}
		v, _ := strconv.Atoi(m[1])
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(base).Option("missingkey=error").Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", base, err)
		}
		out = append(out, migration{Version: v, Name: m[2], tmpl: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// statements renders the migration for a database and splits it.
func (m migration) statements(database string) ([]string, error) {
	var buf bytes.Buffer
	if err := m.tmpl.Execute(&buf, struct{ Database string }{database}); err != nil {
		return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	return splitStatements(buf.String()), nil
}

// splitStatements drops "--" comment lines and splits on semicolons.
func splitStatements(sql string) []string {
	var kept []string
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		kept = append(kept, line)
	}
	var out []string
	for _, s := range strings.Split(strings.Join(kept, "\n"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Migrate brings the database up to this build's schema: it creates the
// database and the bookkeeping table <database>.schema_migrations if needed,
// then runs, in version order, every migration not recorded there, recording
// each once it has run. Running it again, or from several instances at once,
// is harmless: the statements are idempotent and a version recorded twice
// counts once. Versions in the table that this build does not know (a newer
// payroute ran) are left alone.
func Migrate(ctx context.Context, c *Conn) error { return migrate(ctx, c, false) }

// migrate is Migrate; with all, it runs every migration whatever is
// recorded, which is how the sink restores tables dropped under it (every
// statement being idempotent, the ones still in place are left alone).
func migrate(ctx context.Context, c *Conn, all bool) error {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+c.Database); err != nil {
		return fmt.Errorf("create database %s: %w", c.Database, err)
	}
	if err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+c.table("schema_migrations")+` (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY version`); err != nil {
		return fmt.Errorf("create %s: %w", c.table("schema_migrations"), err)
	}
	applied, err := AppliedMigrations(ctx, c)
	if err != nil {
		return err
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range migrations {
		if done[m.Version] && !all {
			continue
		}
		stmts, err := m.statements(c.Database)
		if err != nil {
			return err
		}
		for i, s := range stmts {
			if err := runStatement(ctx, c, s); err != nil {
				return fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if done[m.Version] {
			continue
		}
		if err := recordMigration(ctx, c, m); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// addColumn matches "ALTER TABLE db.table ADD COLUMN name ...", one column.
var addColumn = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\s+ADD\s+COLUMN\s+([A-Za-z0-9_]+)\s`)

// runStatement runs one migration statement. An ADD COLUMN of a column the
// table already has is skipped: ClickHouse 18.16 has no ADD COLUMN IF NOT
// EXISTS, and every statement must be idempotent (a migration interrupted
// half-way runs again, and the sink re-runs them all when tables vanish).
func runStatement(ctx context.Context, c *Conn, stmt string) error {
	if m := addColumn.FindStringSubmatch(stmt); m != nil {
		rows, err := c.Query(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", m[1], m[2], m[3])
		if err != nil {
			return fmt.Errorf("look up column %s.%s.%s: %w", m[1], m[2], m[3], err)
		}
		var n uint64
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// Another instance may add it between the check and the ALTER
		// (several migrate at once); its error then means done.
		if err := c.Exec(ctx, stmt); err != nil && !strings.Contains(err.Error(), "column with this name already exists") {
			return err
		}
		return nil
	}
	return c.Exec(ctx, stmt)
}

// recordMigration notes a migration as applied. It is a one-row batch
// rather than INSERT ... VALUES through Exec: 18.16 waits, over the native
// protocol, for data blocks after an INSERT's inline values, which
// clickhouse-go's Exec does not send, and the statement hangs.
func recordMigration(ctx context.Context, c *Conn, m migration) (err error) {
	b, err := c.PrepareBatch(ctx, "INSERT INTO "+c.table("schema_migrations")+" (version, name, applied_at)")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = b.Abort()
		}
	}()
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second)); err != nil {
		return err
	}
	return b.Send()
}

// AppliedMigrations lists the versions recorded in <database>.schema_migrations,
// ascending, each once.
func AppliedMigrations(ctx context.Context, c *Conn) ([]int, error) {
	rows, err := c.Query(ctx, "SELECT DISTINCT version FROM "+c.table("schema_migrations")+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.table("schema_migrations"), err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, int(v))
	}
	return out, rows.Err()
}
