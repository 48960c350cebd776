package router

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/payroute/payroute/schemas"
)

// fieldID identifies a field a condition can test. Conditions are compiled
// to it so evaluation is a switch, not a map or reflection.
type fieldID uint8

const (
	fPaymentID fieldID = iota
	fMerchantID
	fOperation
	fAmount
	fCurrency
	fRecurring
	fMethodType
	fNetwork
	fFunding
	fBIN
	fIssuerCountry
	fCustomerID
	fCustomerCountry
	fMetadata
	// Retry fields: only retry rules can test them.
	fClass
	fPSPCode
	fIssuerCode
	fAttempt
	fRank
	fLastPSP
)

// kind is the type of a field's value.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindBool
)

// fold says how a field's values are normalized before comparison. Card
// facts come from many PSPs and vaults in varying case ("Visa", "VISA"),
// so they compare case-insensitively; codes are upper case by the event
// contract; ids, metadata and PSP codes are compared exactly.
type fold uint8

const (
	foldNone fold = iota
	foldLower
	foldUpper
)

// fieldInfo describes one field.
type fieldInfo struct {
	id    fieldID
	name  string
	kind  kind
	fold  fold
	retry bool // a retry field
	// domain, when not nil, is every value the field can have where it is
	// tested; operands outside it are errors, and analysis enumerates it.
	domain []string
	// check validates one (folded) operand; nil accepts any.
	check func(string) error
}

// metadataPrefix starts a metadata field: "metadata.<key>".
const metadataPrefix = "metadata."

var fields = []fieldInfo{
	{id: fPaymentID, name: "payment_id"},
	{id: fMerchantID, name: "merchant_id"},
	// Rules never see follow-ups (they are pinned to the authorizing PSP).
	{id: fOperation, name: "operation", fold: foldUpper, domain: []string{string(schemas.OpAuthorize), string(schemas.OpCharge)}},
	{id: fAmount, name: "amount_minor", kind: kindInt},
	{id: fCurrency, name: "currency", fold: foldUpper, check: checkCurrency},
	{id: fRecurring, name: "recurring", kind: kindBool},
	{id: fMethodType, name: "payment_method.type", fold: foldLower},
	{id: fNetwork, name: "payment_method.network", fold: foldLower},
	{id: fFunding, name: "payment_method.funding", fold: foldLower},
	{id: fBIN, name: "payment_method.bin", check: checkDigits},
	{id: fIssuerCountry, name: "payment_method.issuer_country", fold: foldUpper, check: checkCountry},
	{id: fCustomerID, name: "customer.customer_id"},
	{id: fCustomerCountry, name: "customer.country", fold: foldUpper, check: checkCountry},
	{id: fMetadata, name: "metadata.<key>"},
	// Retry rules are consulted only for the classes that can be retried.
	{id: fClass, name: "class", retry: true, domain: retryableClasses()},
	{id: fPSPCode, name: "psp_code", retry: true},
	{id: fIssuerCode, name: "issuer_code", retry: true},
	{id: fAttempt, name: "attempt", kind: kindInt, retry: true},
	{id: fRank, name: "rank", kind: kindInt, retry: true},
	{id: fLastPSP, name: "last_psp", retry: true},
}

func retryableClasses() []string {
	return []string{string(schemas.ClassSoftDecline), string(schemas.ClassPSPError), string(schemas.ClassRateLimited)}
}

var fieldsByName = func() map[string]*fieldInfo {
	m := make(map[string]*fieldInfo, len(fields))
	for i := range fields {
		m[fields[i].name] = &fields[i]
	}
	return m
}()

// lookupField resolves a field name; for "metadata.<key>" it returns the
// key too.
func lookupField(name string, retry bool) (*fieldInfo, string, error) {
	if key, ok := strings.CutPrefix(name, metadataPrefix); ok {
		if key == "" {
			return nil, "", fmt.Errorf("metadata field needs a key: metadata.<key>")
		}
		return fieldsByName["metadata.<key>"], key, nil
	}
	f, ok := fieldsByName[name]
	if !ok || f.id == fMetadata {
		return nil, "", fmt.Errorf("unknown field %q (known: %s)", name, fieldList(retry))
	}
	if f.retry && !retry {
		return nil, "", fmt.Errorf("field %q can only be tested by retry rules", name)
	}
	return f, "", nil
}

func fieldList(retry bool) string {
	var names []string
	for _, f := range fields {
		if !f.retry || retry {
			names = append(names, f.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// normalize folds s the way field f compares. It returns s itself when it
// is already in canonical form, so canonical events cost no allocation.
func (f *fieldInfo) normalize(s string) string {
	switch f.fold {
	case foldLower:
		return lowerASCII(s)
	case foldUpper:
		return upperASCII(s)
	}
	return s
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

func checkCurrency(s string) error {
	if _, ok := schemas.CurrencyExponent(s); !ok {
		return fmt.Errorf("%q is not an active ISO 4217 currency code", s)
	}
	return nil
}

func checkCountry(s string) error {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code", s)
	}
	return nil
}

func checkDigits(s string) error {
	if s == "" || len(s) > 8 {
		return fmt.Errorf("%q is not a BIN or BIN prefix (1-8 digits)", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%q is not a BIN or BIN prefix (1-8 digits)", s)
		}
	}
	return nil
}

// input is what conditions read: the payment and, for retry rules, the
// failed attempt. The payment's text fields are read and folded once, when
// the input is made, so each condition costs an array load.
type input struct {
	req   *schemas.PaymentRequested // nil reads as an empty payment
	retry *RetryInput               // nil outside retry rules
	vals  [fMetadata]string         // the payment's text fields by fieldID, canonical
}

// makeInput reads req's text fields; folding returns canonical values
// unchanged, so this allocates nothing for canonical events.
func makeInput(req *schemas.PaymentRequested, retry *RetryInput) input {
	in := input{req: req, retry: retry}
	if req == nil {
		return in
	}
	in.vals[fPaymentID] = req.PaymentID
	in.vals[fMerchantID] = req.MerchantID
	in.vals[fOperation] = upperASCII(string(req.Operation))
	in.vals[fCurrency] = upperASCII(req.Currency)
	in.vals[fMethodType] = lowerASCII(req.PaymentMethod.Type)
	in.vals[fNetwork] = lowerASCII(req.PaymentMethod.Network)
	in.vals[fFunding] = lowerASCII(req.PaymentMethod.Funding)
	in.vals[fBIN] = req.PaymentMethod.BIN
	in.vals[fIssuerCountry] = upperASCII(req.PaymentMethod.IssuerCountry)
	in.vals[fCustomerID] = req.Customer.CustomerID
	in.vals[fCustomerCountry] = upperASCII(req.Customer.Country)
	return in
}

// str returns a text field's value; present is false only for a
// metadata key the payment does not carry.
func (in *input) str(f *fieldInfo, metaKey string) (v string, present bool) {
	switch {
	case f.retry:
		r := in.retry
		if r == nil {
			return "", true
		}
		switch f.id {
		case fClass:
			return string(r.Class), true
		case fPSPCode:
			return r.PSPCode, true
		case fIssuerCode:
			return r.IssuerCode, true
		case fLastPSP:
			return r.LastPSP, true
		}
		return "", true
	case f.id == fMetadata:
		if in.req == nil {
			return "", false
		}
		v, ok := in.req.Metadata[metaKey]
		return v, ok
	case f.id < fMetadata:
		return in.vals[f.id], true
	}
	return "", true
}

// integer returns an integer field's value.
func (in *input) integer(f *fieldInfo) int64 {
	switch f.id {
	case fAmount:
		if in.req != nil {
			return in.req.AmountMinor
		}
	case fAttempt:
		if in.retry != nil {
			return int64(in.retry.AttemptNumber) + 1
		}
	case fRank:
		if in.retry != nil {
			return int64(in.retry.Rank)
		}
	}
	return 0
}

// boolean returns a boolean field's value.
func (in *input) boolean(f *fieldInfo) bool {
	return f.id == fRecurring && in.req != nil && in.req.Recurring
}

// display renders a field's value for explanations.
func (in *input) display(f *fieldInfo, metaKey string) (string, bool) {
	switch f.kind {
	case kindInt:
		return strconv.FormatInt(in.integer(f), 10), true
	case kindBool:
		return strconv.FormatBool(in.boolean(f)), true
	}
	return in.str(f, metaKey)
}
