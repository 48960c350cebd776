package adyen

import (
	"log/slog"
	"testing"
	"time"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/adyen/adyentest"
	"github.com/payroute/payroute/psp/psptest"
	"github.com/payroute/payroute/schemas"
)

const (
	testKey      = "AQE_payroute-adyen-conformance-key_not-a-real-key"
	testMerchant = "PayrouteECOM"
)

var quiet = slog.New(slog.DiscardHandler)

func newServer(t testing.TB) *adyentest.Server {
	return adyentest.New(t, adyentest.Config{APIKey: testKey, MerchantAccount: testMerchant})
}

func newConnector(t testing.TB, baseURL string, timeout time.Duration) *Connector {
	t.Helper()
	c, err := New(Config{Account: "adyen-test", BaseURL: baseURL, MerchantAccount: testMerchant,
		APIKey: psp.NewSecret(testKey), Timeout: timeout, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The Adyen connector passes the conformance suite against the Checkout
// API stand-in.
func TestConformance(t *testing.T) {
	srv := newServer(t)
	var declines []psptest.Decline
	for _, r := range RefusalReasons {
		declines = append(declines, psptest.Decline{Token: adyentest.Refused(r.Code), Class: r.Class, PSPCode: r.Meaning})
	}
	for _, r := range psp.IssuerCodes {
		declines = append(declines, psptest.Decline{Token: adyentest.Raw(r.Code), Class: r.Class, PSPCode: "Refused"})
	}
	declines = append(declines,
		psptest.Decline{Token: adyentest.Refused("99"), Class: psp.UnknownCodeClass, PSPCode: "Declined for a reason Adyen added later"},
		psptest.Decline{Token: adyentest.TokenError, Class: schemas.ClassPSPError, PSPCode: "Acquirer Error"},
		psptest.Decline{Token: adyentest.TokenPending, Class: schemas.ClassInDoubt, PSPCode: "Pending"},
		psptest.Decline{Token: adyentest.TokenUnsupported, Class: schemas.ClassPSPError, PSPCode: "905"},
	)
	psptest.Run(t, psptest.Harness{
		URL: srv.URL(),
		New: func(baseURL string, timeout time.Duration) (psp.Connector, error) {
			return newConnector(t, baseURL, timeout), nil
		},
		Tokens: map[psptest.Scenario]string{
			psptest.Approve:       adyentest.TokenAuthorised,
			psptest.HardDecline:   adyentest.Refused("6"),
			psptest.SoftDecline:   adyentest.Refused("12"),
			psptest.CustomerError: adyentest.TokenRedirect,
			psptest.Unavailable:   adyentest.TokenUnavailable,
			psptest.RateLimited:   adyentest.TokenRateLimited,
		},
		Declines:      declines,
		Keys:          srv.Keys,
		Approvals:     srv.Approvals,
		StatusReplays: true,
	})
}
