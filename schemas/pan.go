package schemas

import "strings"

// ContainsPAN reports whether s contains something that looks like a primary
// account number (a card number): a run of 13 to 19 digits, written either
// without separators or in groups separated by single spaces or dashes
// ("4111 1111 ..."), that passes the Luhn check and starts with 2-9.
//
// Why each rule:
//   - 13-19 digits and Luhn are what ISO/IEC 7812 card numbers are; about one
//     random digit run in ten passes Luhn, so length alone would be useless.
//   - Groups are tried as every contiguous sequence of whole groups, so a
//     card number is found even after another number ("order 12 4111 ...").
//     A single unseparated run longer than 19 digits is not a card number and
//     is not searched inside: every long id would match somewhere.
//   - Runs starting with 0 or 1 are ignored. No card network issues numbers
//     starting with 0; 1 is only UATP (airline cards, not accepted through
//     payroute's PSPs), while epoch timestamps in milliseconds, microseconds
//     and nanoseconds (13, 16 and 19 digits) all start with 1 until 2033 and
//     would otherwise trip this check one time in ten.
//
// It is meant for free-form fields (tokens, metadata) and for scanning logs,
// topics and tables. A network token (DPAN) also matches, deliberately: it is
// card-number shaped and belongs in the vault, referenced by a vault token.
func ContainsPAN(s string) bool {
	found := false
	findPANs(s, func(int, int) bool {
		found = true
		return false
	})
	return found
}

// Redacted replaces each card number RedactPAN finds.
const Redacted = "[redacted]"

// RedactPAN returns s with every card number ContainsPAN would find
// replaced by Redacted, separators included ("4111 1111 ..." as a whole),
// so that ContainsPAN(RedactPAN(s)) is false. It is for free text that
// payroute writes but does not control: error messages (goavro's quote
// the values they choke on), PSP messages, anything that ends up in a
// dead letter's headers, a result's reason or a log line. Text without a
// card number is returned as is.
//
// Why the result holds no card number: runs are searched from their first
// group on, and each card number found is the shortest from the earliest
// group that starts one. Every sequence of whole groups that survives the
// replacement lies between two replaced spans (or a span and the run's
// end), and was checked, without a match, before the replacement.
func RedactPAN(s string) string {
	var b strings.Builder
	last := 0
	findPANs(s, func(start, end int) bool {
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
		return true
	})
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// findPANs calls found with the [start, end) byte span of each card number
// in s (see ContainsPAN), in order and without overlaps, while found
// returns true.
func findPANs(s string, found func(start, end int) bool) {
	var groups [][2]int // [start, end) of digit groups in the current run
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		groups = append(groups, [2]int{start, i})
		// A single space or dash followed by a digit continues the run.
		if i+1 < len(s) && (s[i] == ' ' || s[i] == '-') && isDigit(s[i+1]) {
			i++
			continue
		}
		if !runPANs(s, groups, found) {
			return
		}
		groups = groups[:0]
	}
}

// runPANs checks every contiguous sequence of whole groups of one run,
// from each first group the shortest first, and goes on after each match.
// It returns false once found does.
func runPANs(s string, groups [][2]int, found func(start, end int) bool) bool {
	var digits [19]byte
	for first := 0; first < len(groups); first++ {
		n := 0
		for last := first; last < len(groups); last++ {
			g := s[groups[last][0]:groups[last][1]]
			if n+len(g) > len(digits) {
				break
			}
			n += copy(digits[n:], g)
			if n >= 13 && digits[0] >= '2' && luhnValid(digits[:n]) {
				if !found(groups[first][0], groups[last][1]) {
					return false
				}
				first = last // go on after the match
				break
			}
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// luhnValid reports whether a string of ASCII digits passes the Luhn (mod 10)
// check that every card number's last digit satisfies.
func luhnValid(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
