package schemas

import (
	"slices"
	"sort"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits a PaymentRequested must respect. They are part of the contract with
// upstream producers, which is why they are exported.
const (
	// MaxAmountMinor is the largest amount_minor accepted. Every integer up to
	// it is exact in a float64 (2^53 is about 9e15), so JSON consumers and
	// analytics never round an amount; no real payment comes close.
	MaxAmountMinor int64 = 999_999_999_999_999
	// MaxIDBytes bounds payment_id and reference_payment_id, which become
	// Kafka keys and parts of PSP idempotency keys (Stripe allows 255).
	MaxIDBytes = 128
	// MaxStringBytes bounds every other string, so one request cannot bloat
	// every topic and table it is copied into.
	MaxStringBytes = 1024
	// MaxMetadataEntries bounds metadata; MaxMetadataKeyBytes its keys.
	MaxMetadataEntries  = 64
	MaxMetadataKeyBytes = 128
	// MaxCandidates bounds routing.candidates; far more than there are ranks.
	MaxCandidates = 64
)

// Validate checks a request from an upstream producer and returns nil or a
// *DecodeError of KindInvalid whose Field names the first offending field.
//
// Card data is checked first, so a request that carries something like a card
// number always reports it (errors.Is(err, ErrCardData)) whatever else is
// wrong: that answer decides whether the raw record may be kept anywhere.
func (p *PaymentRequested) Validate() error {
	if err := p.validate(); err != nil {
		return err
	}
	return nil // not a nil *DecodeError in a non-nil interface
}

func (p *PaymentRequested) validate() *DecodeError {
	if err := p.checkCardData(); err != nil {
		return err
	}

	if err := checkID("payment_id", p.PaymentID); err != nil {
		return err
	}
	if !slices.Contains(Operations, p.Operation) || p.Operation == OpUnknown {
		return invalid("operation", "unknown operation %q", truncate(string(p.Operation)))
	}
	if p.AmountMinor <= 0 {
		return invalid("amount_minor", "must be > 0, got %d", p.AmountMinor)
	}
	if p.AmountMinor > MaxAmountMinor {
		return invalid("amount_minor", "must be <= %d, got %d", MaxAmountMinor, p.AmountMinor)
	}
	if _, ok := CurrencyExponent(p.Currency); !ok {
		return invalid("currency", "%q is not an active ISO 4217 code (upper case)", truncate(p.Currency))
	}

	switch p.Operation {
	case OpCapture, OpVoid, OpRefund:
		// Follow-ups go to the PSP that authorized, found by this id.
		if p.ReferencePaymentID == "" {
			return invalid("reference_payment_id", "required for %s", p.Operation)
		}
	case OpAuthorize, OpCharge:
		if p.PaymentMethod.Token == "" {
			return invalid("payment_method.token", "required for %s", p.Operation)
		}
	}
	if p.ReferencePaymentID != "" {
		if err := checkID("reference_payment_id", p.ReferencePaymentID); err != nil {
			return err
		}
		// The follow-up must be a payment of its own: with the same id it would
		// be taken for a duplicate of the authorization and dropped.
		if p.ReferencePaymentID == p.PaymentID {
			return invalid("reference_payment_id", "must differ from payment_id")
		}
	}

	pm := &p.PaymentMethod
	if pm.BIN != "" && (len(pm.BIN) < 6 || len(pm.BIN) > 8 || !allDigits(pm.BIN)) {
		return invalid("payment_method.bin", "must be 6 to 8 digits")
	}
	if pm.Last4 != "" && (len(pm.Last4) != 4 || !allDigits(pm.Last4)) {
		return invalid("payment_method.last4", "must be exactly 4 digits")
	}
	if pm.ExpiryMonth < 0 || pm.ExpiryMonth > 12 {
		return invalid("payment_method.expiry_month", "must be 1-12 (0: unknown), got %d", pm.ExpiryMonth)
	}
	if pm.ExpiryYear != 0 && (pm.ExpiryYear < 2000 || pm.ExpiryYear > 2199) {
		return invalid("payment_method.expiry_year", "must be a four-digit year (0: unknown), got %d", pm.ExpiryYear)
	}
	if err := checkCountry("payment_method.issuer_country", pm.IssuerCountry); err != nil {
		return err
	}
	if err := checkCountry("customer.country", p.Customer.Country); err != nil {
		return err
	}
	if p.RequestedAtMs < 0 {
		return invalid("requested_at_ms", "must be >= 0 (0: unknown), got %d", p.RequestedAtMs)
	}

	texts := []struct{ field, value string }{
		{"merchant_id", p.MerchantID},
		{"payment_method.token", pm.Token},
		{"payment_method.type", pm.Type},
		{"payment_method.network", pm.Network},
		{"payment_method.funding", pm.Funding},
		{"payment_method.fingerprint", pm.Fingerprint},
		{"customer.customer_id", p.Customer.CustomerID},
		{"routing.route_ref", p.Routing.RouteRef},
		{"routing.provider_override", p.Routing.ProviderOverride},
	}
	for _, t := range texts {
		if err := checkText(t.field, t.value, MaxStringBytes); err != nil {
			return err
		}
	}

	if n := len(p.Routing.Candidates); n > MaxCandidates {
		return invalid("routing.candidates", "at most %d entries, got %d", MaxCandidates, n)
	}
	for i, c := range p.Routing.Candidates {
		field := "routing.candidates[" + strconv.Itoa(i) + "]"
		if c.PSP == "" {
			return invalid(field+".psp", "required")
		}
		if err := checkText(field+".psp", c.PSP, MaxStringBytes); err != nil {
			return err
		}
		if err := checkText(field+".method", c.Method, MaxStringBytes); err != nil {
			return err
		}
		if c.Rank < 0 {
			return invalid(field+".rank", "must be >= 0, got %d", c.Rank)
		}
	}

	if n := len(p.Metadata); n > MaxMetadataEntries {
		return invalid("metadata", "at most %d entries, got %d", MaxMetadataEntries, n)
	}
	for _, k := range sortedKeys(p.Metadata) {
		if !metadataKeyOK(k) {
			return invalid("metadata", "keys must be 1-%d bytes of UTF-8 without control characters", MaxMetadataKeyBytes)
		}
		if err := checkText("metadata."+k, p.Metadata[k], MaxStringBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkCardData looks for card numbers where a producer could smuggle one in:
// the token and metadata. Other fields are not scanned on purpose: ids may be
// long numbers (a 16-digit order id passes Luhn one time in ten), and the
// fingerprint is a hash whose hex digits would, for a few cards in a thousand,
// always look like one. Those fields have formats that leave no room for
// free text, or are bounded and scanned downstream.
func (p *PaymentRequested) checkCardData() *DecodeError {
	if ContainsPAN(p.PaymentMethod.Token) {
		return &DecodeError{Kind: KindInvalid, Field: "payment_method.token", Err: ErrCardData}
	}
	for _, k := range sortedKeys(p.Metadata) {
		if ContainsPAN(k) {
			// Never name the key: it would copy the number into headers.
			return &DecodeError{Kind: KindInvalid, Field: "metadata", Err: ErrCardData}
		}
		if ContainsPAN(p.Metadata[k]) {
			field := "metadata"
			if metadataKeyOK(k) {
				field += "." + k
			}
			return &DecodeError{Kind: KindInvalid, Field: field, Err: ErrCardData}
		}
	}
	return nil
}

// checkID: ids travel as Kafka keys, HTTP idempotency-key headers and SQL
// values, so they are restricted to visible ASCII (no spaces, no controls).
func checkID(field, v string) *DecodeError {
	if v == "" {
		return invalid(field, "required")
	}
	if len(v) > MaxIDBytes {
		return invalid(field, "at most %d bytes, got %d", MaxIDBytes, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return invalid(field, "only visible ASCII characters (no spaces) are allowed")
		}
	}
	return nil
}

// checkText: bounded, valid UTF-8 (Avro strings must be) and single-line, so
// a value cannot forge log lines or break headers it is copied into.
func checkText(field, v string, maxBytes int) *DecodeError {
	if len(v) > maxBytes {
		return invalid(field, "at most %d bytes, got %d", maxBytes, len(v))
	}
	if !utf8.ValidString(v) {
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid(field, "control characters are not allowed")
		}
	}
	return nil
}

func checkCountry(field, v string) *DecodeError {
	if v == "" {
		return nil
	}
	if len(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z' {
		return invalid(field, "must be an ISO 3166-1 alpha-2 code in upper case")
	}
	return nil
}

// metadataKeyOK says whether a key is well-formed, and so safe to name in a
// DecodeError's Field.
func metadataKeyOK(k string) bool {
	return k != "" && checkText("", k, MaxMetadataKeyBytes) == nil && !ContainsPAN(k)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same on every run
	return keys
}

// truncate bounds a value quoted in an error message; only used for fields
// whose valid values are short codes. Eight bytes cannot hold a card number
// (at most a BIN, which is not sensitive).
func truncate(s string) string {
	const max = 8
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
