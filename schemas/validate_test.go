package schemas

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	pan := testPAN(t)
	cases := []struct {
		name  string
		mut   func(p *PaymentRequested)
		field string // "" = valid
		card  bool
	}{
		{"valid authorize", func(p *PaymentRequested) {}, "", false},
		{"valid charge without optional fields", func(p *PaymentRequested) {
			*p = PaymentRequested{PaymentID: "p-1", Operation: OpCharge, AmountMinor: 1, Currency: "JPY", PaymentMethod: PaymentMethod{Token: "tok"}}
		}, "", false},
		{"valid refund without token", func(p *PaymentRequested) {
			p.Operation, p.ReferencePaymentID, p.PaymentMethod.Token = OpRefund, "pay_auth_1", ""
		}, "", false},
		{"13-digit ms timestamp in metadata is not a card", func(p *PaymentRequested) {
			p.Metadata["created_ms"] = luhnComplete(t, "176000000000")
		}, "", false},
		{"max amount", func(p *PaymentRequested) { p.AmountMinor = MaxAmountMinor }, "", false},

		{"missing payment_id", func(p *PaymentRequested) { p.PaymentID = "" }, "payment_id", false},
		{"payment_id with space", func(p *PaymentRequested) { p.PaymentID = "pay 1" }, "payment_id", false},
		{"payment_id with control", func(p *PaymentRequested) { p.PaymentID = "pay\x001" }, "payment_id", false},
		{"payment_id non-ascii", func(p *PaymentRequested) { p.PaymentID = "pay-é" }, "payment_id", false},
		{"payment_id too long", func(p *PaymentRequested) { p.PaymentID = strings.Repeat("a", MaxIDBytes+1) }, "payment_id", false},
		{"unknown operation", func(p *PaymentRequested) { p.Operation = "PAYOUT" }, "operation", false},
		{"empty operation", func(p *PaymentRequested) { p.Operation = "" }, "operation", false},
		{"negative amount", func(p *PaymentRequested) { p.AmountMinor = -1 }, "amount_minor", false},
		{"zero amount", func(p *PaymentRequested) { p.AmountMinor = 0 }, "amount_minor", false},
		{"amount over max", func(p *PaymentRequested) { p.AmountMinor = MaxAmountMinor + 1 }, "amount_minor", false},
		{"unknown currency", func(p *PaymentRequested) { p.Currency = "ABC" }, "currency", false},
		{"lower-case currency", func(p *PaymentRequested) { p.Currency = "eur" }, "currency", false},
		{"replaced currency", func(p *PaymentRequested) { p.Currency = "HRK" }, "currency", false},
		{"missing currency", func(p *PaymentRequested) { p.Currency = "" }, "currency", false},
		{"capture without reference", func(p *PaymentRequested) { p.Operation = OpCapture }, "reference_payment_id", false},
		{"void without reference", func(p *PaymentRequested) { p.Operation = OpVoid }, "reference_payment_id", false},
		{"refund without reference", func(p *PaymentRequested) { p.Operation = OpRefund }, "reference_payment_id", false},
		{"reference equal to payment_id", func(p *PaymentRequested) {
			p.Operation, p.ReferencePaymentID = OpCapture, p.PaymentID
		}, "reference_payment_id", false},
		{"malformed reference", func(p *PaymentRequested) { p.ReferencePaymentID = "a b" }, "reference_payment_id", false},
		{"authorize without token", func(p *PaymentRequested) { p.PaymentMethod.Token = "" }, "payment_method.token", false},
		{"charge without token", func(p *PaymentRequested) { p.Operation, p.PaymentMethod.Token = OpCharge, "" }, "payment_method.token", false},
		{"bin too short", func(p *PaymentRequested) { p.PaymentMethod.BIN = "42424" }, "payment_method.bin", false},
		{"bin too long", func(p *PaymentRequested) { p.PaymentMethod.BIN = "424242424" }, "payment_method.bin", false},
		{"bin not digits", func(p *PaymentRequested) { p.PaymentMethod.BIN = "4242ab" }, "payment_method.bin", false},
		{"bin of 8", func(p *PaymentRequested) { p.PaymentMethod.BIN = "42424242" }, "", false},
		{"last4 of 3", func(p *PaymentRequested) { p.PaymentMethod.Last4 = "424" }, "payment_method.last4", false},
		{"last4 not digits", func(p *PaymentRequested) { p.PaymentMethod.Last4 = "42a2" }, "payment_method.last4", false},
		{"expiry month 13", func(p *PaymentRequested) { p.PaymentMethod.ExpiryMonth = 13 }, "payment_method.expiry_month", false},
		{"two-digit expiry year", func(p *PaymentRequested) { p.PaymentMethod.ExpiryYear = 31 }, "payment_method.expiry_year", false},
		{"issuer country lower case", func(p *PaymentRequested) { p.PaymentMethod.IssuerCountry = "de" }, "payment_method.issuer_country", false},
		{"customer country alpha-3", func(p *PaymentRequested) { p.Customer.Country = "FRA" }, "customer.country", false},
		{"negative requested_at_ms", func(p *PaymentRequested) { p.RequestedAtMs = -1 }, "requested_at_ms", false},
		{"merchant_id too long", func(p *PaymentRequested) { p.MerchantID = strings.Repeat("m", MaxStringBytes+1) }, "merchant_id", false},
		{"customer_id invalid utf-8", func(p *PaymentRequested) { p.Customer.CustomerID = "cus\xff" }, "customer.customer_id", false},
		{"route_ref with newline", func(p *PaymentRequested) { p.Routing.RouteRef = "eu\nfake log line" }, "routing.route_ref", false},
		{"candidate without psp", func(p *PaymentRequested) { p.Routing.Candidates[1].PSP = "" }, "routing.candidates[1].psp", false},
		{"candidate negative rank", func(p *PaymentRequested) { p.Routing.Candidates[0].Rank = -1 }, "routing.candidates[0].rank", false},
		{"too many candidates", func(p *PaymentRequested) {
			p.Routing.Candidates = make([]Candidate, MaxCandidates+1)
		}, "routing.candidates", false},
		{"too much metadata", func(p *PaymentRequested) {
			for i := range MaxMetadataEntries {
				p.Metadata[strings.Repeat("k", i+1)] = "v"
			}
		}, "metadata", false},
		{"empty metadata key", func(p *PaymentRequested) { p.Metadata[""] = "v" }, "metadata", false},
		{"metadata value too long", func(p *PaymentRequested) { p.Metadata["blob"] = strings.Repeat("x", MaxStringBytes+1) }, "metadata.blob", false},

		{"card number in token", func(p *PaymentRequested) { p.PaymentMethod.Token = pan }, "payment_method.token", true},
		{"card number in metadata", func(p *PaymentRequested) { p.Metadata["note"] = "pan=" + pan }, "metadata.note", true},
		{"spaced card number in metadata", func(p *PaymentRequested) { p.Metadata["note"] = group4(pan, " ") }, "metadata.note", true},
		{"card number as metadata key", func(p *PaymentRequested) { p.Metadata[pan] = "x" }, "metadata", true},
		{"card data wins over other errors", func(p *PaymentRequested) {
			p.AmountMinor = -1
			p.Metadata["x"] = group4(pan, "-")
		}, "metadata.x", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validRequest()
			c.mut(p)
			err := p.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %v, want *DecodeError", err)
			}
			if de.Kind != KindInvalid || de.Reason() != "invalid_field" || de.Field != c.field {
				t.Fatalf("got %v field %q (%v), want field %q", de.Kind, de.Field, err, c.field)
			}
			if errors.Is(err, ErrCardData) != c.card {
				t.Fatalf("ErrCardData: %v", !c.card)
			}
			if strings.Contains(err.Error(), pan[4:]) {
				t.Fatalf("error repeats card digits: %v", err)
			}
		})
	}
}

func TestValidateReturnsUntypedNil(t *testing.T) {
	if err := validRequest().Validate(); err != nil {
		t.Fatalf("%#v", err)
	}
}

func TestContainsPAN(t *testing.T) {
	pan16 := testPAN(t)
	// Prefixes are split so that no literal is itself a Luhn-valid run.
	amex := luhnComplete(t, "3782822"+"4631000")      // 15 digits
	pan19 := luhnComplete(t, "622126"+"000000000000") // 19 digits
	pan13 := luhnComplete(t, "422222222222")          // 13 digits
	cases := []struct {
		name string
		s    string
		want bool
	}{
		{"16 digits", pan16, true},
		{"15 digits", amex, true},
		{"19 digits", pan19, true},
		{"13 digits", pan13, true},
		{"inside text", "customer said " + pan16 + ", thanks", true},
		{"after letters", "tok" + pan16, true},
		{"grouped by spaces", group4(pan16, " "), true},
		{"grouped by dashes", group4(pan16, "-"), true},
		{"amex grouping", amex[:4] + " " + amex[4:10] + " " + amex[10:], true},
		{"after another number", "order 12 " + group4(pan16, " "), true},
		{"before another number", group4(pan16, " ") + " 12", true},

		{"empty", "", false},
		{"not luhn", luhnBreak(pan16), false},
		{"12 digits", luhnComplete(t, "42424242424"), false},
		{"20 digits", luhnComplete(t, "4242424242424242424"), false},
		{"starts with 1 (timestamp)", luhnComplete(t, "176000000000"), false},
		{"starts with 0", luhnComplete(t, "042424242424242"), false},
		{"double separator", pan16[:8] + "  " + pan16[8:], false},
		{"other separator", pan16[:8] + "/" + pan16[8:], false},
		{"uuid", "3f2b8c1e-9d4a-4e6b-8a1f-2c3d4e5f6a7b", false},
		{"bin and last4", "424242******4242", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ContainsPAN(c.s); got != c.want {
				t.Fatalf("ContainsPAN = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for _, c := range []struct {
		digits string
		want   bool
	}{
		{"0", true}, {"18", true}, {"79927398713", true}, {"79927398710", false}, {"1234567812345678", false},
	} {
		if got := luhnValid([]byte(c.digits)); got != c.want {
			t.Errorf("luhnValid(%s) = %v", c.digits, got)
		}
	}
}

func TestCurrencyExponent(t *testing.T) {
	cases := []struct {
		code string
		exp  int
		ok   bool
	}{
		{"EUR", 2, true}, {"USD", 2, true}, {"GBP", 2, true}, {"JPY", 0, true}, {"KRW", 0, true},
		{"KWD", 3, true}, {"BHD", 3, true}, {"TND", 3, true}, {"CLF", 4, true}, {"UYW", 4, true},
		{"XOF", 0, true}, {"XCG", 2, true}, {"SLE", 2, true}, {"VES", 2, true}, {"ZWG", 2, true},
		{"eur", 0, false}, {"", 0, false}, {"EURO", 0, false}, {"XAU", 0, false}, {"XXX", 0, false},
		{"XTS", 0, false}, {"HRK", 0, false}, {"VEF", 0, false},
	}
	for _, c := range cases {
		exp, ok := CurrencyExponent(c.code)
		if exp != c.exp || ok != c.ok {
			t.Errorf("CurrencyExponent(%q) = %d, %v; want %d, %v", c.code, exp, ok, c.exp, c.ok)
		}
	}
	for code, exp := range iso4217 {
		if len(code) != 3 || strings.ToUpper(code) != code || exp < 0 || exp > 4 {
			t.Errorf("bad table entry %q: %d", code, exp)
		}
	}
	if len(iso4217) < 150 {
		t.Errorf("only %d currencies", len(iso4217))
	}
}
