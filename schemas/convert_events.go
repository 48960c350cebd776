package schemas

// Conversions of the six event records. Nested records go through the shared
// helpers in convert_nested.go.

func paymentRequestedToNative(p *PaymentRequested) map[string]any {
	return map[string]any{
		"payment_id":           p.PaymentID,
		"reference_payment_id": p.ReferencePaymentID,
		"merchant_id":          p.MerchantID,
		"operation":            string(p.Operation),
		"amount_minor":         p.AmountMinor,
		"currency":             p.Currency,
		"payment_method":       paymentMethodToNative(&p.PaymentMethod),
		"customer":             customerToNative(&p.Customer),
		"recurring":            p.Recurring,
		"routing":              routingToNative(&p.Routing),
		"metadata":             writeStringMap(p.Metadata),
		"requested_at_ms":      p.RequestedAtMs,
	}
}

func paymentRequestedFromNative(r nativeReader) PaymentRequested {
	return PaymentRequested{
		PaymentID:          r.str("payment_id"),
		ReferencePaymentID: r.str("reference_payment_id"),
		MerchantID:         r.str("merchant_id"),
		Operation:          Operation(r.str("operation")),
		AmountMinor:        r.int64("amount_minor"),
		Currency:           r.str("currency"),
		PaymentMethod:      paymentMethodFromNative(r.record("payment_method")),
		Customer:           customerFromNative(r.record("customer")),
		Recurring:          r.bool("recurring"),
		Routing:            routingFromNative(r.record("routing")),
		Metadata:           r.stringMap("metadata"),
		RequestedAtMs:      r.int64("requested_at_ms"),
	}
}

func attemptFailedToNative(a *AttemptFailed) map[string]any {
	return map[string]any{
		"payment_id":   a.PaymentID,
		"request":      paymentRequestedToNative(&a.Request),
		"decision":     decisionToNative(&a.Decision),
		"next_rank":    a.NextRank,
		"target_psp":   a.TargetPSP,
		"due_at_ms":    a.DueAtMs,
		"retry_count":  a.RetryCount,
		"failure":      attemptSummaryToNative(&a.Failure),
		"path":         writeRecords(a.Path, attemptSummaryToNative),
		"message":      a.Message,
		"failed_at_ms": a.FailedAtMs,
	}
}

func attemptFailedFromNative(r nativeReader) AttemptFailed {
	return AttemptFailed{
		PaymentID:  r.str("payment_id"),
		Request:    paymentRequestedFromNative(r.record("request")),
		Decision:   decisionFromNative(r.record("decision")),
		NextRank:   r.int32("next_rank"),
		TargetPSP:  r.str("target_psp"),
		DueAtMs:    r.int64("due_at_ms"),
		RetryCount: r.int32("retry_count"),
		Failure:    attemptSummaryFromNative(r.record("failure")),
		Path:       readRecords(r, "path", attemptSummaryFromNative),
		Message:    r.str("message"),
		FailedAtMs: r.int64("failed_at_ms"),
	}
}

func attemptRecordedToNative(a *AttemptRecorded) map[string]any {
	return map[string]any{
		"attempt_id":      a.AttemptID,
		"payment_id":      a.PaymentID,
		"merchant_id":     a.MerchantID,
		"attempt_number":  a.AttemptNumber,
		"rank":            a.Rank,
		"psp":             a.PSP,
		"method":          a.Method,
		"previous_psp":    a.PreviousPSP,
		"operation":       string(a.Operation),
		"amount_minor":    a.AmountMinor,
		"currency":        a.Currency,
		"outcome":         string(a.Outcome),
		"class":           string(a.Class),
		"psp_code":        a.PSPCode,
		"issuer_code":     a.IssuerCode,
		"message":         a.Message,
		"psp_reference":   a.PSPReference,
		"idempotency_key": a.IdempotencyKey,
		"latency_ms":      a.LatencyMs,
		"fee_minor":       a.FeeMinor,
		"card_network":    a.CardNetwork,
		"card_funding":    a.CardFunding,
		"card_bin":        a.CardBIN,
		"issuer_country":  a.IssuerCountry,
		"config_version":  a.ConfigVersion,
		"rule_id":         a.RuleID,
		"started_at_ms":   a.StartedAtMs,
		"finished_at_ms":  a.FinishedAtMs,
		"inquiries":       a.Inquiries,
		"in_doubt_ms":     a.InDoubtMs,
	}
}

func attemptRecordedFromNative(r nativeReader) AttemptRecorded {
	return AttemptRecorded{
		AttemptID:      r.str("attempt_id"),
		PaymentID:      r.str("payment_id"),
		MerchantID:     r.str("merchant_id"),
		AttemptNumber:  r.int32("attempt_number"),
		Rank:           r.int32("rank"),
		PSP:            r.str("psp"),
		Method:         r.str("method"),
		PreviousPSP:    r.str("previous_psp"),
		Operation:      Operation(r.str("operation")),
		AmountMinor:    r.int64("amount_minor"),
		Currency:       r.str("currency"),
		Outcome:        Outcome(r.str("outcome")),
		Class:          Class(r.str("class")),
		PSPCode:        r.str("psp_code"),
		IssuerCode:     r.str("issuer_code"),
		Message:        r.str("message"),
		PSPReference:   r.str("psp_reference"),
		IdempotencyKey: r.str("idempotency_key"),
		LatencyMs:      r.int64("latency_ms"),
		FeeMinor:       r.int64("fee_minor"),
		CardNetwork:    r.str("card_network"),
		CardFunding:    r.str("card_funding"),
		CardBIN:        r.str("card_bin"),
		IssuerCountry:  r.str("issuer_country"),
		ConfigVersion:  r.str("config_version"),
		RuleID:         r.str("rule_id"),
		StartedAtMs:    r.int64("started_at_ms"),
		FinishedAtMs:   r.int64("finished_at_ms"),
		Inquiries:      r.int32("inquiries"),
		InDoubtMs:      r.int64("in_doubt_ms"),
	}
}

func paymentResultToNative(p *PaymentResult) map[string]any {
	return map[string]any{
		"payment_id":      p.PaymentID,
		"merchant_id":     p.MerchantID,
		"operation":       string(p.Operation),
		"status":          string(p.Status),
		"amount_minor":    p.AmountMinor,
		"currency":        p.Currency,
		"psp":             p.PSP,
		"psp_reference":   p.PSPReference,
		"first_psp":       p.FirstPSP,
		"attempt_count":   p.AttemptCount,
		"path":            writeRecords(p.Path, attemptSummaryToNative),
		"class":           string(p.Class),
		"psp_code":        p.PSPCode,
		"reason":          p.Reason,
		"retry_after_ms":  p.RetryAfterMs,
		"config_version":  p.ConfigVersion,
		"rule_id":         p.RuleID,
		"requested_at_ms": p.RequestedAtMs,
		"completed_at_ms": p.CompletedAtMs,
		"action_url":      p.ActionURL,
	}
}

func paymentResultFromNative(r nativeReader) PaymentResult {
	return PaymentResult{
		PaymentID:     r.str("payment_id"),
		MerchantID:    r.str("merchant_id"),
		Operation:     Operation(r.str("operation")),
		Status:        Status(r.str("status")),
		AmountMinor:   r.int64("amount_minor"),
		Currency:      r.str("currency"),
		PSP:           r.str("psp"),
		PSPReference:  r.str("psp_reference"),
		FirstPSP:      r.str("first_psp"),
		AttemptCount:  r.int32("attempt_count"),
		Path:          readRecords(r, "path", attemptSummaryFromNative),
		Class:         Class(r.str("class")),
		PSPCode:       r.str("psp_code"),
		Reason:        r.str("reason"),
		RetryAfterMs:  r.int64("retry_after_ms"),
		ConfigVersion: r.str("config_version"),
		RuleID:        r.str("rule_id"),
		RequestedAtMs: r.int64("requested_at_ms"),
		CompletedAtMs: r.int64("completed_at_ms"),
		ActionURL:     r.str("action_url"),
	}
}

func customerActionToNative(c *CustomerAction) map[string]any {
	return map[string]any{
		"payment_id":      c.PaymentID,
		"action":          string(c.Action),
		"token":           c.Token,
		"requested_at_ms": c.RequestedAtMs,
	}
}

func customerActionFromNative(r nativeReader) CustomerAction {
	return CustomerAction{
		PaymentID:     r.str("payment_id"),
		Action:        CustomerActionKind(r.str("action")),
		Token:         r.str("token"),
		RequestedAtMs: r.int64("requested_at_ms"),
	}
}

func pspHealthChangedToNative(p *PspHealthChanged) map[string]any {
	return map[string]any{
		"psp":            p.PSP,
		"scope":          p.Scope,
		"state":          string(p.State),
		"previous_state": string(p.PreviousState),
		"reason":         p.Reason,
		"failure_rate":   p.FailureRate,
		"window_calls":   p.WindowCalls,
		"instance_id":    p.InstanceID,
		"changed_at_ms":  p.ChangedAtMs,
	}
}

func pspHealthChangedFromNative(r nativeReader) PspHealthChanged {
	return PspHealthChanged{
		PSP:           r.str("psp"),
		Scope:         r.str("scope"),
		State:         HealthState(r.str("state")),
		PreviousState: HealthState(r.str("previous_state")),
		Reason:        r.str("reason"),
		FailureRate:   r.float64("failure_rate"),
		WindowCalls:   r.int64("window_calls"),
		InstanceID:    r.str("instance_id"),
		ChangedAtMs:   r.int64("changed_at_ms"),
	}
}
