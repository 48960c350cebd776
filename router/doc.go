// Package router turns a PaymentRequested into a routing decision: the
// ranked list of PSP candidates the payment will be attempted on, in order,
// together with the configuration version and the rule that produced it.
//
// # Resolution order
//
// The first source that applies wins:
//
//  1. Routing.ProviderOverride (Payrails provider override, Recurly
//     gateway_code): exactly that PSP, as the only candidate, rule "override".
//     The producer asked for one PSP, so there is nothing to fail over to.
//  2. Routing.RouteRef, a stored route by name (PortOne "Route_..." refs or
//     names such as "cards-eu"): rule "route_ref:<name>". An unknown name
//     rejects the payment rather than falling through to the default: the
//     producer asked for a specific route and silently using another one
//     would hide the mistake. Candidates sent alongside are ignored, as
//     PortOne says ("if you add route_ref in the payload you can ignore"
//     routing_params.data): the stored route is what the merchant manages.
//  3. Routing.Candidates inline in the event (PortOne routing_params.data,
//     Orchestra's paymentGatewayAccountNames): rule "inline".
//  4. Configuration.Rules, the routing rules (Payrails): evaluated in order,
//     the first rule whose conditions all hold decides; RuleID is the rule's
//     ID ("<rule>/<branch>" for a split). A rule whose gateway set has no
//     entry for the payment does not decide, and evaluation moves on.
//  5. The RuleSet, if one is installed (see WithRules): a seam for rules
//     computed outside the configuration; the first match names a stored
//     route; the rule ID is the one the rule set returns.
//  6. Configuration.DefaultRoute: rule "default".
//
// Otherwise the payment has no candidates and is rejected. CAPTURE, VOID
// and REFUND are never routed: RouteFollowUp pins them to the PSP that
// authorized (RuleID "pinned"), and Route refuses them (ReasonFollowUp).
//
// # Rules
//
// A rule is an AND of conditions "field op value" and a target:
//
//	rules:
//	  - id: dach-eur-braintree
//	    when:
//	      - {field: payment_method.issuer_country, op: one_of, values: [AT, DE, CH]}
//	      - {field: currency, op: equals, value: EUR}
//	    route: braintree                 # or candidates: [...], gateway_set: cards,
//	  - id: usd-split                    # or split: [{percent: 50, route: ...}, ...]
//	    when: [{field: currency, op: equals, value: USD}]
//	    split:
//	      - {id: stripe, percent: 50, route: stripe-first}
//	      - {id: checkout, percent: 50, route: checkout-first}
//
// Fields are the event's, by their schema names: payment_id, merchant_id,
// operation (AUTHORIZE or CHARGE), amount_minor (an integer in minor
// units), currency, recurring (true or false), payment_method.type,
// payment_method.network, payment_method.funding, payment_method.bin,
// payment_method.issuer_country, customer.customer_id, customer.country,
// and metadata.<key>. Card facts (type, network, funding) compare
// case-insensitively; currencies, countries and operations are upper case
// (a lower-case operand is folded); ids and metadata compare exactly.
// Customer facts the schema has no field for go in metadata: Payrails'
// "customer email" rules are written on metadata.customer_email (e.g.
// ends_with "@example.com" for a company's test accounts); the event
// carries no other personal data.
//
// Operators: equals, not_equals (one value); one_of, not_one_of (values);
// contains, not_contains, starts_with, ends_with (a value, or values meaning
// any of them, none of them for not_contains: BIN prefix lists); lt, lte,
// gt, gte (one number), between (values: [low, high], inclusive). The
// symbols =, !=, <, <=, >, >= are accepted (quote them in YAML). Numeric
// operators apply to amount_minor and to metadata values, read as decimal
// numbers (a value that is not a number fails). A metadata key the payment
// does not carry satisfies only not_equals, not_one_of and not_contains.
// equals needs a non-empty value: test for an empty field with one_of [""].
//
// Splits (Payrails' routing randomizer) send percentages of the matching
// payments to different ranked lists. The branch is chosen from a hash of
// the rule ID and payment_id, so a redelivered or retried payment, or the
// same payment on another instance, always takes the same branch, while
// separate splits are independent. Percentages have at most two decimals
// and sum to 100.
//
// Gateway sets (Recurly) map card network and currency to a ranked list,
// "*" matching any: the exact pair wins, then network with any currency,
// then any network with the currency, then "*"/"*".
//
// # Checks
//
// New compiles the configuration and refuses it when Check reports an
// error: unreachable rules (every payment they match is matched by an
// earlier rule, like the EUR example of seed 003), contradictory conditions
// (currency equals EUR and currency equals USD), unknown PSPs, routes and
// gateway sets, splits that do not sum to 100, and malformed rules. Each
// problem names the key and, when the configuration carries a Source
// (WithSource, LoadFile), the file line. `payroute rules check` prints them;
// the processor refuses to start with the same messages.
//
// # Exclusion from failover
//
// An account excluded from failover (ExcludeFromFailover, from
// psp.Account.ExcludeFromFailover) is dropped from every ranked list where
// it is not first, stored, inline or from a gateway set; a provider
// override may still name it, and a follow-up may be pinned to it.
//
// # Retries
//
// RetryAction evaluates the retry rules (Configuration.RetryRules) for a
// failed attempt: when (class, decline code, attempt number, last PSP, any
// payment field), where (next rank, same PSP, a named PSP, or stop) and
// after how long. Without a matching rule psp_error and rate_limited go to
// the next rank and everything else stops; hard declines, customer errors,
// in-doubt attempts and invalid requests always stop.
//
// # Versions and reloads
//
// Every Decision carries Configuration.Version. A Holder holds the current
// Router and swaps in a new version atomically after checking it (Swap,
// Reload), without a restart; payments in flight keep the Decision, hence
// the version, they started with (see Holder).
//
// # Explanations
//
// Explain runs the same code as Route and records which rule matched, the
// first condition that failed in each earlier rule with the value it saw,
// the split branch, gateway set entry and the ranked candidates; payroute
// explain prints it, and ExplainHandler serves it on the admin port.
//
// # Candidates
//
// Candidates come back sorted by rank and renumbered densely 1..n, because
// rank n is also the retry topic payments.retry.rank-<n> that carries the
// payment to that candidate: sparse ranks (1, 5, 10) would address topics
// that nobody consumes. A rank of 0 (omitted) means "the candidate's position
// in the list", so an ordered list with no ranks (Orchestra) is ranked as
// written. Lists are kept as given: the same PSP may appear more than once
// (Orchestra's test gateways do exactly that) and is not deduplicated; two
// candidates claiming the same rank are ambiguous and rejected. A list longer
// than Configuration.MaxRanks is rejected, since every rank needs its retry
// topic and consumer. Every PSP must be one the PSP registry knows.
//
// Failures are *RouteError values whose Reason is a stable, machine-readable
// string (unknown_route_ref, unknown_psp, no_candidates, duplicate_rank,
// invalid_rank, too_many_candidates, unknown_route, follow_up), so the consumer can
// reject the payment with a REJECTED result and send the record to the DLQ
// with that reason.
//
// # Why the decision is made once
//
// The router runs once per payment, when the PaymentRequested is consumed;
// the Decision (candidates, ConfigVersion, RuleID) then travels with the
// payment in every AttemptFailed on the retry topics, and the retry consumers
// never route again. A payment in flight therefore keeps the route and the
// configuration version it started with, even if the configuration changes
// or the instance restarts between attempts; every attempt and result records
// the version and rule that decided it, which is what analytics needs to
// compare configuration versions. The trade-offs: a configuration change
// only affects payments that arrive after it, and a PSP removed from the
// configuration may still receive the remaining attempts of payments already
// routed to it (the attempt side must treat a PSP it no longer has as a PSP
// error and move on). PSP health is deliberately not part of routing: a PSP
// that is down is skipped when its rank comes up, because health changes far
// faster than a payment's configuration should.
//
// A Router is immutable once built and safe for concurrent use.
//
// # Performance
//
// Rules are compiled at New: fields to a switch, operators to typed
// comparisons on folded strings, int64 minor units and float64, sets of
// more than eight values to maps, gateway sets to maps keyed by network and
// currency. Evaluating a decision allocates nothing for events in canonical
// form; Route's only allocation is the caller's copy of the candidates.
package router
