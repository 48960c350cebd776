package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/payroute/payroute/config"
)

// SASL mechanisms payroute can authenticate with.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfiguration authenticates payroute's Kafka clients.
//
// PLAIN sends the password as is: use it only with TLS on (Confluent Cloud,
// for example, requires both). SCRAM never sends the password, but without
// TLS the records themselves still travel in clear.
type SASLConfiguration struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Empty: no SASL,
	// and the other keys must be empty too.
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user (a Confluent Cloud API key).
	Username string `yaml:"username"`
	// Password is the user's password. Prefer PasswordFile, or set it from
	// the environment (PAYROUTE_KAFKA_SASL_PASSWORD) rather than in the
	// file; it is redacted in `payroute config` and never logged.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is a file holding the password, re-read at every
	// authentication so that a rotated password is used by the next
	// connection. Set Password or PasswordFile, not both.
	PasswordFile string `yaml:"password_file"`
}

// Validate checks the SASL keys. Keys are relative to "sasl".
func (c SASLConfiguration) Validate() error {
	var errs []error
	switch c.Mechanism {
	case "":
		if c.Username != "" || c.Password != "" || c.PasswordFile != "" {
			errs = append(errs, config.Errorf("mechanism", "required when username or a password is set: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
		}
		return errors.Join(errs...)
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		errs = append(errs, config.Errorf("mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.Mechanism))
	}
	if c.Username == "" {
		errs = append(errs, config.Errorf("username", "required with mechanism %s", c.Mechanism))
	}
	switch {
	case c.Password != "" && c.PasswordFile != "":
		errs = append(errs, config.Errorf("password", "set password or password_file, not both"))
	case c.Password == "" && c.PasswordFile == "":
		errs = append(errs, config.Errorf("password", "required with mechanism %s: set password (better from PAYROUTE_KAFKA_SASL_PASSWORD) or password_file", c.Mechanism))
	}
	return errors.Join(errs...)
}

// password returns the password, reading PasswordFile when it is set.
func (c SASLConfiguration) password() (string, error) {
	if c.PasswordFile != "" {
		return config.ReadSecretFile(c.PasswordFile)
	}
	return c.Password, nil
}

// mechanism is the franz-go SASL mechanism, nil when SASL is off. The
// password is fetched at each authentication (see PasswordFile).
func (c SASLConfiguration) mechanism() (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// A missing or empty password file fails now, with a clear error,
	// rather than at the first connection.
	if _, err := c.password(); err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	switch c.Mechanism {
	case SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pw, err := c.password()
			return plain.Auth{User: c.Username, Pass: pw}, err
		}), nil
	case SASLScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			pw, err := c.password()
			return scram.Auth{User: c.Username, Pass: pw}, err
		}), nil
	default:
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			pw, err := c.password()
			return scram.Auth{User: c.Username, Pass: pw}, err
		}), nil
	}
}

// securityOpts are the client options of TLS and SASL, read once when the
// cluster is built so that a bad file or key fails at start.
func (c Configuration) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tlsCfg, err := c.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	if tlsCfg != nil {
		// franz-go sets ServerName from each broker's host when it is empty.
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka sasl: %w", err)
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}
