package psp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/payroute/payroute/config"
)

// Redacted is what a Secret prints instead of its value.
const Redacted = "***"

// Secret is a credential read from the environment or a file (see
// Account.ReadAPIKey). It never shows its value: fmt (every verb, %+v and %#v
// included), log/slog, encoding/json and YAML print Redacted, and the value
// is held behind a pointer, so even printing a struct that contains a
// Secret in an unexported field shows an address, not the key. Only Reveal
// returns the value, and connectors call it solely to set the
// authentication header of a request.
type Secret struct{ v *string }

// NewSecret wraps a value; tests use it, configuration goes through
// Account.ReadAPIKey.
func NewSecret(value string) Secret { return Secret{v: &value} }

// Reveal returns the value. Never log or wrap it in an error.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String returns Redacted, or "" for an empty secret.
func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// GoString is String, so %#v does not print the pointer's target.
func (s Secret) GoString() string { return s.String() }

// Format prints String for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue makes slog print String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText makes encoders (JSON, YAML) print String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Redact replaces every occurrence of the secret in text with Redacted.
// Connectors pass every text a PSP sends back (error messages end up in
// AttemptRecorded.message, in logs and in ClickHouse) through it, because
// some servers echo the credential they refused: stripe-mock's 401 answer
// quotes the Authorization header it got.
func (s Secret) Redact(text string) string {
	v := s.Reveal()
	if v == "" || text == "" {
		return text
	}
	return strings.ReplaceAll(text, v, Redacted)
}

// maxSecretFile bounds a credential file: an API key is a few hundred bytes,
// so a larger file is the wrong file.
const maxSecretFile = 64 << 10

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkCredential validates where an account's API key comes from, without
// reading it: at most one of env and file, a valid variable name that the
// configuration loader does not own (it rejects unknown PAYROUTE_ variables,
// so a key there could never be set), an absolute or relative file path, and
// never a literal. Keys are joined under key ("accounts.stripe-eu").
func (a Account) checkCredential(key string) []error {
	var errs []error
	if a.APIKey != "" {
		// Never echo the value: it is a secret written where it must not be.
		errs = append(errs, config.Errorf(key+".api_key", "literal secrets are not accepted in the configuration; put the key in an environment variable or a file and name it with api_key_env or api_key_file"))
	}
	if a.APIKeyEnv != "" && a.APIKeyFile != "" {
		errs = append(errs, config.Errorf(key+".api_key_env", "set api_key_env or api_key_file, not both"))
	}
	if a.APIKeyEnv != "" {
		switch {
		case !envNamePattern.MatchString(a.APIKeyEnv):
			errs = append(errs, config.Errorf(key+".api_key_env", "%q is not an environment variable name", a.APIKeyEnv))
		case strings.HasPrefix(strings.ToUpper(a.APIKeyEnv), "PAYROUTE_"):
			errs = append(errs, config.Errorf(key+".api_key_env", "%q starts with PAYROUTE_, which payroute reserves for configuration keys; choose another name (e.g. STRIPE_API_KEY)", a.APIKeyEnv))
		}
	}
	if a.APIKeyFile != "" && strings.ContainsRune(a.APIKeyFile, 0) {
		errs = append(errs, config.Errorf(key+".api_key_file", "not a file path"))
	}
	return errs
}

// HasAPIKey reports whether the account names a source for its API key.
func (a Account) HasAPIKey() bool { return a.APIKeyEnv != "" || a.APIKeyFile != "" }

// ReadAPIKey reads the account's API key from the environment variable named
// by APIKeyEnv or the file at APIKeyFile. A file's trailing newline and
// surrounding spaces are dropped (secret files are usually written with
// echo). It fails when neither is configured, the variable is unset or
// empty, or the file is unreadable, empty or larger than 64 KiB; errors name
// the variable or file, never the value.
func (a Account) ReadAPIKey() (Secret, error) {
	switch {
	case a.APIKeyEnv != "":
		v, ok := os.LookupEnv(a.APIKeyEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("api_key_env: environment variable %s is unset or empty", a.APIKeyEnv)
		}
		return NewSecret(strings.TrimSpace(v)), nil
	case a.APIKeyFile != "":
		f, err := os.Open(a.APIKeyFile)
		if err != nil {
			return Secret{}, fmt.Errorf("api_key_file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return Secret{}, fmt.Errorf("api_key_file: reading %s: %w", a.APIKeyFile, err)
		}
		if len(b) > maxSecretFile {
			return Secret{}, fmt.Errorf("api_key_file: %s is larger than %d bytes, so it is not an API key", a.APIKeyFile, maxSecretFile)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("api_key_file: %s is empty", a.APIKeyFile)
		}
		return NewSecret(v), nil
	default:
		return Secret{}, errors.New("api_key_env or api_key_file: required (the API key is read from the environment or a file, never from the configuration)")
	}
}
