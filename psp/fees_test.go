package psp

import (
	"math"
	"strings"
	"testing"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
)

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"2.9": "2.9", "0.25": "0.25", "3": "3", "0.30": "0.3", "100": "100", "0.000001": "0.000001",
		" 1.5 ": "1.5", "007": "7", "999999999999.999999": "999999999999.999999",
	} {
		d, err := ParseDecimal(in)
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", in, err)
			continue
		}
		if d.String() != want {
			t.Errorf("ParseDecimal(%q) = %s, want %s", in, d, want)
		}
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Errorf("%q does not round-trip: %v %v", in, back, err)
		}
	}
	for _, bad := range []string{"", "-1", "+1", "1e3", ".5", "1.", "1.0000001", "abc", "1,5", "1000000000000"} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", bad)
		}
	}
}

func TestFee(t *testing.T) {
	s := &FeeSchedule{
		DomesticCountries:  []string{"IE", "DE"},
		CrossBorderPercent: MustDecimal("1.5"),
		Rates: []FeeRate{
			{Percent: MustDecimal("2.9"), Fixed: MustDecimal("0.30")},
			{Currency: "EUR", Percent: MustDecimal("1.5"), Fixed: MustDecimal("0.25"), DeclinedFixed: MustDecimal("0.05")},
			{Currency: "EUR", Network: "amex", Percent: MustDecimal("2.5"), Fixed: MustDecimal("0.25")},
			{Network: "visa", Percent: MustDecimal("2"), Fixed: MustDecimal("0.1")},
			{Currency: "JPY", Percent: MustDecimal("3.6"), Fixed: MustDecimal("0.25")},
			{Currency: "BHD", Percent: MustDecimal("0"), Fixed: MustDecimal("0.1")},
			{Currency: "USD", Network: "mastercard", Percent: MustDecimal("0.05")},
			{Currency: "GBP", Network: "mastercard", Percent: MustDecimal("0.25")},
		},
	}
	in := func(op schemas.Operation, out schemas.Outcome, amount int64, cur, net, country string) FeeInput {
		return FeeInput{Operation: op, Outcome: out, AmountMinor: amount, Currency: cur, Network: net, IssuerCountry: country}
	}
	auth, charge, ok, no := schemas.OpAuthorize, schemas.OpCharge, schemas.OutcomeApproved, schemas.OutcomeDeclined
	tests := []struct {
		name string
		in   FeeInput
		want int64
	}{
		// 1250 × 1.5% = 18.75, + 25 = 43.75 → 44.
		{"EUR rate, domestic", in(auth, ok, 1250, "EUR", "mastercard", "DE"), 44},
		{"charge priced like authorize", in(charge, ok, 1250, "EUR", "mastercard", "DE"), 44},
		// + 1.5% cross-border: 1250 × 3% = 37.5, + 25 = 62.5 → 63 (half up).
		{"cross-border surcharge", in(auth, ok, 1250, "EUR", "mastercard", "US"), 63},
		{"issuer country compared case-insensitively", in(auth, ok, 1250, "EUR", "mastercard", "ie"), 44},
		{"unknown issuer country is not cross-border", in(auth, ok, 1250, "EUR", "mastercard", ""), 44},
		// currency+network beats currency: 1000 × 2.5% = 25, + 25.
		{"most specific rate", in(auth, ok, 1000, "EUR", "AMEX", "IE"), 50},
		// currency beats network alone: EUR visa takes the EUR rate.
		{"currency beats network", in(auth, ok, 1000, "eur", "visa", "IE"), 40},
		// network alone beats the catch-all: SEK visa, 1000 × 2% = 20, + 10.
		{"network beats catch-all", in(auth, ok, 1000, "SEK", "visa", ""), 30},
		// catch-all: 1000 × 2.9% = 29, + 30.
		{"catch-all", in(auth, ok, 1000, "SEK", "discover", ""), 59},
		// JPY has no minor unit: 1000 × 3.6% = 36, + 0.25 yen = 36.25 → 36.
		{"zero-decimal currency", in(auth, ok, 1000, "JPY", "visa", ""), 36},
		// BHD has three: fixed 0.1 BHD = 100 fils.
		{"three-decimal currency", in(auth, ok, 5000, "BHD", "visa", ""), 100},
		// Half up, not banker's: 1000 × 0.05% = 0.5 → 1 (banker's: 0); 1000 × 0.25% = 2.5 → 3 (banker's: 2).
		{"half up at .5", in(auth, ok, 1000, "USD", "mastercard", ""), 1},
		{"half up at 2.5", in(auth, ok, 1000, "GBP", "mastercard", ""), 3},
		{"just below half", in(auth, ok, 999, "USD", "mastercard", ""), 0},
		{"declined pays declined_fixed", in(auth, no, 1250, "EUR", "visa", "US"), 5},
		{"declined without declined_fixed is free", in(auth, no, 1250, "SEK", "visa", ""), 0},
		{"error is free", in(auth, schemas.OutcomeError, 1250, "EUR", "visa", ""), 0},
		{"capture is free", in(schemas.OpCapture, ok, 1250, "EUR", "visa", ""), 0},
		{"refund is free", in(schemas.OpRefund, ok, 1250, "EUR", "visa", ""), 0},
		{"void is free", in(schemas.OpVoid, ok, 1250, "EUR", "visa", ""), 0},
		// Large amounts do not overflow: 9e15 × 2.9% = 2.61e14, + 30.
		{"large amount", in(auth, ok, 9_000_000_000_000_000, "SEK", "discover", ""), 261_000_000_000_030},
		// An unknown currency converts fixed amounts with 2 decimals.
		{"unknown currency", in(auth, ok, 1000, "XXQ", "discover", ""), 59},
	}
	for _, tc := range tests {
		if got := s.Fee(tc.in); got != tc.want {
			t.Errorf("%s: Fee = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := (*FeeSchedule)(nil).Fee(in(auth, ok, 1000, "EUR", "visa", "")); got != 0 {
		t.Errorf("nil schedule: %d", got)
	}
	noCatchAll := &FeeSchedule{Rates: []FeeRate{{Currency: "EUR", Percent: MustDecimal("1")}}}
	if got := noCatchAll.Fee(in(auth, ok, 1000, "USD", "visa", "")); got != 0 {
		t.Errorf("no matching rate: %d", got)
	}
	// The largest amount and rate: the fee is representable and exact.
	huge := &FeeSchedule{Rates: []FeeRate{{Percent: MustDecimal("100")}}}
	if got := huge.Fee(in(auth, ok, math.MaxInt64, "EUR", "visa", "")); got != math.MaxInt64 {
		t.Errorf("100%% of MaxInt64 = %d", got)
	}
}

func TestFeeScheduleValidate(t *testing.T) {
	cfg := Configuration{Accounts: map[string]Account{"psp-a": {Kind: "fake-test", Fees: FeeSchedule{
		DomesticCountries:  []string{"IE", "usa", "de"},
		CrossBorderPercent: MustDecimal("101"),
		Rates: []FeeRate{
			{Currency: "EUR", Percent: MustDecimal("1.5")},
			{Currency: "eur", Network: "visa"},
			{Currency: "EUR"},
			{Currency: "EURO", Network: "visa card", Percent: MustDecimal("150")},
		},
	}}}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid schedule accepted")
	}
	for _, want := range []string{
		`accounts.psp-a.fees.domestic_countries[1]: "usa" is not an ISO 3166-1 alpha-2 code`,
		`accounts.psp-a.fees.domestic_countries[2]: "de"`,
		"accounts.psp-a.fees.cross_border_percent: must be within [0,100], got 101",
		`accounts.psp-a.fees.rates[1].currency: "eur" is not an ISO 4217 currency code`,
		"accounts.psp-a.fees.rates[2]: same currency and network as rates[0]",
		`accounts.psp-a.fees.rates[3].currency: "EURO"`,
		`accounts.psp-a.fees.rates[3].network: "visa card"`,
		"accounts.psp-a.fees.rates[3].percent: must be within [0,100], got 150",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	lonely := Configuration{Accounts: map[string]Account{"psp-a": {Kind: "fake-test", Fees: FeeSchedule{CrossBorderPercent: MustDecimal("1")}}}}
	if err := lonely.Validate(); err == nil || !strings.Contains(err.Error(), "cross_border_percent: needs domestic_countries") {
		t.Errorf("cross-border without domestic countries: %v", err)
	}
}

// The schedule is written in YAML, numbers as numbers or strings, and a dump
// of it loads back to the same schedule.
func TestFeeScheduleYAML(t *testing.T) {
	type root struct {
		PSPs Configuration `yaml:"psps"`
	}
	doc := `
psps:
  accounts:
    psp-a:
      kind: fake-test
      fees:
        domestic_countries: [IE]
        cross_border_percent: 1.5
        rates:
          - {percent: 2.9, fixed: "0.30"}
          - {currency: EUR, network: visa, percent: "1.4", fixed: 0.25, declined_fixed: "0.05"}
`
	var cfg root
	if err := config.LoadBytes("fees.yaml", []byte(doc), nil, &cfg); err != nil {
		t.Fatal(err)
	}
	fees := cfg.PSPs.Accounts["psp-a"].Fees
	if fees.CrossBorderPercent.String() != "1.5" || len(fees.Rates) != 2 || fees.Rates[0].Percent.String() != "2.9" ||
		fees.Rates[0].Fixed.String() != "0.3" || fees.Rates[1].Fixed.String() != "0.25" || fees.Rates[1].DeclinedFixed.String() != "0.05" {
		t.Fatalf("loaded %+v", fees)
	}
	out, err := config.Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var again root
	if err := config.LoadBytes("dump.yaml", out, nil, &again); err != nil {
		t.Fatalf("dump does not load back: %v\n%s", err, out)
	}
	in := FeeInput{Operation: schemas.OpCharge, Outcome: schemas.OutcomeApproved, AmountMinor: 1999, Currency: "EUR", Network: "visa", IssuerCountry: "FR"}
	loaded := again.PSPs.Accounts["psp-a"].Fees
	if a, b := fees.Fee(in), loaded.Fee(in); a != b || a != 83 { // 1999 × 2.9% = 57.971, + 25 = 82.971 → 83
		t.Fatalf("fee %d before the dump, %d after, want 83", a, b)
	}
	bad := strings.Replace(doc, "percent: 2.9,", "percent: 2.9.1,", 1)
	if err := config.LoadBytes("bad.yaml", []byte(bad), nil, &root{}); err == nil || !strings.Contains(err.Error(), "psps.accounts.psp-a.fees.rates[0].percent") {
		t.Fatalf("bad decimal: %v", err)
	}
}

func TestRegistryFee(t *testing.T) {
	reg, err := NewRegistry(Configuration{Accounts: map[string]Account{
		"psp-a": {Kind: "fake-test", Fees: FeeSchedule{Rates: []FeeRate{{Percent: MustDecimal("1"), Fixed: MustDecimal("0.1")}}}},
		"psp-b": {Kind: "fake-test"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &schemas.AttemptRecorded{PSP: "psp-a", Operation: schemas.OpAuthorize, Outcome: schemas.OutcomeApproved,
		AmountMinor: 5000, Currency: "EUR", CardNetwork: "visa", IssuerCountry: "DE"}
	in := FeeInputOf(rec)
	if in.AmountMinor != 5000 || in.Currency != "EUR" || in.Network != "visa" || in.IssuerCountry != "DE" ||
		in.Operation != schemas.OpAuthorize || in.Outcome != schemas.OutcomeApproved {
		t.Fatalf("FeeInputOf = %+v", in)
	}
	if got := reg.Fee("psp-a", in); got != 60 {
		t.Errorf("psp-a fee = %d, want 60", got)
	}
	if got := reg.Fee("psp-b", in); got != 0 {
		t.Errorf("psp-b (no schedule) fee = %d", got)
	}
	if got := reg.Fee("nope", in); got != 0 {
		t.Errorf("unknown account fee = %d", got)
	}
}
