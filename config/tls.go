package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfiguration is how a client (the Kafka clients, the ClickHouse
// connection) protects its connections to a server. Every component that
// dials out embeds one under a "tls" key, so the keys read the same
// everywhere:
//
//	tls: {enabled: true, ca_file: /etc/payroute/ca.pem}
//
// The server's certificate is always verified, against CAFile or, when it
// is empty, the system's roots; the name checked is ServerName or else the
// host dialled. A client certificate (CertFile and KeyFile) is sent when
// the server asks for one (mutual TLS). TLS 1.2 is the minimum.
type TLSConfiguration struct {
	// Enabled turns TLS on. Off, the other keys must be empty: a CA file
	// configured but not used is a mistake that would leave traffic in clear.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the certificate authorities that may sign the
	// server's certificate. Empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its private key,
	// for servers that require mutual TLS. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry, when it
	// differs from the host dialled (connecting by IP address, or through a
	// load balancer). Empty: the host dialled.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. It removes the
	// protection against an attacker in the middle; only for tests against a
	// server with a throw-away certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks that the keys fit together; it does not read the files
// (Load does, when the component starts).
func (c TLSConfiguration) Validate() error {
	var errs []error
	if !c.Enabled {
		for _, f := range []struct{ key, v string }{
			{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"server_name", c.ServerName},
		} {
			if f.v != "" {
				errs = append(errs, Errorf(f.key, "set while tls.enabled is false: set enabled: true, or remove it"))
			}
		}
		if c.InsecureSkipVerify {
			errs = append(errs, Errorf("insecure_skip_verify", "set while tls.enabled is false"))
		}
		return errors.Join(errs...)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, Errorf("cert_file", "cert_file and key_file go together: set both for a client certificate, or neither"))
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		errs = append(errs, Errorf("insecure_skip_verify", "set together with ca_file, which it would ignore: remove one"))
	}
	return errors.Join(errs...)
}

// Load builds the client's tls.Config, reading the files. It returns nil
// (and no error) when TLS is off. Errors name the file and what is wrong
// with it, never its content.
func (c TLSConfiguration) Load() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented: tests only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: cert_file %s / key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
