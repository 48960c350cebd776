// Package schemastest helps tests that need card-number-shaped strings, to
// prove that none reaches an event, a log line or a table. Such numbers
// exist only at run time: none is ever written into the repository.
package schemastest

import "github.com/payroute/payroute/schemas"

// CardNumber completes prefix (digits) with the check digit that makes it a
// card number as schemas.ContainsPAN judges one (Luhn-valid, 13 to 19
// digits), so tests and the detector agree by construction. It panics when
// no digit does: the prefix is not 12 to 18 digits.
func CardNumber(prefix string) string {
	for d := byte('0'); d <= '9'; d++ {
		if s := prefix + string(d); schemas.ContainsPAN(s) {
			return s
		}
	}
	panic("schemastest: no check digit makes " + prefix + " a card number")
}
