package schemas

import "testing"

// BenchmarkEncode encodes one event of each type with every field set
// (fullEvents), framed, as producers.Records does for every output:
//
//	go test -run '^$' -bench Encode -benchmem ./schemas/
func BenchmarkEncode(b *testing.B) {
	s, err := New(DefaultConfiguration())
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range fullEvents() {
		b.Run(eventLabel(v), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Encode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode decodes one framed event of each type with every field
// set (fullEvents) into its struct, as the processor and the sink do for
// every input record; PaymentRequested/validated is the processor's
// DecodePaymentRequested (decoding and validation) of a valid request:
//
//	go test -run '^$' -bench Decode -benchmem ./schemas/
func BenchmarkDecode(b *testing.B) {
	s, err := New(DefaultConfiguration())
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range fullEvents() {
		rec, err := s.Encode(v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(eventLabel(v), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Decode(rec, newOf(v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	rec, err := s.Encode(validRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("PaymentRequested/validated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.DecodePaymentRequested(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
