// Package simulator is a simulated PSP: a real HTTP server hosting any number
// of named PSP accounts with configurable latency, error, rate-limit, timeout
// and decline rates, outage windows and test tokens, plus the psp.Connector
// that talks to it. Tests, the demo and load tests use it; the "test-failure"
// and "test-success" presets are Orchestra's mock gateways.
//
// # Running
//
// In process (tests):
//
//	srv, _ := simulator.New(simulator.Configuration{
//		Listen: "127.0.0.1:0",
//		Seed:   1,
//		PSPs:   map[string]simulator.Profile{"psp-a": {Preset: "stable"}, "psp-b": {}},
//	})
//	_ = srv.Start(ctx)           // bound when it returns
//	defer srv.Stop(ctx)
//	reg, _ := psp.NewRegistry(srv.RegistryConfiguration(time.Second)) // accounts psp-a, psp-b at srv.URL()
//
// In process without a socket: Server.Transport is an http.RoundTripper
// that serves each request with the server's own handler, and
// InProcessConnector a connector built on it (base URL InProcessURL); the
// server need not be started. Behaviour is the same as over HTTP (the tests
// run over both); what goes is the cost of the loopback round trip, which
// is what `payroute bench --psp instant` must not measure:
//
//	srv, _ := simulator.New(cfg)
//	conn, _ := srv.InProcessConnector("psp-a", time.Second)
//	reg := psp.NewStaticRegistry(map[string]psp.Connector{"psp-a": conn})
//
// Standalone: Serve(ctx, cfg) runs until ctx is done; Module does the same
// under fx. Accounts of kind "simulator" in a psp.Configuration become
// Connectors once this package is imported (it registers the kind in init).
//
// # Protocol
//
// All bodies are JSON. {psp} is a configured PSP name.
//
// POST /v1/{psp}/payments
//
//	{"idempotency_key", "payment_id", "merchant_id", "operation", "amount_minor",
//	 "currency", "method", "token", "bin", "last4", "network", "authorization_reference"}
//
// The key is sent in the body only (no Idempotency-Key header: net/http would
// then re-send a written POST on its own after a broken connection).
//
//   - 200 {"status":"approved"|"declined", "code", "issuer_code", "advice_code",
//     "message", "reference", "retry_after_ms", "psp", "idempotency_key",
//     "payment_id", "operation", "amount_minor", "currency"}: the request was
//     processed. Declines are a 200 with status "declined" (never 402); code
//     is the PSP's decline code, issuer_code the ISO 8583 response code,
//     advice_code a Mastercard merchant advice code, retry_after_ms the
//     retry advice of a soft decline.
//   - 400 {"code":"invalid_request"}: missing or invalid field (also a token
//     that looks like a card number, or a CAPTURE/VOID/REFUND whose
//     authorization_reference this PSP never approved). Not processed.
//   - 409 {"code":"idempotency_conflict"}: the key was processed for a
//     different request (payment, operation, amount, currency, token or
//     reference differ).
//   - 404 {"code":"unknown_psp"}: no such PSP.
//   - 429 {"code":"rate_limited","retry_after_ms"} with a Retry-After header
//     (seconds). Not processed.
//   - 503 {"code":"service_unavailable"}: down (SetDown, /sim/{psp}/down), in
//     an outage window, error_rate with the default error_status, or
//     tok_psp_503. Not processed.
//   - 500 {"code":"internal_error"}: error_rate with error_status 500, or
//     tok_psp_500. Not processed.
//   - Timeout: timeout_rate or tok_timeout. The request IS processed and
//     recorded (an approving token is approved), then held until the client
//     gives up, the server stops, or max_hold (default 30s) passes. This is
//     what makes in_doubt real: the client never saw the answer, the status
//     inquiry finds it. tok_lost_at_<psp> is the other timeout: held the
//     same way but never processed (the inquiry finds nothing), answered 504
//     gateway_timeout if the client waits out max_hold.
//
// The simulator never processes a request it answers with a non-200 status.
//
// Idempotency: the first request with a key is processed and its 200 answer
// stored; every later request with the same key gets the stored answer
// (same status, same reference) and is never approved a second time.
// Checking and recording are atomic per PSP, so racing duplicates are safe.
// Keys are per PSP: the same key at two PSPs is two requests.
//
// GET /v1/{psp}/payments/{idempotency_key}
//
//   - 200 with the stored answer (including one whose client timed out);
//   - 404 {"code":"not_found"}: the key was never processed (safe to fail over);
//   - 503 while the PSP is down or in an outage (the inquiry cannot be answered).
//
// Admin:
//
//	POST /sim/{psp}/down, POST /sim/{psp}/up   take a PSP down / up now
//	GET  /sim/approvals[?payment_id=]         the approval ledger and duplicates
//	GET  /sim/stats                           per-PSP counters and state
//	GET  /healthz
//
// A new request to an up PSP draws once against its profile: error_rate,
// then rate_limit_rate, then timeout_rate, then decline_rate (in that
// order), then the token decides. The random streams are seeded
// (Configuration.Seed, per PSP), so a sequential run is reproducible.
// State is in memory; a restart forgets keys, references and the ledger.
//
// # Test tokens
//
// Tokens are opaque strings, never card numbers (a token of 12-19 digits is
// rejected with 400). Decline tokens apply to AUTHORIZE and CHARGE; a
// CAPTURE, VOID or REFUND approves when its authorization_reference was
// approved at the same PSP. Every token approves at a test-success PSP.
//
//	token                   answer                                                           class
//	tok_approve, any other  200 approved                                                     -
//	tok_hard_decline        200 declined stolen_card, issuer_code 43                         hard_decline
//	tok_soft_decline        200 declined insufficient_funds, issuer_code 51, retry_after_ms  soft_decline
//	tok_customer_error      200 declined authentication_failed (3-D Secure failed)           customer_error
//	tok_psp_503             503 service_unavailable, not processed                           psp_error
//	tok_psp_500             500 internal_error, not processed                                psp_error
//	tok_rate_limited        429 rate_limited with Retry-After, not processed                 rate_limited
//	tok_timeout             approved and recorded, then held past the client timeout         in_doubt
//	tok_malformed           200 with a truncated JSON body, not processed                    psp_error
//	tok_3ds                 200 requires_action, authentication_required, with an            customer_error
//	                        action_url (GET or POST /sim/{psp}/3ds/{idempotency_key}):
//	                        completing it approves that request, as a real PSP does
//	                        (status inquiries find the approval); later requests of the
//	                        payment approve too (a second payment)
//	tok_fail_at_<psp>       503 at PSP <psp>, approved at every other PSP                    psp_error / -
//	tok_lost_at_<psp>       held past the client timeout at <psp>, never processed;          in_doubt, then
//	                        approved at every other PSP                                      psp_error / -
//	tok_decline_<code>      200 declined with PSP code <code> ([a-z0-9_]+)                   per DeclineCodes
//	tok_issuer_<nn>         200 declined issuer_declined, issuer_code <nn>                   per IssuerCodes
//	tok_advice_<nn>         200 declined card_declined, issuer_code 05, advice_code <nn>     per AdviceCodes
//
// # Classification
//
// The connector classifies by data tables (classify.go): a decline by its
// merchant advice code if listed (AdviceCodes), else its issuer code if
// listed (IssuerCodes), else its PSP code (DeclineCodes), else
// UnknownCodeClass (soft_decline: never fails over). Non-200 statuses by
// HTTPStatuses. A malformed 200 body is psp_error. A transport failure
// after the request was written (timeout, broken connection) is in_doubt;
// before (connection refused, DNS, dial timeout) psp_error.
package simulator
