package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/payroute/payroute/config"
)

const referencePath = "../../docs/configuration.md"

// TestConfigurationReferenceIsCurrent keeps docs/configuration.md equal to
// what `payroute config --reference` generates from the configuration
// structs: a new or changed key, default or doc comment fails it until the
// file is generated again.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := writeReference(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/configuration.md is out of date: run `go run ./cmd/payroute config --reference > docs/configuration.md` at the repository root and commit it")
	}
}

// TestReferenceMatchesTheLoader checks the reference against what the
// loader itself uses: every key a dump of the defaults has is in the
// reference, with the environment variable the loader reads, and doc
// comments come from the right structs (inline ones included).
func TestReferenceMatchesTheLoader(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := config.Reference(DefaultConfiguration(), sourceDirs(root))
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]config.RefKey{}
	for _, k := range keys {
		byPath[k.Path] = k
	}
	dump, err := config.Dump(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(dump, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := config.JoinKey(path, n.Content[i].Value)
			k, ok := byPath[p]
			if !ok {
				t.Errorf("the dump has %s, the reference does not", p)
				continue
			}
			if k.Type == "section" {
				walk(n.Content[i+1], p)
			} else if k.Env != "" && k.Env != config.EnvName(p) {
				t.Errorf("%s: reference says %s, the loader reads %s", p, k.Env, config.EnvName(p))
			}
		}
	}
	walk(doc.Content[0], "")

	for path, want := range map[string]struct{ doc, def, env string }{
		"kafka.brokers":             {"Brokers are the seed brokers", "", "PAYROUTE_KAFKA_BROKERS"},
		"admin.listen":              {"Listen is the TCP address", "127.0.0.1:8080", "PAYROUTE_ADMIN_LISTEN"},
		"analytics.flush_interval":  {"FlushInterval is the longest", "1s", "PAYROUTE_ANALYTICS_FLUSH_INTERVAL"},
		"router.rules[].route":      {"Route names a stored route", "", ""}, // declared by the inline Target
		"psps.accounts.<name>.kind": {"Kind selects the connector", "", ""},
		"log":                       {"Log configures the process log", "", ""},
	} {
		k, ok := byPath[path]
		if !ok {
			t.Errorf("reference lacks %s", path)
			continue
		}
		if !strings.HasPrefix(k.Doc, want.doc) || k.Default != want.def || k.Env != want.env {
			t.Errorf("%s = %+v, want doc %q..., default %q, env %q", path, k, want.doc, want.def, want.env)
		}
	}
	if k := byPath["psps.accounts.<name>.api_key"]; !k.Secret {
		t.Errorf("psps.accounts.<name>.api_key is tagged secret: %+v", k)
	}
}
