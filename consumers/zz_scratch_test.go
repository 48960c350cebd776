package consumers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestScratchMaxSize(t *testing.T) {
	s := newStack(t, nil)
	for n := 999_700; n <= 1_000_100; n += 20 {
		huge := goodRequest("fz-huge")
		huge.MerchantID = strings.Repeat("m", n)
		b, _ := s.serde.Encode(huge)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.client.ProduceSync(ctx, &kgo.Record{Topic: s.cluster.Topics().Requested, Key: []byte("fz-huge"), Value: b}).FirstErr()
		cancel()
		t.Logf("n=%d len=%d err=%v", n, len(b), err)
		if err != nil {
			break
		}
	}
}
