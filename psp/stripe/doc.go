// Package stripe is the Stripe connector: payroute's operations on Stripe's
// PaymentIntents API, and the tables that classify Stripe's answers.
//
// Importing the package registers the account kind "stripe":
//
//	psps:
//	  accounts:
//	    stripe-eu:
//	      kind: stripe
//	      api_key_env: STRIPE_API_KEY        # or api_key_file: /run/secrets/stripe
//	      endpoint: https://api.stripe.com   # the default; stripe-mock: http://127.0.0.1:12111
//	      timeout: 10s
//
// # Operations
//
//	AUTHORIZE  POST /v1/payment_intents  amount, currency, payment_method=<token>,
//	           confirm=true, capture_method=manual, payment_method_types[0]=card,
//	           metadata[payment_id], metadata[merchant_id]
//	CHARGE     the same with capture_method=automatic
//	CAPTURE    POST /v1/payment_intents/{ref}/capture  amount_to_capture, metadata[payment_id]
//	VOID       POST /v1/payment_intents/{ref}/cancel
//	REFUND     POST /v1/refunds  payment_intent={ref}, amount, metadata[payment_id]
//
// The token is a Stripe PaymentMethod id (pm_...): a card tokenized at
// Stripe, which is the only kind of card credential Stripe accepts from a
// server without PCI scope. {ref} is the PaymentIntent id an AUTHORIZE or
// CHARGE returned as its reference; a REFUND's reference is the refund id.
// Amounts are minor units, as Stripe's are (Stripe's special cases for a
// few currencies, such as HUF and TWD amounts divisible by 100 in payouts,
// are Stripe's to reject with a 400).
//
// Every request carries Authorization: Bearer <key>, Stripe-Version
// (APIVersion) and an Idempotency-Key header with the payment's key. Stripe
// stores the status and body of the first request with a key once the
// endpoint starts executing and answers every later request with the same
// key and parameters with that stored answer (marked Idempotent-Replayed:
// true), so a redelivered attempt never charges twice.
//
// # Re-sends and doubt
//
// Because the request has an Idempotency-Key header, net/http re-sends it on
// its own when a reused keep-alive connection breaks after writing; that is
// safe at Stripe, which deduplicates by key, but the re-sent copy's answer
// may hide that the first copy was processed (a 409 "request in progress",
// a load balancer's 503). psp.Send counts the copies and
// psp.Reply.InDoubtIfResent makes any non-definitive answer to a re-sent
// request in_doubt. A timeout or broken connection after sending is
// in_doubt; a failure before sending is psp_error.
//
// Status re-sends the original request with the same key: Stripe answers a
// key it processed with the stored answer, and processes a key it never
// received, which is equally authoritative (Stripe has no lookup by
// idempotency key, and its search API is eventually consistent, so "not
// found" there proves nothing). A PaymentIntent still processing is then
// retrieved by id. An answer that is itself not definitive (5xx, 409 in
// progress, 429) leaves the attempt in doubt: Status returns an error.
//
// # Classification
//
// A 200 is classified by the object's status (IntentStatuses,
// RefundStatuses). An error answer is classified, in this order, by:
//
//  1. a card error (HTTP 402 or type card_error): the decline chain below;
//  2. the error code, when ErrorCodes lists it (idempotency_key_in_use is
//     in_doubt, rate_limit and lock_timeout are rate_limited, ...);
//  3. the HTTP status (HTTPStatuses): 401 and 403 are psp_error (our
//     credentials: fail over), 429 rate_limited, 500 in_doubt (Stripe
//     documents a 500's result as indeterminate: the request may have
//     executed), 424 in_doubt, 502-504 psp_error, other 4xx
//     invalid_request; a 404 without Stripe's error body means a wrong
//     endpoint (psp_error).
//
// A decline is classified by the first of these that a table lists: the
// Mastercard merchant advice code (network_advice_code, psp.AdviceCodes, on
// Mastercard cards only), Stripe's advice_code (AdviceCodes), the
// decline_code (DeclineCodes), the issuer's ISO 8583 code
// (network_decline_code, psp.IssuerCodes), the error code (ErrorCodes);
// else psp.UnknownCodeClass, which never fails over.
//
// Texts Stripe sends back pass through the API key's Redact before they
// reach an Outcome or a log: stripe-mock, for one, quotes a refused key.
package stripe
