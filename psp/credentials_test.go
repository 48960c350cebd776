package psp_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/adyen"
	"github.com/payroute/payroute/psp/adyen/adyentest"
	"github.com/payroute/payroute/psp/stripe"
	"github.com/payroute/payroute/psp/stripe/stripetest"
	"github.com/payroute/payroute/schemas"
)

// Real-looking credentials (shaped like the PSPs' keys, but not matching
// secret scanners' patterns). None may ever appear in a log line, an
// outcome, an error or a configuration dump.
const (
	stripeKey    = "sk_test_payroute-stripe-secret-0001"
	stripeBadKey = "sk_live_payroute-revoked-secret-0002"
	adyenKey     = "AQE_payroute-adyen-webservice-secret-0003"
	adyenBadKey  = "AQE_payroute-adyen-revoked-secret-0004"
	literalKey   = "sk_live_payroute-literal-in-yaml-0005"
)

var allSecrets = []string{stripeKey, stripeBadKey, adyenKey, adyenBadKey, literalKey}

// syncBuffer collects output written concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCredentialsNeverLeak runs Stripe (against stripe-mock) and Adyen
// accounts configured with keys from the environment and from files,
// through approvals and through the PSPs refusing a key (stripe-mock's 401
// quotes the refused key back), with a debug-level logger, and then dumps
// the configuration: no credential appears anywhere.
func TestCredentialsNeverLeak(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PSPTEST_STRIPE_KEY", stripeKey)
	t.Setenv("PSPTEST_ADYEN_KEY", adyenKey)
	adyenSrv := adyentest.New(t, adyentest.Config{APIKey: adyenKey, MerchantAccount: "PayrouteECOM"})
	accounts := map[string]psp.Account{
		"adyen-good": {Kind: adyen.Kind, Endpoint: adyenSrv.URL(), MerchantAccount: "PayrouteECOM", APIKeyEnv: "PSPTEST_ADYEN_KEY"},
		"adyen-bad":  {Kind: adyen.Kind, Endpoint: adyenSrv.URL(), MerchantAccount: "PayrouteECOM", APIKeyFile: writeSecret(t, dir, "adyen", adyenBadKey)},
	}
	withStripe := os.Getenv(stripetest.EnvMockURL) != "" || os.Getenv("CI") != ""
	if withStripe {
		mock := stripetest.MockURL(t)
		accounts["stripe-good"] = psp.Account{Kind: stripe.Kind, Endpoint: mock, APIKeyEnv: "PSPTEST_STRIPE_KEY"}
		accounts["stripe-bad"] = psp.Account{Kind: stripe.Kind, Endpoint: mock, APIKeyFile: writeSecret(t, dir, "stripe", stripeBadKey)}
	} else {
		t.Logf("%s not set: the Stripe accounts are left out (scripts/test.sh runs them)", stripetest.EnvMockURL)
	}
	cfg := psp.Configuration{Accounts: accounts}

	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := psp.NewRegistry(cfg, psp.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}

	var seen []string // everything else that could carry a secret
	refused := 0
	for _, name := range reg.Names() {
		conn, _ := reg.Get(name)
		acct, _ := reg.Account(name)
		token := adyentest.TokenAuthorised
		if acct.Kind == stripe.Kind {
			token = stripetest.TokenVisa
		}
		req := psp.Request{PaymentID: "pay-" + name, IdempotencyKey: psp.IdempotencyKey("pay-"+name, name, schemas.OpCharge),
			Operation: schemas.OpCharge, AmountMinor: 1000, Currency: "EUR", CustomerID: "cus-1",
			PaymentMethod: schemas.PaymentMethod{Token: token, Network: "visa"}}
		out := conn.Attempt(context.Background(), req)
		st, err := conn.Status(context.Background(), req)
		if strings.HasSuffix(name, "-bad") {
			if out.Class != schemas.ClassPSPError {
				t.Errorf("%s: a refused key is %+v, want psp_error", name, out)
			}
			if err == nil {
				t.Errorf("%s: status resolved with a refused key", name)
			}
			refused++
		}
		// Print everything an operator or a developer might print.
		seen = append(seen, fmt.Sprintf("%+v %#v %v %+v %v", out, out, conn, acct, st))
		if err != nil {
			seen = append(seen, err.Error())
		}
		log.Info("attempted", "connector", conn, "account", acct, "outcome", out)
	}
	if refused == 0 {
		t.Fatal("no refused-key path ran")
	}
	if !strings.Contains(logs.String(), "refused the account's API key") {
		t.Fatalf("no warning for the refused keys:\n%s", logs.String())
	}

	// A literal key in the file is rejected, and a dump of that very
	// configuration shows neither it nor the keys behind the references.
	withLiteral := psp.Configuration{Accounts: map[string]psp.Account{}}
	for k, v := range cfg.Accounts {
		withLiteral.Accounts[k] = v
	}
	withLiteral.Accounts["literal"] = psp.Account{Kind: stripe.Kind, APIKey: literalKey}
	verr := withLiteral.Validate()
	if verr == nil || !strings.Contains(verr.Error(), "accounts.literal.api_key: literal secrets are not accepted") {
		t.Fatalf("literal key: %v", verr)
	}
	dump, err := config.Dump(withLiteral)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dump), "api_key_env: PSPTEST_ADYEN_KEY") || !strings.Contains(string(dump), `api_key: "***"`) {
		t.Fatalf("dump lacks the references or the redaction:\n%s", dump)
	}
	_, nerr := psp.NewRegistry(psp.Configuration{Accounts: map[string]psp.Account{
		"unset": {Kind: stripe.Kind, APIKeyEnv: "PSPTEST_UNSET_KEY"},
	}}, psp.WithLogger(log))
	if nerr == nil || !strings.Contains(nerr.Error(), "PSPTEST_UNSET_KEY is unset") {
		t.Fatalf("missing key: %v", nerr)
	}

	everything := strings.Join(append(seen, logs.String(), string(dump), verr.Error(), nerr.Error()), "\n")
	for _, s := range allSecrets {
		if strings.Contains(everything, s) {
			t.Errorf("secret %q leaked into:\n%s", s, everything)
		}
		// A part of a key is as bad as the whole.
		if mid := s[len(s)/2-4 : len(s)/2+4]; strings.Contains(everything, mid) {
			t.Errorf("part %q of a secret leaked", mid)
		}
	}
	if withStripe && !strings.Contains(logs.String(), "stripe-bad") {
		t.Fatal("the Stripe accounts did not log")
	}
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) {
		t.Fatal("debug lines were not captured")
	}
}
