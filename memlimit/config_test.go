package memlimit

import (
	"strings"
	"testing"
)

func TestLimitText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Limit
		out  string
	}{
		{"auto", Auto, "auto"},
		{"off", Off, "off"},
		{"900MiB", 900 << 20, "900MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1024MiB", 1 << 30, "1GiB"},
		{"1536 MiB", 1536 << 20, "1536MiB"},
		{"268435456", 256 << 20, "256MiB"},
		{"100000000B", 100_000_000, "100000000B"},
		{"2TiB", 2 << 40, "2TiB"},
		{"64KiB", 64 << 10, "64KiB"},
	} {
		var l Limit
		if err := l.UnmarshalText([]byte(tc.in)); err != nil || l != tc.want {
			t.Fatalf("%q: %d %v, want %d", tc.in, l, err, tc.want)
		}
		if b, _ := l.MarshalText(); string(b) != tc.out {
			t.Fatalf("%q written as %q, want %q", tc.in, b, tc.out)
		}
	}
	for _, bad := range []string{"", "900MB", "1.5GiB", "-1", "lots", "99999999999TiB", "auto " + "x"} {
		var l Limit
		if err := l.UnmarshalText([]byte(bad)); err == nil {
			t.Fatalf("%q read as %d", bad, l)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Configuration
		want string
	}{
		{Configuration{Limit: 1 << 20, LimitRatio: 0.9}, "limit: must be auto, off or at least 32MiB, got 1MiB"},
		{Configuration{Limit: -7, LimitRatio: 0.9}, "limit: must be auto, off or a size"},
		{Configuration{Limit: Auto, LimitRatio: 0}, "limit_ratio: must be within (0, 1]"},
		{Configuration{Limit: Auto, LimitRatio: 1.5}, "limit_ratio: must be within (0, 1]"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}
