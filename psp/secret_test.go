package psp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payroute/payroute/config"
	"gopkg.in/yaml.v3"
)

const testKey = "sk_test_payroute-SecretValue-never-printed"

// Every way a Secret can be printed shows Redacted, never the value.
func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(testKey)
	type exported struct{ Key Secret }
	type unexported struct{ key Secret }
	var out []string
	for _, v := range []any{s, &s, exported{s}, &exported{s}, unexported{s}, &unexported{s}, []Secret{s}, map[string]Secret{"k": s}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T %v"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "key", s, "struct", exported{s}, "ptr", &s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "key", s, "struct", exported{s})
	out = append(out, buf.String())
	j, err := json.Marshal(exported{s})
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(exported{s})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j), string(y), s.String(), s.GoString())
	for _, o := range out {
		if strings.Contains(o, testKey) || strings.Contains(o, "SecretValue") {
			t.Fatalf("secret printed: %s", o)
		}
	}
	if !strings.Contains(string(j), Redacted) || !strings.Contains(buf.String(), Redacted) {
		t.Fatalf("redaction marker missing: %s %s", j, buf.String())
	}
	if s.Reveal() != testKey || s.IsZero() {
		t.Fatal("Reveal")
	}
	var zero Secret
	if zero.String() != "" || !zero.IsZero() || zero.Reveal() != "" {
		t.Fatal("zero secret")
	}
}

func TestSecretRedact(t *testing.T) {
	s := NewSecret(testKey)
	msg := "Authorization was 'Bearer " + testKey + "' and again " + testKey
	got := s.Redact(msg)
	if strings.Contains(got, testKey) || strings.Count(got, Redacted) != 2 {
		t.Fatalf("Redact = %q", got)
	}
	if (Secret{}).Redact("text") != "text" || s.Redact("") != "" {
		t.Fatal("Redact of empty")
	}
}

func TestReadAPIKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("  "+testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("k"), maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PSPTEST_KEY", testKey+"\n")
	t.Setenv("PSPTEST_EMPTY", "")

	for _, a := range []Account{{APIKeyEnv: "PSPTEST_KEY"}, {APIKeyFile: file}} {
		s, err := a.ReadAPIKey()
		if err != nil || s.Reveal() != testKey {
			t.Errorf("%+v: %v %q", a, err, s.Reveal())
		}
	}
	for _, tc := range []struct {
		a    Account
		want string
	}{
		{Account{}, "api_key_env or api_key_file: required"},
		{Account{APIKeyEnv: "PSPTEST_UNSET_VARIABLE"}, "PSPTEST_UNSET_VARIABLE is unset or empty"},
		{Account{APIKeyEnv: "PSPTEST_EMPTY"}, "PSPTEST_EMPTY is unset or empty"},
		{Account{APIKeyFile: filepath.Join(dir, "missing")}, "no such file"},
		{Account{APIKeyFile: empty}, "is empty"},
		{Account{APIKeyFile: big}, "is larger than"},
	} {
		_, err := tc.a.ReadAPIKey()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.a, err, tc.want)
		}
	}
}

// Credentials are references; a literal is rejected without being echoed,
// and a dump never shows it.
func TestCredentialValidation(t *testing.T) {
	cfg := Configuration{Accounts: map[string]Account{
		"literal":  {Kind: "fake-test", APIKey: testKey},
		"both":     {Kind: "fake-test", APIKeyEnv: "STRIPE_API_KEY", APIKeyFile: "/run/secrets/stripe"},
		"reserved": {Kind: "fake-test", APIKeyEnv: "PAYROUTE_STRIPE_KEY"},
		"badname":  {Kind: "fake-test", APIKeyEnv: "STRIPE-KEY"},
		"good":     {Kind: "fake-test", APIKeyEnv: "STRIPE_API_KEY"},
	}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"accounts.literal.api_key: literal secrets are not accepted",
		"accounts.both.api_key_env: set api_key_env or api_key_file, not both",
		`accounts.reserved.api_key_env: "PAYROUTE_STRIPE_KEY" starts with PAYROUTE_`,
		`accounts.badname.api_key_env: "STRIPE-KEY" is not an environment variable name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "accounts.good") {
		t.Errorf("good account reported: %v", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Fatal("validation echoed the secret")
	}
	dump, err := config.Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump), testKey) || !strings.Contains(string(dump), `api_key: "***"`) ||
		!strings.Contains(string(dump), "api_key_env: STRIPE_API_KEY") {
		t.Fatalf("dump:\n%s", dump)
	}
}
