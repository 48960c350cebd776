package schemastest_test

import (
	"strings"
	"testing"

	"github.com/payroute/payroute/schemas"
	"github.com/payroute/payroute/schemas/schemastest"
)

func TestCardNumber(t *testing.T) {
	for _, prefix := range []string{"4" + strings.Repeat("0", 14), "5" + strings.Repeat("1", 14), strings.Repeat("42", 7) + "4", "4" + strings.Repeat("0", 17)} {
		pan := schemastest.CardNumber(prefix)
		if len(pan) != len(prefix)+1 || !strings.HasPrefix(pan, prefix) || !schemas.ContainsPAN(pan) {
			t.Errorf("CardNumber(%s) = %s", prefix, pan)
		}
		// Exactly one check digit is right: change it and it is no card.
		last := pan[len(pan)-1]
		wrong := pan[:len(pan)-1] + string('0'+(last-'0'+1)%10)
		if schemas.ContainsPAN(wrong) {
			t.Errorf("%s is taken for a card number too", wrong)
		}
	}
}
