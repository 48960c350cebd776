package health

import (
	"fmt"
	"strings"
)

// A scope names the part of a PSP account a health state applies to: "*"
// for the whole account, "currency=EUR" or "network=visa" for a part. The
// psp.health topic is keyed by "<psp>|<scope>".

// currencyScope is the scope of one currency; currency is upper-cased.
func currencyScope(currency string) string {
	return ScopeCurrency + "=" + strings.ToUpper(currency)
}

// networkScope is the scope of one card network; network is lower-cased.
func networkScope(network string) string {
	return ScopeNetwork + "=" + strings.ToLower(network)
}

// normalizeScope checks a scope as written in configuration or read from the
// topic and returns its canonical spelling: "" is "*", currencies are upper
// case and networks lower case.
func normalizeScope(s string) (string, error) {
	if s == "" || s == WholeAccount {
		return WholeAccount, nil
	}
	dim, value, ok := strings.Cut(s, "=")
	if !ok || value == "" {
		return "", fmt.Errorf("want \"*\", \"currency=<ISO code>\" or \"network=<name>\", got %q", s)
	}
	switch dim {
	case ScopeCurrency:
		if len(value) != 3 {
			return "", fmt.Errorf("currency scope %q: want a three-letter ISO 4217 code", s)
		}
		return currencyScope(value), nil
	case ScopeNetwork:
		return networkScope(value), nil
	}
	return "", fmt.Errorf("unknown scope dimension %q in %q (known: %s, %s)", dim, s, ScopeCurrency, ScopeNetwork)
}

// key is the record key of a PSP's scope on psp.health.
func key(psp, scope string) string { return psp + "|" + scope }
