package psp

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/payroute/payroute/config"
	"github.com/payroute/payroute/schemas"
)

// FeeSchedule is what a PSP account charges per attempt, configured under
// the account:
//
//	psps:
//	  accounts:
//	    stripe-eu:
//	      kind: stripe
//	      fees:
//	        domestic_countries: [IE, DE, FR, NL]   # cards issued elsewhere are cross-border
//	        cross_border_percent: 1.5
//	        rates:
//	          - {percent: 2.9, fixed: "0.30"}                          # any currency and network
//	          - {currency: EUR, percent: 1.5, fixed: "0.25"}
//	          - {currency: EUR, network: amex, percent: 2.5, fixed: "0.25"}
//	          - {currency: EUR, network: visa, percent: 1.4, fixed: "0.25", declined_fixed: "0.05"}
//
// The fee of an attempt is computed by Fee, in minor units of the payment's
// currency, and carried on every AttemptRecorded as fee_minor, from which
// analytics derive fees per PSP and cost per approved payment.
type FeeSchedule struct {
	// DomesticCountries are the ISO 3166-1 alpha-2 countries whose cards the
	// account acquires as domestic: the acquirer's country, or a region
	// priced as one (the EEA at most European acquirers). A card issued
	// elsewhere pays CrossBorderPercent on top of its rate. Empty means no
	// card is cross-border.
	DomesticCountries []string `yaml:"domestic_countries"`
	// CrossBorderPercent is the surcharge, in percent of the amount, on an
	// approved payment with a card issued outside DomesticCountries. A card
	// whose issuer country is unknown is not surcharged.
	CrossBorderPercent Decimal `yaml:"cross_border_percent"`
	// Rates price approved and declined attempts per currency and card
	// network. The most specific rate matching a payment applies: currency
	// and network, then currency alone, then network alone, then the rate
	// with neither. A payment no rate matches costs nothing, so write a
	// rate with neither currency nor network as the catch-all. Two rates for
	// the same currency and network are an error.
	Rates []FeeRate `yaml:"rates"`
}

// FeeRate prices the attempts of one currency and card network. Amounts are
// exact decimals (written as numbers or strings, never rounded through
// floating point) in major units of the payment currency: fixed "0.25" is
// 25 cents on a EUR payment and, on a JPY payment (no minor unit), a
// quarter of a yen that rounds away.
type FeeRate struct {
	// Currency is an ISO 4217 code; empty matches every currency.
	Currency string `yaml:"currency"`
	// Network is a card network as events carry it (visa, mastercard, amex,
	// ...; compared case-insensitively); empty matches every network.
	Network string `yaml:"network"`
	// Percent of the amount charged on an approved AUTHORIZE or CHARGE,
	// within [0, 100].
	Percent Decimal `yaml:"percent"`
	// Fixed is added to every approved AUTHORIZE or CHARGE.
	Fixed Decimal `yaml:"fixed"`
	// DeclinedFixed is charged for a declined AUTHORIZE or CHARGE (some
	// PSPs price every authorization request, approved or not). Zero means
	// declines are free.
	DeclinedFixed Decimal `yaml:"declined_fixed"`
}

// FeeInput is what the fee of one attempt depends on.
type FeeInput struct {
	Operation schemas.Operation
	Outcome   schemas.Outcome
	// AmountMinor is the payment amount in minor units of Currency.
	AmountMinor int64
	Currency    string
	Network     string
	// IssuerCountry is the card's ISO 3166-1 alpha-2 issuer country; empty
	// when unknown (then the payment is not cross-border).
	IssuerCountry string
}

// FeeInputOf is the FeeInput of a recorded attempt, so the processor can set
// FeeMinor in one line once the rest of the record is filled:
//
//	recorded.FeeMinor = registry.Fee(recorded.PSP, psp.FeeInputOf(recorded))
func FeeInputOf(a *schemas.AttemptRecorded) FeeInput {
	return FeeInput{
		Operation: a.Operation, Outcome: a.Outcome, AmountMinor: a.AmountMinor,
		Currency: a.Currency, Network: a.CardNetwork, IssuerCountry: a.IssuerCountry,
	}
}

// Fee is the fee of one attempt in minor units of in.Currency:
//
//   - an approved AUTHORIZE or CHARGE pays amount × (percent + cross-border
//     surcharge, if the card is cross-border) / 100 + fixed;
//   - a declined AUTHORIZE or CHARGE pays declined_fixed;
//   - an attempt that ended in an error (psp_error, rate_limited, in_doubt,
//     invalid_request) pays nothing: the PSP did not process it, or payroute
//     cannot know that it did;
//   - CAPTURE, VOID and REFUND pay nothing: the processing fee was taken on
//     the authorization they follow.
//
// The parts are added exactly (in millionths of a minor unit) and rounded
// once, half up: a fee of exactly x.5 minor units is x+1, the way PSP
// invoices round. A nil schedule, or no matching rate, costs 0. A currency
// unknown to ISO 4217 converts fixed amounts with 2 decimals.
func (s *FeeSchedule) Fee(in FeeInput) int64 {
	if s == nil || (in.Operation != schemas.OpAuthorize && in.Operation != schemas.OpCharge) {
		return 0
	}
	r, ok := s.rate(in.Currency, in.Network)
	if !ok {
		return 0
	}
	exp, known := schemas.CurrencyExponent(strings.ToUpper(in.Currency))
	if !known {
		exp = 2
	}
	// Everything in units of 10^-(decimalPlaces+2) minor units: percent
	// parts are amount × percent-units / 100, fixed parts are
	// fixed-units × 10^exp × 100.
	denom := new(big.Int).Exp(big.NewInt(10), big.NewInt(decimalPlaces+2), nil)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)
	scale.Mul(scale, big.NewInt(100))
	num := new(big.Int)
	switch in.Outcome {
	case schemas.OutcomeApproved:
		pct := r.Percent.units
		if s.crossBorder(in.IssuerCountry) {
			pct += s.CrossBorderPercent.units
		}
		if in.AmountMinor > 0 {
			num.Mul(big.NewInt(in.AmountMinor), big.NewInt(pct))
		}
		num.Add(num, new(big.Int).Mul(big.NewInt(r.Fixed.units), scale))
	case schemas.OutcomeDeclined:
		num.Mul(big.NewInt(r.DeclinedFixed.units), scale)
	default:
		return 0
	}
	q, m := new(big.Int).QuoRem(num, denom, new(big.Int))
	if m.Lsh(m, 1).Cmp(denom) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0 // beyond any real fee; validated amounts never get here
	}
	return q.Int64()
}

// rate finds the most specific rate for currency and network.
func (s *FeeSchedule) rate(currency, network string) (FeeRate, bool) {
	currency = strings.ToUpper(currency)
	network = strings.ToLower(network)
	best, bestScore := FeeRate{}, -1
	for _, r := range s.Rates {
		rc, rn := strings.ToUpper(r.Currency), strings.ToLower(r.Network)
		if (rc != "" && rc != currency) || (rn != "" && rn != network) {
			continue
		}
		score := 0
		if rc != "" {
			score += 2
		}
		if rn != "" {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best, bestScore >= 0
}

func (s *FeeSchedule) crossBorder(issuerCountry string) bool {
	if issuerCountry == "" || len(s.DomesticCountries) == 0 {
		return false
	}
	for _, c := range s.DomesticCountries {
		if strings.EqualFold(c, issuerCountry) {
			return false
		}
	}
	return true
}

var (
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
	networkPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
)

// validate returns every problem of the schedule, keyed under key
// ("accounts.stripe-eu.fees").
func (s FeeSchedule) validate(key string) []error {
	var errs []error
	for i, c := range s.DomesticCountries {
		if !countryPattern.MatchString(c) {
			errs = append(errs, config.Errorf(fmt.Sprintf("%s.domestic_countries[%d]", key, i), "%q is not an ISO 3166-1 alpha-2 code (two upper-case letters)", c))
		}
	}
	if s.CrossBorderPercent.units > hundredPercent {
		errs = append(errs, config.Errorf(key+".cross_border_percent", "must be within [0,100], got %s", s.CrossBorderPercent))
	}
	if !s.CrossBorderPercent.IsZero() && len(s.DomesticCountries) == 0 {
		errs = append(errs, config.Errorf(key+".cross_border_percent", "needs domestic_countries: without them no card is cross-border"))
	}
	seen := map[[2]string]int{}
	for i, r := range s.Rates {
		rk := fmt.Sprintf("%s.rates[%d]", key, i)
		if r.Currency != "" {
			if _, ok := schemas.CurrencyExponent(r.Currency); !ok {
				errs = append(errs, config.Errorf(rk+".currency", "%q is not an ISO 4217 currency code (upper case)", r.Currency))
			}
		}
		if r.Network != "" && !networkPattern.MatchString(r.Network) {
			errs = append(errs, config.Errorf(rk+".network", "%q is not a card network name (letters, digits, _)", r.Network))
		}
		if r.Percent.units > hundredPercent {
			errs = append(errs, config.Errorf(rk+".percent", "must be within [0,100], got %s", r.Percent))
		}
		id := [2]string{strings.ToUpper(r.Currency), strings.ToLower(r.Network)}
		if j, dup := seen[id]; dup {
			errs = append(errs, config.Errorf(rk, "same currency and network as rates[%d]: which one applies would be ambiguous", j))
			continue
		}
		seen[id] = i
	}
	return errs
}

// decimalPlaces is how many fractional digits a Decimal keeps.
const decimalPlaces = 6

// hundredPercent is 100 in Decimal units.
const hundredPercent = 100 * 1_000_000

// Decimal is an exact non-negative decimal number with up to 6 fractional
// digits, for fee percentages and amounts. In YAML it is written as a
// number (2.9) or a string ("0.25"); either way the text is parsed as
// decimal digits and never goes through float64, so 2.9 is exactly 2.9. It
// is at most 999999999999.999999.
type Decimal struct {
	units int64 // value × 10^decimalPlaces
}

var decimalPattern = regexp.MustCompile(`^([0-9]{1,12})(?:\.([0-9]{1,6}))?$`)

// ParseDecimal parses "2.9", "0.25" or "3". Signs, exponents, a missing
// leading digit (".5") and more than 6 fractional digits are errors.
func ParseDecimal(s string) (Decimal, error) {
	m := decimalPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Decimal{}, fmt.Errorf("%q is not a non-negative decimal with at most %d fractional digits (e.g. 2.9 or 0.25)", s, decimalPlaces)
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac := m[2] + strings.Repeat("0", decimalPlaces-len(m[2]))
	f, _ := strconv.ParseInt(frac, 10, 64)
	return Decimal{units: whole*1_000_000 + f}, nil
}

// MustDecimal is ParseDecimal for constants; it panics on a bad literal.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.units == 0 }

// String prints d without trailing zeros: "2.9", "0.25", "3".
func (d Decimal) String() string {
	whole, frac := d.units/1_000_000, d.units%1_000_000
	if frac == 0 {
		return strconv.FormatInt(whole, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%06d", whole, frac), "0")
}

// MarshalText writes String, so configuration dumps load back.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses with ParseDecimal.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
