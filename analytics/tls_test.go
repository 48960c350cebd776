package analytics

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payroute/payroute/analytics/clickhousetest"
	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/config/tlstest"
)

// tlsTerminator accepts TLS connections with the server certificate of pki
// (requiring a client certificate signed by its CA) and relays the plain
// stream to target: ClickHouse's tcp_port_secure, in front of the shared
// test server, which has no certificate of its own.
func tlsTerminator(t *testing.T, pki *tlstest.PKI, target string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				// The handshake runs on first use; a refused client ends here.
				if err := in.(*tls.Conn).Handshake(); err != nil {
					return
				}
				out, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestClickHouseOverTLS(t *testing.T) {
	addr := clickhousetest.Addr(t)
	pki := tlstest.New(t)
	secure := tlsTerminator(t, pki, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := DefaultConfiguration().ClickHouse
	cfg.Addr = secure
	cfg.DialTimeout = 2 * time.Second

	t.Run("mutual TLS", func(t *testing.T) {
		c := cfg
		c.TLS = pki.Client(true)
		conn, err := Open(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var one uint8
		if err := conn.QueryRow(ctx, "SELECT toUInt8(1)").Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT over TLS: %d, %v", one, err)
		}
	})
	for _, c := range []struct {
		name string
		tls  config.TLSConfiguration
	}{
		{"plain text to a TLS port", config.TLSConfiguration{}},
		{"no client certificate", pki.Client(false)},
		{"another CA", tlstest.New(t).Client(true)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := cfg
			cc.TLS = c.tls
			conn, err := Open(ctx, cc)
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
		})
	}
}

// The password file is read and sent: the shared server's default user has
// no password, so a file with one is refused by the server itself.
func TestClickHousePasswordFile(t *testing.T) {
	addr := clickhousetest.Addr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "clickhouse-password")
	if err := os.WriteFile(file, []byte("not-the-default-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration().ClickHouse
	cfg.Addr = addr
	cfg.Username = "default"
	cfg.PasswordFile = file
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err == nil {
		conn.Close()
		t.Fatal("the server took a wrong password: was the file sent at all?")
	}
	if strings.Contains(err.Error(), "not-the-default-password") {
		t.Fatalf("the error quotes the password: %v", err)
	}
	cfg.PasswordFile = filepath.Join(dir, "missing")
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestClickHouseCredentialKeys(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*ClickHouseConfiguration)
		want   string // "" valid
	}{
		{"password file", func(c *ClickHouseConfiguration) { c.Username, c.PasswordFile = "payroute", "/run/secrets/ch" }, ""},
		{"file without user", func(c *ClickHouseConfiguration) { c.PasswordFile = "/run/secrets/ch" }, "clickhouse.password_file"},
		{"both passwords", func(c *ClickHouseConfiguration) { c.Username, c.Password, c.PasswordFile = "u", "p", "/f" }, "clickhouse.password"},
		{"tls", func(c *ClickHouseConfiguration) { c.TLS = config.TLSConfiguration{Enabled: true, CAFile: "/ca.pem"} }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfiguration()
			c.mutate(&cfg.ClickHouse)
			err := config.Validate(&cfg)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate: %v, want %q", err, c.want)
			}
		})
	}
}
