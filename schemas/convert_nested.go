package schemas

// Conversions of the named records that events share. Each is written once
// and used by every event that embeds the record, mirroring how each named
// type is defined once in the .avsc files.

func paymentMethodToNative(p *PaymentMethod) map[string]any {
	return map[string]any{
		"token":          p.Token,
		"type":           p.Type,
		"network":        p.Network,
		"funding":        p.Funding,
		"bin":            p.BIN,
		"last4":          p.Last4,
		"issuer_country": p.IssuerCountry,
		"expiry_month":   p.ExpiryMonth,
		"expiry_year":    p.ExpiryYear,
		"fingerprint":    p.Fingerprint,
	}
}

func paymentMethodFromNative(r nativeReader) PaymentMethod {
	return PaymentMethod{
		Token:         r.str("token"),
		Type:          r.str("type"),
		Network:       r.str("network"),
		Funding:       r.str("funding"),
		BIN:           r.str("bin"),
		Last4:         r.str("last4"),
		IssuerCountry: r.str("issuer_country"),
		ExpiryMonth:   r.int32("expiry_month"),
		ExpiryYear:    r.int32("expiry_year"),
		Fingerprint:   r.str("fingerprint"),
	}
}

func customerToNative(c *Customer) map[string]any {
	return map[string]any{
		"customer_id": c.CustomerID,
		"country":     c.Country,
	}
}

func customerFromNative(r nativeReader) Customer {
	return Customer{
		CustomerID: r.str("customer_id"),
		Country:    r.str("country"),
	}
}

func candidateToNative(c *Candidate) map[string]any {
	return map[string]any{
		"psp":    c.PSP,
		"method": c.Method,
		"rank":   c.Rank,
	}
}

func candidateFromNative(r nativeReader) Candidate {
	return Candidate{
		PSP:    r.str("psp"),
		Method: r.str("method"),
		Rank:   r.int32("rank"),
	}
}

func routingToNative(rt *Routing) map[string]any {
	return map[string]any{
		"route_ref":         rt.RouteRef,
		"candidates":        writeRecords(rt.Candidates, candidateToNative),
		"provider_override": rt.ProviderOverride,
	}
}

func routingFromNative(r nativeReader) Routing {
	return Routing{
		RouteRef:         r.str("route_ref"),
		Candidates:       readRecords(r, "candidates", candidateFromNative),
		ProviderOverride: r.str("provider_override"),
	}
}

func decisionToNative(d *Decision) map[string]any {
	return map[string]any{
		"config_version": d.ConfigVersion,
		"rule_id":        d.RuleID,
		"candidates":     writeRecords(d.Candidates, candidateToNative),
	}
}

func decisionFromNative(r nativeReader) Decision {
	return Decision{
		ConfigVersion: r.str("config_version"),
		RuleID:        r.str("rule_id"),
		Candidates:    readRecords(r, "candidates", candidateFromNative),
	}
}

func attemptSummaryToNative(a *AttemptSummary) map[string]any {
	return map[string]any{
		"attempt_id": a.AttemptID,
		"psp":        a.PSP,
		"rank":       a.Rank,
		"outcome":    string(a.Outcome),
		"class":      string(a.Class),
		"psp_code":   a.PSPCode,
	}
}

func attemptSummaryFromNative(r nativeReader) AttemptSummary {
	return AttemptSummary{
		AttemptID: r.str("attempt_id"),
		PSP:       r.str("psp"),
		Rank:      r.int32("rank"),
		Outcome:   Outcome(r.str("outcome")),
		Class:     Class(r.str("class")),
		PSPCode:   r.str("psp_code"),
	}
}
