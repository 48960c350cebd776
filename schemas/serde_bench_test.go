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
