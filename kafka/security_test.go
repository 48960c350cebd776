package kafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/config/tlstest"
)

// Credentials of the secured test broker; none of them is a real secret.
const (
	scram512User, scram512Pass = "payroute-512", "scram-512-test-password"
	scram256User, scram256Pass = "payroute-256", "scram-256-test-password"
	plainUser, plainPass       = "payroute-plain", "plain-test-password"
)

// securedBroker is an embedded broker that requires mutual TLS with pki's
// certificates and SASL (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512).
func securedBroker(t *testing.T, pki *tlstest.PKI) (Configuration, *Embedded) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Partitions = 2
	e, err := NewEmbedded(cfg,
		kfake.TLS(pki.ServerConfig(true)),
		kfake.EnableSASL(),
		kfake.Superuser(SASLScramSHA512, scram512User, scram512Pass),
		kfake.Superuser(SASLScramSHA256, scram256User, scram256Pass),
		kfake.Superuser(SASLPlain, plainUser, plainPass),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return cfg, e
}

// roundTrip creates the topics, writes a record in a transaction and reads
// it back read_committed: the calls processors and the sink make.
func roundTrip(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	topic := c.Topics().Results
	prod, err := c.NewClient(kgo.TransactionalID("security-test-"+t.Name()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("p-1"), Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cons, err := c.NewClient(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal("record not read back before the deadline")
		}
		var got []string
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) > 0 {
			if got[0] != "over tls" {
				t.Fatalf("read %q", got)
			}
			return
		}
	}
}

// refused checks that a client with cfg cannot talk to the broker.
func refused(t *testing.T, cfg Configuration, e *Embedded) error {
	t.Helper()
	c, err := NewCluster(cfg, e)
	if err != nil {
		return err
	}
	cl, err := c.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = cl.Ping(ctx)
	if err == nil {
		t.Fatal("the broker answered a client it should have refused")
	}
	t.Logf("refused: %v", err)
	return err
}

func TestTLSAndSASL(t *testing.T) {
	pki := tlstest.New(t)
	base, e := securedBroker(t, pki)
	secrets := t.TempDir()
	passwordFile := filepath.Join(secrets, "kafka-password")
	if err := os.WriteFile(passwordFile, []byte(scram512Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		sasl SASLConfiguration
	}{
		{"SCRAM-SHA-512", SASLConfiguration{Mechanism: SASLScramSHA512, Username: scram512User, Password: scram512Pass}},
		{"SCRAM-SHA-512 password_file", SASLConfiguration{Mechanism: SASLScramSHA512, Username: scram512User, PasswordFile: passwordFile}},
		{"SCRAM-SHA-256", SASLConfiguration{Mechanism: SASLScramSHA256, Username: scram256User, Password: scram256Pass}},
		{"PLAIN", SASLConfiguration{Mechanism: SASLPlain, Username: plainUser, Password: plainPass}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.TLS = pki.Client(true)
			cfg.SASL = c.sasl
			cl, err := NewCluster(cfg, e)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, cl)
		})
	}

	good := base
	good.TLS = pki.Client(true)
	good.SASL = SASLConfiguration{Mechanism: SASLScramSHA512, Username: scram512User, Password: scram512Pass}

	t.Run("wrong password", func(t *testing.T) {
		cfg := good
		cfg.SASL.Password = "not-the-password"
		err := refused(t, cfg, e)
		if strings.Contains(err.Error(), cfg.SASL.Password) {
			t.Fatalf("the error quotes the password: %v", err)
		}
	})
	t.Run("PLAIN user with a SCRAM mechanism", func(t *testing.T) {
		cfg := good
		cfg.SASL = SASLConfiguration{Mechanism: SASLScramSHA512, Username: plainUser, Password: plainPass}
		refused(t, cfg, e)
	})
	t.Run("no SASL", func(t *testing.T) {
		cfg := good
		cfg.SASL = SASLConfiguration{}
		refused(t, cfg, e)
	})
	t.Run("no TLS", func(t *testing.T) {
		cfg := good
		cfg.TLS = config.TLSConfiguration{}
		refused(t, cfg, e)
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := good
		cfg.TLS = pki.Client(false)
		refused(t, cfg, e)
	})
	t.Run("another CA", func(t *testing.T) {
		cfg := good
		cfg.TLS = tlstest.New(t).Client(true)
		refused(t, cfg, e)
	})
	t.Run("rotated password file", func(t *testing.T) {
		// The file is read at each authentication: a client built before
		// the rotation authenticates new connections with the new content.
		cfg := good
		cfg.SASL = SASLConfiguration{Mechanism: SASLScramSHA512, Username: scram512User, PasswordFile: passwordFile}
		c, err := NewCluster(cfg, e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(passwordFile, []byte("rotated-but-wrong\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(passwordFile, []byte(scram512Pass), 0o600) })
		cl, err := c.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil {
			t.Fatal("authenticated with the password the file no longer holds")
		}
	})
}

func TestSecurityFailsAtStart(t *testing.T) {
	pki := tlstest.New(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Configuration)
		want   string
	}{
		{"missing CA file", func(c *Configuration) {
			c.TLS = config.TLSConfiguration{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}
		}, "ca_file"},
		{"CA file without PEM", func(c *Configuration) { c.TLS = config.TLSConfiguration{Enabled: true, CAFile: notPEM} }, "no PEM certificate"},
		{"key file of another certificate", func(c *Configuration) {
			c.TLS = config.TLSConfiguration{Enabled: true, CertFile: pki.ClientCertFile, KeyFile: pki.ServerKeyFile}
		}, "cert_file"},
		{"missing password file", func(c *Configuration) {
			c.SASL = SASLConfiguration{Mechanism: SASLScramSHA512, Username: "u", PasswordFile: filepath.Join(dir, "nope")}
		}, "password_file"},
		{"empty password file", func(c *Configuration) {
			c.SASL = SASLConfiguration{Mechanism: SASLPlain, Username: "u", PasswordFile: empty}
		}, "empty"},
		{"unknown mechanism", func(c *Configuration) {
			c.SASL = SASLConfiguration{Mechanism: "GSSAPI", Username: "u", Password: "p"}
		}, "mechanism"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfiguration()
			cfg.Brokers = []string{"127.0.0.1:1"}
			c.mutate(&cfg)
			_, err := NewCluster(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewCluster: %v, want an error about %q", err, c.want)
			}
		})
	}
}

func TestSecurityValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		sasl SASLConfiguration
		tls  config.TLSConfiguration
		keys []string // the keys the errors name, in order; none: valid
	}{
		{name: "off"},
		{name: "scram with password", sasl: SASLConfiguration{Mechanism: SASLScramSHA512, Username: "u", Password: "p"}},
		{name: "plain with file", sasl: SASLConfiguration{Mechanism: SASLPlain, Username: "u", PasswordFile: "/run/secrets/kafka"}},
		{name: "username without mechanism", sasl: SASLConfiguration{Username: "u"}, keys: []string{"mechanism"}},
		{name: "lower-case mechanism", sasl: SASLConfiguration{Mechanism: "scram-sha-512", Username: "u", Password: "p"}, keys: []string{"mechanism"}},
		{name: "no username", sasl: SASLConfiguration{Mechanism: SASLPlain, Password: "p"}, keys: []string{"username"}},
		{name: "no password", sasl: SASLConfiguration{Mechanism: SASLPlain, Username: "u"}, keys: []string{"password"}},
		{name: "both passwords", sasl: SASLConfiguration{Mechanism: SASLPlain, Username: "u", Password: "p", PasswordFile: "/f"}, keys: []string{"password"}},
		{name: "tls with CA", tls: config.TLSConfiguration{Enabled: true, CAFile: "/ca.pem"}},
		{name: "tls files while off", tls: config.TLSConfiguration{CAFile: "/ca.pem", InsecureSkipVerify: true}, keys: []string{"ca_file", "insecure_skip_verify"}},
		{name: "cert without key", tls: config.TLSConfiguration{Enabled: true, CertFile: "/c.pem"}, keys: []string{"cert_file"}},
		{name: "skip verify with CA", tls: config.TLSConfiguration{Enabled: true, CAFile: "/ca.pem", InsecureSkipVerify: true}, keys: []string{"insecure_skip_verify"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, err := range []error{c.tls.Validate(), c.sasl.Validate()} {
				if err == nil {
					continue
				}
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe config.FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("%v is not a config.FieldError", e)
					}
					got = append(got, fe.Key)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.keys, ",") {
				t.Fatalf("errors name %v, want %v", got, c.keys)
			}
		})
	}
}

// The password is redacted in the configuration dump, and the loader reads
// the keys from YAML and the environment.
func TestSecurityConfigLoadsAndRedacts(t *testing.T) {
	type root struct {
		Kafka Configuration `yaml:"kafka"`
	}
	r := root{Kafka: DefaultConfiguration()}
	yaml := []byte("kafka:\n  brokers: [b1:9093]\n  tls: {enabled: true, ca_file: /etc/payroute/ca.pem}\n  sasl: {mechanism: SCRAM-SHA-512, username: payroute}\n")
	if err := config.LoadBytes("test.yaml", yaml, []string{"PAYROUTE_KAFKA_SASL_PASSWORD=from-the-environment"}, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Kafka.TLS.Enabled || r.Kafka.TLS.CAFile != "/etc/payroute/ca.pem" || r.Kafka.SASL.Password != "from-the-environment" {
		t.Fatalf("loaded %+v / %+v", r.Kafka.TLS, r.Kafka.SASL)
	}
	dump, err := config.Dump(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump), "from-the-environment") || !strings.Contains(string(dump), `password: "***"`) {
		t.Fatalf("dump does not redact the password:\n%s", dump)
	}
	bad := []byte("kafka:\n  sasl: {mechanism: PLAIN}\n")
	r = root{Kafka: DefaultConfiguration()}
	err = config.LoadBytes("test.yaml", bad, nil, &r)
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.username") {
		t.Fatalf("Load: %v, want an error naming kafka.sasl.username", err)
	}
}
