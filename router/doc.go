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
//  2. Routing.Candidates inline in the event (PortOne routing_params.data,
//     Orchestra's paymentGatewayAccountNames): rule "inline". Inline
//     candidates are the most specific thing the producer said, so they win
//     over a route_ref sent alongside them.
//  3. Routing.RouteRef, a stored route by name (PortOne "Route_..." refs or
//     names such as "cards-eu"): rule "route_ref:<name>". An unknown name
//     rejects the payment rather than falling through to the default: the
//     producer asked for a specific route and silently using another one
//     would hide the mistake.
//  4. The RuleSet, if one is installed (see WithRules): the first matching
//     rule names a stored route; the rule ID is the one the rule set returns.
//     This package ships no rules; it only defines the seam.
//  5. Configuration.DefaultRoute: rule "default".
//
// Otherwise the payment has no candidates and is rejected.
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
// invalid_rank, too_many_candidates, unknown_route), so the consumer can
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
package router
