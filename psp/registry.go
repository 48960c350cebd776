package psp

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
	"go.uber.org/fx"
)

// DefaultTimeout is the per-attempt timeout of an account whose Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultSimulatorEndpoint is where the default configuration expects the
// simulator PSP (psp/simulator, DefaultListen).
const DefaultSimulatorEndpoint = "http://127.0.0.1:8090"

// Configuration is the set of PSP accounts payroute can attempt payments at.
// A candidate's PSP name in a routing decision is an account name here.
type Configuration struct {
	// Accounts maps an account name (e.g. "stripe-eu", "psp-a") to its
	// account. Names are 1-64 characters of [A-Za-z0-9._-], starting with a
	// letter or digit.
	Accounts map[string]Account `yaml:"accounts"`
}

// Account is one PSP account: which integration talks to it and where.
type Account struct {
	// Kind selects the connector implementation: "simulator"
	// (psp/simulator), "stripe" (psp/stripe) or "adyen" (psp/adyen). A kind
	// is available once the package that implements it has called
	// RegisterKind (import it, e.g. _ "github.com/payroute/payroute/psp/stripe").
	Kind string `yaml:"kind"`
	// Endpoint is the PSP's base URL (http or https), e.g.
	// "http://127.0.0.1:8090" for the simulator. Whether it is required,
	// and its default, depend on the kind (stripe defaults to
	// https://api.stripe.com, adyen to its test Checkout API).
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds one attempt or status inquiry. A request that was
	// written but not answered within it is in doubt. Zero means
	// DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// ExcludeFromFailover keeps this account out of failover (Recurly's
	// "exclude from failover"): it is attempted only where it is ranked
	// first or named by a provider override, never as a later rank.
	ExcludeFromFailover bool `yaml:"exclude_from_failover"`
	// MerchantAccount identifies the merchant at the PSP where every request
	// must name it (Adyen's merchantAccount). It is not a secret.
	MerchantAccount string `yaml:"merchant_account"`
	// APIKeyEnv names the environment variable that holds the account's API
	// key (e.g. STRIPE_API_KEY). Not a PAYROUTE_ name: those are
	// configuration keys. Credentials are never written in the
	// configuration itself, so they cannot end up in a repository, a dump
	// (`payroute config`) or a log; the kind decides whether one is needed.
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKeyFile is the path of a file that holds the API key (a Docker or
	// Kubernetes secret such as /run/secrets/stripe); surrounding
	// whitespace is dropped. Set api_key_env or api_key_file, not both.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKey is never accepted: an api_key written into the file is
	// rejected by Validate with an explanation (rather than an "unknown
	// key" error that leaves the operator guessing), and it is tagged
	// secret so that even a configuration dump of an invalid file cannot
	// echo it.
	APIKey string `yaml:"api_key" secret:"true"`
	// Fees is what the account charges per attempt (FeeSchedule); empty
	// means attempts cost nothing.
	Fees FeeSchedule `yaml:"fees"`
}

// EffectiveTimeout is Timeout, or DefaultTimeout when Timeout is zero.
func (a Account) EffectiveTimeout() time.Duration {
	if a.Timeout <= 0 {
		return DefaultTimeout
	}
	return a.Timeout
}

// DefaultConfiguration is the embedded setup: accounts on the simulator PSP
// at DefaultSimulatorEndpoint, matching simulator.DefaultConfiguration.
func DefaultConfiguration() Configuration {
	accounts := map[string]Account{}
	for _, name := range []string{"psp-a", "psp-b", "psp-c", "test-failure", "test-success"} {
		accounts[name] = Account{Kind: "simulator", Endpoint: DefaultSimulatorEndpoint, Timeout: 5 * time.Second}
	}
	return Configuration{Accounts: accounts}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName reports whether name can be a PSP account name: 1-64 characters
// of [A-Za-z0-9._-] starting with a letter or digit, so it is safe in URL
// paths, topic keys ("<psp>|<scope>") and metric labels.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid name %q: want 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit", name)
	}
	return nil
}

// Validate checks the configuration and returns every problem, each naming
// its key (e.g. "accounts.psp-a.timeout: must not be negative"). It does not
// check that a kind is registered; NewRegistry does.
func (c Configuration) Validate() error {
	var errs []error
	if len(c.Accounts) == 0 {
		errs = append(errs, config.Errorf("accounts", "at least one account is required"))
	}
	for _, name := range sortedKeys(c.Accounts) {
		a := c.Accounts[name]
		key := "accounts." + name
		if err := CheckName(name); err != nil {
			errs = append(errs, config.Errorf(key, "%v", err))
		}
		if a.Kind == "" {
			errs = append(errs, config.Errorf(key+".kind", "required"))
		}
		if a.Timeout < 0 {
			errs = append(errs, config.Errorf(key+".timeout", "must not be negative"))
		}
		if a.Endpoint != "" {
			if err := checkEndpoint(a.Endpoint); err != nil {
				errs = append(errs, config.Errorf(key+".endpoint", "%v", err))
			}
		}
		errs = append(errs, a.checkCredential(key)...)
		errs = append(errs, a.Fees.validate(key+".fees")...)
	}
	return errors.Join(errs...)
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("missing host")
	}
	return nil
}

// Factory builds the connector of one account of a kind. name is the account
// name; account.Timeout is already defaulted; log is the registry's logger
// (connectors log at debug level per request and at warn level when the
// PSP refuses their credentials, never a credential itself). A factory that
// needs a credential reads it with account.ReadAPIKey.
type Factory func(name string, account Account, log *slog.Logger) (Connector, error)

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Factory{}
)

// RegisterKind makes a connector kind available to NewRegistry. Connector
// packages call it from init, the way database/sql drivers register
// themselves. This direction of registration is what avoids an import cycle:
// connector packages import psp for Connector and Request, so psp cannot
// import them. It panics if kind is empty, factory is nil or kind is already
// registered.
func RegisterKind(kind string, factory Factory) {
	if kind == "" || factory == nil {
		panic("psp: RegisterKind needs a kind and a factory")
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("psp: RegisterKind called twice for kind " + kind)
	}
	kinds[kind] = factory
}

// Kinds lists the registered connector kinds, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	return sortedKeys(kinds)
}

func factoryFor(kind string) (Factory, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	f, ok := kinds[kind]
	return f, ok
}

// Registry holds the connector of every configured account. It is immutable
// after construction and safe for concurrent use.
type Registry struct {
	names      []string
	connectors map[string]Connector
	accounts   map[string]Account
}

// RegistryOption configures NewRegistry.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	log *slog.Logger
}

// WithLogger gives the connectors a logger; the default is slog.Default().
func WithLogger(l *slog.Logger) RegistryOption {
	return func(o *registryOptions) {
		if l != nil {
			o.log = l
		}
	}
}

// NewRegistry validates cfg and builds one connector per account through the
// factory registered for its kind. A factory fails, and so NewRegistry,
// when an account lacks what its kind needs (an endpoint, a merchant
// account, a readable API key).
func NewRegistry(cfg Configuration, opts ...RegistryOption) (*Registry, error) {
	o := registryOptions{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Registry{connectors: map[string]Connector{}, accounts: map[string]Account{}}
	var errs []error
	for _, name := range sortedKeys(cfg.Accounts) {
		a := cfg.Accounts[name]
		a.Timeout = a.EffectiveTimeout()
		f, ok := factoryFor(a.Kind)
		if !ok {
			known := strings.Join(Kinds(), ", ")
			if known == "" {
				known = "none"
			}
			errs = append(errs, fmt.Errorf("accounts.%s.kind: unknown kind %q (registered: %s; is the connector package imported?)", name, a.Kind, known))
			continue
		}
		c, err := f(name, a, o.log.With("psp", name, "kind", a.Kind))
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts.%s: %w", name, err))
			continue
		}
		r.names = append(r.names, name)
		r.connectors[name] = c
		r.accounts[name] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// NewStaticRegistry wraps ready connectors (e.g. fakes in tests) in a
// Registry. Every account gets DefaultTimeout and takes part in failover.
func NewStaticRegistry(connectors map[string]Connector) *Registry {
	r := &Registry{connectors: map[string]Connector{}, accounts: map[string]Account{}}
	for _, name := range sortedKeys(connectors) {
		r.names = append(r.names, name)
		r.connectors[name] = connectors[name]
		r.accounts[name] = Account{Kind: "static", Timeout: DefaultTimeout}
	}
	return r
}

// Get returns the connector of the named account.
func (r *Registry) Get(name string) (Connector, bool) {
	c, ok := r.connectors[name]
	return c, ok
}

// Account returns the configuration of the named account, with Timeout defaulted.
func (r *Registry) Account(name string) (Account, bool) {
	a, ok := r.accounts[name]
	return a, ok
}

// Names lists the account names, sorted.
func (r *Registry) Names() []string {
	return append([]string(nil), r.names...)
}

// Fee is the fee of one attempt at the named account, in minor units of
// in.Currency, from the account's fee schedule (FeeSchedule.Fee). An
// unknown account, or one without a schedule, costs 0.
func (r *Registry) Fee(name string, in FeeInput) int64 {
	a, ok := r.accounts[name]
	if !ok {
		return 0
	}
	return a.Fees.Fee(in)
}

// IdempotencyKey is the key sent to the PSP for one operation of one payment
// at one PSP account. It is deterministic, so a redelivered or replayed
// attempt carries the same key and the PSP executes it at most once, and it
// differs per PSP and per operation, so failing over or capturing is a new
// request. This function is the only place that derives it.
//
// The key is "pr_" followed by 32 characters from a-p (the first 128 bits of
// SHA-256, one letter per nibble): it contains no digits, so no PAN scanner
// can ever mistake it for a card number.
func IdempotencyKey(paymentID string, psp string, op schemas.Operation) string {
	return RetryIdempotencyKey(paymentID, psp, op, 0)
}

// RetryIdempotencyKey is the key of a deliberate re-attempt of the same
// operation at the same PSP (a customer RETRY after ACTION_REQUIRED, or a
// scheduled soft-decline retry). A PSP replays the stored response for a
// repeated key, so a genuine new try needs a new key; retry counts those
// tries (carry it in the event so redelivery reuses it). Retry 0 is
// IdempotencyKey.
func RetryIdempotencyKey(paymentID string, psp string, op schemas.Operation, retry int) string {
	h := sha256.New()
	h.Write([]byte("payroute/idempotency/v1\x00"))
	h.Write([]byte(paymentID))
	h.Write([]byte{0})
	h.Write([]byte(psp))
	h.Write([]byte{0})
	h.Write([]byte(op))
	if retry != 0 {
		fmt.Fprintf(h, "\x00retry=%d", retry)
	}
	sum := h.Sum(nil)
	var b strings.Builder
	b.Grow(3 + 32)
	b.WriteString("pr_")
	for _, c := range sum[:16] {
		b.WriteByte('a' + c>>4)
		b.WriteByte('a' + c&0x0f)
	}
	return b.String()
}

// Module provides *Registry from a Configuration in the graph, with the
// graph's *slog.Logger when there is one. The connector kinds used by the
// configuration must be registered (their packages imported).
var Module = fx.Module("psp", fx.Provide(newRegistryInGraph))

type registryParams struct {
	fx.In
	Config Configuration
	Log    *slog.Logger `optional:"true"`
}

func newRegistryInGraph(p registryParams) (*Registry, error) {
	return NewRegistry(p.Config, WithLogger(p.Log))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
