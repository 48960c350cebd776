package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The types of testdata/refdocs/types.go, where their doc comments are.
type refRoot struct {
	Server   refServer             `yaml:"server"`
	Accounts map[string]refAccount `yaml:"accounts"`
	Rules    []refRule             `yaml:"rules"`
}

type refServer struct {
	Listen   string          `yaml:"listen"`
	Timeouts []time.Duration `yaml:"timeouts"`
	Retries  int             `yaml:"retries"`
	Token    string          `yaml:"token" secret:"true"`
}

type refAccount struct {
	Kind string `yaml:"kind"`
}

type refRule struct {
	ID        string `yaml:"id"`
	RefTarget `yaml:",inline"`
}

type RefTarget struct {
	Route string `yaml:"route"`
}

func TestReference(t *testing.T) {
	root := refRoot{
		Server:   refServer{Listen: "127.0.0.1:8080", Timeouts: []time.Duration{time.Second, 90 * time.Second}, Token: "s3cret"},
		Accounts: map[string]refAccount{"b": {Kind: "x"}, "a": {}},
	}
	pkg := reflect.TypeOf(root).PkgPath()
	keys, err := Reference(root, func(p string) (string, error) {
		if p == pkg {
			return filepath.Join("testdata", "refdocs"), nil
		}
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []RefKey{
		{Path: "server", Type: "section", Doc: "Server is where it listens."},
		{Path: "server.listen", Type: "string", Default: "127.0.0.1:8080", Env: "PAYROUTE_SERVER_LISTEN", Doc: "Listen is host:port."},
		{Path: "server.timeouts", Type: "list of durations", Default: "[1s, 1m30s]", Env: "PAYROUTE_SERVER_TIMEOUTS", Doc: "Timeouts are tried in turn."},
		{Path: "server.retries", Type: "integer", Default: "0", Env: "PAYROUTE_SERVER_RETRIES", Doc: "Retries is how often."},
		{Path: "server.token", Type: "string", Default: `"***"`, Env: "PAYROUTE_SERVER_TOKEN", Doc: "Token authenticates.", Secret: true},
		{Path: "accounts", Type: "map of refAccount", Default: "entries a, b", Doc: "Accounts by name."},
		{Path: "accounts.<name>.kind", Type: "string", Doc: "Kind of account."},
		{Path: "rules", Type: "list of refRule", Doc: "Rules in order."},
		{Path: "rules[].id", Type: "string", Doc: "ID names the rule."},
		{Path: "rules[].route", Type: "string", Doc: "Route is where matching payments go."},
	}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d:\n%+v", len(keys), len(want), keys)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("key %d:\n got %+v\nwant %+v", i, keys[i], want[i])
		}
	}

	var b strings.Builder
	if err := WriteReference(&b, "# Intro\n", keys); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, s := range []string{
		"# Intro\n\n## server\n\nServer is where it listens.\n\n| key |",
		"| `server.listen` | string | `127.0.0.1:8080` | `PAYROUTE_SERVER_LISTEN` | Listen is host:port. |",
		"| `server.token` | string | `\"***\"` | `PAYROUTE_SERVER_TOKEN` | Token authenticates. *Secret: redacted in dumps.* |",
		"## accounts\n\nAccounts by name.\n\n| key |",
		"| `accounts` | map of refAccount | `entries a, b` |  | Accounts by name. |",
		"| `rules[].route` | string |  |  | Route is where matching payments go. |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "s3cret") {
		t.Error("a secret default is written out")
	}

	if _, err := Reference(root, func(string) (string, error) { return "testdata/missing", nil }); err == nil {
		t.Error("a package whose source cannot be read must be an error")
	}
}
