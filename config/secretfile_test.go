package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/config/tlstest"
)

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v, err := config.ReadSecretFile(write("ok", "  s3cret-value\n")); err != nil || v != "s3cret-value" {
		t.Fatalf("ReadSecretFile = %q, %v", v, err)
	}
	for name, path := range map[string]string{
		"missing": filepath.Join(dir, "nope"),
		"empty":   write("empty", " \n"),
		"large":   write("large", strings.Repeat("x", config.MaxSecretFileBytes+1)),
	} {
		if v, err := config.ReadSecretFile(path); err == nil || v != "" || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("%s: ReadSecretFile = %q, %v; want an error that does not quote the content", name, v, err)
		}
	}
}

func TestTLSLoad(t *testing.T) {
	if c, err := (config.TLSConfiguration{}).Load(); c != nil || err != nil {
		t.Fatalf("disabled: %v, %v", c, err)
	}
	pki := tlstest.New(t)
	c, err := pki.Client(true).Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCAs == nil || len(c.Certificates) != 1 || c.InsecureSkipVerify || c.MinVersion == 0 {
		t.Fatalf("loaded %+v", c)
	}
	if _, err := (config.TLSConfiguration{Enabled: true, CertFile: pki.ClientCertFile}).Load(); err == nil {
		t.Fatal("a certificate without its key loaded")
	}
}
