// Package clickhouse_test checks the deployment files of this directory
// against a real ClickHouse server: a private clickhouse-server (the binary
// scripts/clickhouse.sh installs) started on free loopback ports with the
// users.d file users.sh renders, so that the shared test server is left
// alone.
package clickhouse_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/config/tlstest"
)

const (
	writerPassword  = "writer-test-password"
	analystPassword = "analyst-test-password"
)

// server is a private ClickHouse server.
type server struct {
	addr, secureAddr string
	pki              *tlstest.PKI
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func serverBinary(t *testing.T) string {
	t.Helper()
	// The tests that need ClickHouse run where scripts/clickhouse.sh has
	// installed it, which TEST_CLICKHOUSE_ADDR says.
	clickhousetest.Addr(t)
	for _, b := range []string{"/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"} {
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	if b, err := exec.LookPath("clickhouse-server"); err == nil {
		return b
	}
	t.Fatal("clickhouse-server is not installed (scripts/clickhouse.sh start installs it)")
	return ""
}

// render runs users.sh with the test passwords.
func render(t *testing.T, mode string, env ...string) string {
	t.Helper()
	cmd := exec.Command("./users.sh", mode)
	cmd.Env = append(os.Environ(), append([]string{
		"CH_WRITER_PASSWORD=" + writerPassword, "CH_ANALYST_PASSWORD=" + analystPassword,
	}, env...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("users.sh %s: %v\n%s", mode, err, stderr.String())
	}
	return string(out)
}

// startServer starts clickhouse-server with payroute's users and a TLS
// port, and stops it when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := serverBinary(t)
	dir := t.TempDir()
	s := &server{pki: tlstest.New(t)}
	port, securePort, httpPort := freePort(t), freePort(t), freePort(t)
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.secureAddr = fmt.Sprintf("127.0.0.1:%d", securePort)
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log", "users.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("config.xml", fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]d</tcp_port>
    <tcp_port_secure>%[3]d</tcp_port_secure>
    <http_port>%[4]d</http_port>
    <openSSL>
        <server>
            <certificateFile>%[5]s</certificateFile>
            <privateKeyFile>%[6]s</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <mark_cache_size>67108864</mark_cache_size>
</yandex>
`, dir, port, securePort, httpPort, s.pki.ServerCertFile, s.pki.ServerKeyFile))
	// The administrator's users.xml; payroute's users come from users.d.
	write("users.xml", `<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks replace="replace"><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`)
	write("users.d/payroute.xml", render(t, "xml"))

	cmd := exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	cmd.Dir = dir
	logFile, err := os.Create(filepath.Join(dir, "log", "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.open(t, "default", "", "default")
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-exited:
			logs, _ := os.ReadFile(filepath.Join(dir, "log", "server.err.log"))
			out, _ := os.ReadFile(filepath.Join(dir, "log", "stdout.log"))
			t.Fatalf("clickhouse-server exited at start:\n%s\n%s", logs, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("clickhouse-server did not answer within 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// open connects as user to the plain port.
func (s *server) open(t *testing.T, user, password, database string) (*analytics.Conn, error) {
	t.Helper()
	cfg := analytics.DefaultConfiguration().ClickHouse
	cfg.Addr, cfg.Username, cfg.Password, cfg.Database = s.addr, user, password, database
	cfg.DialTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return analytics.Open(ctx, cfg)
}

// mustOpen takes Open's results, failing the test on an error and
// closing the connection at its end: mustOpen(t)(analytics.Open(...)).
func mustOpen(t *testing.T) func(*analytics.Conn, error) *analytics.Conn {
	return func(c *analytics.Conn, err error) *analytics.Conn {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

func TestUsersOnClickHouse18(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()

	// The writer runs the migrations and loads rows, with its password
	// from a file as a deployment would.
	pwFile := filepath.Join(t.TempDir(), "writer")
	if err := os.WriteFile(pwFile, []byte(writerPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wcfg := analytics.DefaultConfiguration().ClickHouse
	wcfg.Addr, wcfg.Username, wcfg.PasswordFile = s.addr, "payroute", pwFile
	writer := mustOpen(t)(analytics.Open(ctx, wcfg))
	if err := analytics.Migrate(ctx, writer); err != nil {
		t.Fatalf("migrations as the writer: %v", err)
	}
	if err := writer.Exec(ctx, "INSERT INTO payroute.attempts (attempt_id, payment_id, psp, started_at, started_at_ms) SELECT 'a-1', 'p-1', 'psp-a', now(), 1"); err != nil {
		t.Fatalf("insert as the writer: %v", err)
	}
	if err := writer.Exec(ctx, "CREATE DATABASE elsewhere"); err == nil {
		t.Error("the writer created a database other than payroute")
	}

	admin := mustOpen(t)(s.open(t, "default", "", "default"))
	if err := admin.Exec(ctx, "CREATE TABLE default.private (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}

	analyst := mustOpen(t)(s.open(t, "payroute_analyst", analystPassword, "payroute"))
	var n uint64
	if err := analyst.QueryRow(ctx, "SELECT count() FROM payroute.attempts").Scan(&n); err != nil || n != 1 {
		t.Fatalf("analyst SELECT: %d, %v", n, err)
	}
	for _, q := range []string{
		"INSERT INTO payroute.attempts (attempt_id, payment_id, started_at, started_at_ms) SELECT 'a-2', 'p-2', now(), 2",
		"CREATE TABLE payroute.mine (x UInt8) ENGINE = Memory",
		"DROP TABLE payroute.attempts",
		"ALTER TABLE payroute.attempts DELETE WHERE 1",
		"SELECT count() FROM default.private",
		"SET max_memory_usage = 1",
	} {
		if err := analyst.Exec(ctx, q); err != nil {
			t.Logf("refused %q: %v", q, err)
		} else {
			t.Errorf("the analyst may run %q", q)
		}
	}
	if err := analyst.QueryRow(ctx, "SELECT count() FROM payroute.attempts").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the refused statements: %d rows, %v", n, err)
	}

	// payroute report and the query pack, as an analyst would run them:
	// with a deadline, which clickhouse-go sends as max_execution_time.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rep, err := analytics.Report(rctx, analyst, analytics.ReportOptions{})
	if err != nil || rep.Attempts != 1 {
		t.Fatalf("payroute report as the analyst: %+v, %v", rep, err)
	}
	queries, err := analytics.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if _, err := analytics.RunQuery(rctx, analyst, q.Name, analytics.ReportOptions{}); err != nil {
			t.Errorf("query %s as the analyst: %v", q.Name, err)
		}
	}

	for _, c := range []struct{ user, password string }{
		{"payroute_analyst", "wrong"}, {"payroute", analystPassword}, {"payroute_analyst", ""},
	} {
		if c, err := s.open(t, c.user, c.password, "payroute"); err == nil {
			c.Close()
			t.Errorf("%s logged in with a wrong password", c.Addr)
		}
	}

	// TLS to ClickHouse's secure native port, verifying its certificate.
	tcfg := wcfg
	tcfg.Addr = s.secureAddr
	tcfg.TLS = s.pki.Client(false)
	secure := mustOpen(t)(analytics.Open(ctx, tcfg))
	if err := secure.QueryRow(ctx, "SELECT count() FROM payroute.attempts").Scan(&n); err != nil || n != 1 {
		t.Fatalf("over TLS: %d, %v", n, err)
	}
	tcfg.TLS = tlstest.New(t).Client(false)
	if c, err := analytics.Open(ctx, tcfg); err == nil {
		c.Close()
		t.Error("connected over TLS to a server whose certificate another CA signed")
	}
}

// The SQL for current releases renders with the hashes, never the
// passwords. (Only 18.16 is available to the tests, which has no SQL access
// control, so the statements themselves are checked by reading.)
func TestUsersSQLRenders(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum is not installed")
	}
	sql := render(t, "sql", "CH_DATABASE=acme_payments", "CH_NETWORKS=10.0.0.0/8 ::1")
	for _, want := range []string{
		"CREATE USER IF NOT EXISTS payroute_analyst",
		"SETTINGS readonly = 1",
		"max_execution_time = 600 MAX 600 CHANGEABLE_IN_READONLY",
		"GRANT SELECT ON acme_payments.* TO acme_payments_reader",
		"HOST IP '10.0.0.0/8', IP '::1'",
		"IDENTIFIED WITH sha256_hash BY '",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("rendered SQL lacks %q:\n%s", want, sql)
		}
	}
	if strings.Contains(sql, writerPassword) || strings.Contains(sql, analystPassword) || strings.Contains(sql, "{{") {
		t.Errorf("rendered SQL holds a password or a placeholder:\n%s", sql)
	}
	cmd := exec.Command("./users.sh", "sql")
	cmd.Env = append(os.Environ(), "CH_WRITER_PASSWORD=", "CH_ANALYST_PASSWORD=", "CH_WRITER_PASSWORD_FILE=", "CH_ANALYST_PASSWORD_FILE=")
	if err := cmd.Run(); err == nil {
		t.Error("users.sh rendered users without passwords")
	}
}
