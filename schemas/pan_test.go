package schemas

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRedactPAN(t *testing.T) {
	pan := testPAN(t)
	amex := luhnComplete(t, "3782822"+"4631000")
	cases := []struct{ name, in, want string }{
		{"alone", pan, Redacted},
		{"in an error", `cannot decode: value "` + pan + `" for field token`, `cannot decode: value "` + Redacted + `" for field token`},
		{"grouped by spaces", "card " + group4(pan, " ") + " declined", "card " + Redacted + " declined"},
		{"grouped by dashes", group4(pan, "-"), Redacted},
		{"after another number", "order 12 " + group4(pan, " "), "order 12 " + Redacted},
		{"before another number", group4(pan, " ") + " 12", Redacted + " 12"},
		{"two numbers", pan + ", " + amex, Redacted + ", " + Redacted},
		{"two numbers in one run", group4(pan, " ") + " " + amex, Redacted + " " + Redacted},
		{"negative number", "negative length: -" + pan, "negative length: -" + Redacted},
		{"no card number", "amount_minor: must be > 0, got -1250", "amount_minor: must be > 0, got -1250"},
		{"not luhn", luhnBreak(pan), luhnBreak(pan)},
		{"timestamp", "at 1700000000000", "at 1700000000000"},
		{"bin and last4", "424242******4242", "424242******4242"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RedactPAN(c.in)
			if got != c.want {
				t.Fatalf("RedactPAN(%q) = %q, want %q", c.in, got, c.want)
			}
			if ContainsPAN(got) {
				t.Fatalf("%q still contains a card number", got)
			}
		})
	}
}

// TestRedactPANLeavesNone: on random text dense in digit groups (where
// redacting one number could join the digits around it into another),
// RedactPAN leaves nothing ContainsPAN finds, and changes nothing in text
// without a card number.
func TestRedactPANLeavesNone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789012345678901234567890123456789 -  --x"
	found := 0
	for i := 0; i < 20000; i++ {
		b := make([]byte, 10+r.IntN(80))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		got := RedactPAN(s)
		if ContainsPAN(got) {
			t.Fatalf("RedactPAN(%q) = %q still contains a card number", s, got)
		}
		if has := ContainsPAN(s); has {
			found++
		} else if got != s {
			t.Fatalf("RedactPAN changed %q, which has no card number, to %q", s, got)
		}
	}
	if found < 1000 {
		t.Fatalf("only %d of the random strings held a card number: the test exercises little", found)
	}
}

func FuzzRedactPAN(f *testing.F) {
	f.Add("order 12 4000 0000")
	f.Add("1-2-3-4-5-6-7-8-9-0-1-2-3-4")
	f.Fuzz(func(t *testing.T, s string) {
		got := RedactPAN(s)
		if ContainsPAN(got) {
			t.Fatalf("RedactPAN(%q) = %q still contains a card number", s, got)
		}
		if !ContainsPAN(s) && got != s {
			t.Fatalf("RedactPAN changed %q to %q", s, got)
		}
		if strings.Count(got, Redacted) < strings.Count(s, Redacted) {
			t.Fatalf("RedactPAN lost text: %q -> %q", s, got)
		}
	})
}
