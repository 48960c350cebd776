package simulator

import (
	"context"
	"testing"
	"time"

	"github.com/payroute/payroute/schemas"
)

// A status inquiry that answers "not found" closes the key: a copy of the
// request arriving later (the client timed out before the server read it)
// is refused, never processed. Without this, "not found" would not be a
// safe reason to fail over, and the late copy could approve the payment at
// this PSP after another PSP took it.
func TestNotFoundClosesTheKey(t *testing.T) { forEachTransport(t, testNotFoundClosesTheKey) }

func testNotFoundClosesTheKey(t *testing.T, via via) {
	s := startServer(t, map[string]Profile{"psp-a": {}})
	c := via.connector(t, s, "psp-a", time.Second)
	req := authorize("p-late", "psp-a", TokenApprove)
	st, err := c.Status(context.Background(), req)
	if err != nil || st.Found {
		t.Fatalf("status before any request: %+v, %v; want not found", st, err)
	}
	out := c.Attempt(context.Background(), req)
	if out.Outcome == schemas.OutcomeApproved {
		t.Fatal("a request arriving after a not-found inquiry was processed")
	}
	// A processor that re-sends the attempt after a crash sees a PSP error:
	// nothing was processed, so the payment may fail over.
	if out.Class != schemas.ClassPSPError || out.PSPCode != CodeKeyClosed {
		t.Fatalf("refused copy classified %s/%s, want psp_error/%s", out.Class, out.PSPCode, CodeKeyClosed)
	}
	if s.Approvals("p-late") != 0 {
		t.Fatalf("approvals %d, want 0", s.Approvals("p-late"))
	}
	if st, err := c.Status(context.Background(), req); err != nil || st.Found {
		t.Fatalf("status after the refused copy: %+v, %v; want still not found", st, err)
	}
}
