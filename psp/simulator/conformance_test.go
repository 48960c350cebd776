package simulator

import (
	"time"

	"testing"

	"github.com/payroute/payroute/psp"
	"github.com/payroute/payroute/psp/psptest"
)

// The simulator connector passes the conformance suite every connector passes.
func TestConformance(t *testing.T) {
	s := startServer(t, map[string]Profile{"psp-a": {Latency: time.Millisecond}})
	declines := make([]psptest.Decline, 0, len(DeclineCodes)+len(IssuerCodes))
	for _, r := range DeclineCodes {
		declines = append(declines, psptest.Decline{Token: DeclineWith(r.Code), Class: r.Class, PSPCode: r.Code})
	}
	for _, r := range IssuerCodes {
		declines = append(declines, psptest.Decline{Token: IssuerDecline(r.Code), Class: r.Class, PSPCode: "issuer_declined"})
	}
	psptest.Run(t, psptest.Harness{
		URL: s.URL(),
		New: func(baseURL string, timeout time.Duration) (psp.Connector, error) {
			return NewConnector(ConnectorConfig{BaseURL: baseURL, PSP: "psp-a", Timeout: timeout})
		},
		Tokens: map[psptest.Scenario]string{
			psptest.Approve:       TokenApprove,
			psptest.HardDecline:   TokenHardDecline,
			psptest.SoftDecline:   TokenSoftDecline,
			psptest.CustomerError: TokenCustomerError,
			psptest.Unavailable:   TokenPSP503,
			psptest.RateLimited:   TokenRateLimited,
		},
		Declines:  declines,
		Keys:      s.Keys,
		Approvals: s.Approvals,
	})
}
