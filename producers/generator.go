package producers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/payroute/payroute/config"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// GeneratorConfiguration shapes the synthetic upstream traffic of the demo
// and the benchmarks.
type GeneratorConfiguration struct {
	// Payments is how many PaymentRequested events to publish; 0 means until
	// Duration ends.
	Payments int `yaml:"payments"`
	// Duration bounds the run; 0 means until Payments are published.
	Duration time.Duration `yaml:"duration"`
	// Rate is payments per second; 0 publishes as fast as the broker accepts.
	Rate float64 `yaml:"rate"`
	// RouteRef names the stored route every payment asks for; empty lets the
	// router's default route apply.
	RouteRef string `yaml:"route_ref"`
	// Tokens maps simulator test tokens to their share of traffic (the shares
	// are normalized). Empty means all "tok_approve".
	Tokens map[string]float64 `yaml:"tokens"`
	// Merchants to spread payments over.
	Merchants []string `yaml:"merchants"`
	// Currencies to spread payments over.
	Currencies []string `yaml:"currencies"`
	// Seed makes the generated stream reproducible.
	Seed uint64 `yaml:"seed"`
	// IDPrefix prefixes generated payment ids, so runs do not collide.
	IDPrefix string `yaml:"id_prefix"`
}

// DefaultGeneratorConfiguration is 1,000 payments at 200/s, mostly approvals
// with some declines and customer errors, in three currencies.
func DefaultGeneratorConfiguration() GeneratorConfiguration {
	return GeneratorConfiguration{
		Payments: 1000,
		Rate:     200,
		Tokens: map[string]float64{
			"tok_approve":        0.85,
			"tok_soft_decline":   0.06,
			"tok_hard_decline":   0.04,
			"tok_customer_error": 0.05,
		},
		Merchants:  []string{"m-books", "m-travel", "m-games"},
		Currencies: []string{"USD", "EUR", "GBP"},
		Seed:       1,
		IDPrefix:   "pay",
	}
}

// Validate checks the configuration.
func (c GeneratorConfiguration) Validate() error {
	var errs []error
	if c.Payments < 0 {
		errs = append(errs, config.Errorf("payments", "must be >= 0"))
	}
	if c.Payments == 0 && c.Duration <= 0 {
		errs = append(errs, config.Errorf("payments", "set payments or duration, or the run never ends"))
	}
	if c.Rate < 0 {
		errs = append(errs, config.Errorf("rate", "must be >= 0"))
	}
	for tok, share := range c.Tokens {
		if share < 0 {
			errs = append(errs, config.Errorf("tokens."+tok, "share must be >= 0"))
		}
	}
	if len(c.Currencies) == 0 {
		errs = append(errs, config.Errorf("currencies", "at least one is needed"))
	}
	return errors.Join(errs...)
}

// Generator publishes synthetic PaymentRequested events the way an upstream
// service would: Avro values, keyed by payment_id, acks from all replicas.
type Generator struct {
	cfg     GeneratorConfiguration
	records *Records
	client  *kgo.Client
	tokens  []weighted
}

type weighted struct {
	token string
	cum   float64
}

// NewGenerator builds a generator producing through client.
func NewGenerator(cfg GeneratorConfiguration, records *Records, client *kgo.Client) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, records: records, client: client}
	total := 0.0
	for _, s := range cfg.Tokens {
		total += s
	}
	if total == 0 {
		g.tokens = []weighted{{"tok_approve", 1}}
	} else {
		// Sorted for a reproducible stream: map order is random.
		names := slices.Sorted(maps.Keys(cfg.Tokens))
		cum := 0.0
		for _, t := range names {
			cum += cfg.Tokens[t] / total
			g.tokens = append(g.tokens, weighted{t, cum})
		}
	}
	return g, nil
}

// Payment builds the i-th payment of the stream.
func (g *Generator) Payment(rng *rand.Rand, i int) *schemas.PaymentRequested {
	x := rng.Float64()
	token := g.tokens[len(g.tokens)-1].token
	for _, w := range g.tokens {
		if x < w.cum {
			token = w.token
			break
		}
	}
	networks := []string{"visa", "mastercard", "amex"}
	net := networks[rng.IntN(len(networks))]
	bins := map[string]string{"visa": "424242", "mastercard": "555555", "amex": "378282"}
	merchant := ""
	if len(g.cfg.Merchants) > 0 {
		merchant = g.cfg.Merchants[rng.IntN(len(g.cfg.Merchants))]
	}
	return &schemas.PaymentRequested{
		PaymentID:   fmt.Sprintf("%s-%07d", g.cfg.IDPrefix, i),
		MerchantID:  merchant,
		Operation:   schemas.OpCharge,
		AmountMinor: int64(100 + rng.IntN(50000)),
		Currency:    g.cfg.Currencies[rng.IntN(len(g.cfg.Currencies))],
		PaymentMethod: schemas.PaymentMethod{
			Token: token, Type: "card", Network: net, Funding: "credit",
			BIN: bins[net], Last4: fmt.Sprintf("%04d", rng.IntN(10000)),
			IssuerCountry: "US", ExpiryMonth: 12, ExpiryYear: 2030,
			Fingerprint: fmt.Sprintf("fp_%08x", rng.Uint32()),
		},
		Customer:      schemas.Customer{CustomerID: fmt.Sprintf("cus-%05d", rng.IntN(20000)), Country: "US"},
		Routing:       schemas.Routing{RouteRef: g.cfg.RouteRef},
		RequestedAtMs: time.Now().UnixMilli(),
	}
}

// Run publishes the stream until Payments are sent, Duration passes or ctx
// ends, and returns how many were acknowledged. progress, when not nil, is
// called with the running count about once a second.
func (g *Generator) Run(ctx context.Context, progress func(sent int)) (int, error) {
	if g.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Duration)
		defer cancel()
	}
	rng := rand.New(rand.NewPCG(g.cfg.Seed, 0x9a7))
	var (
		mu       sync.Mutex
		acked    int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	lastProgress := start
	for i := 0; g.cfg.Payments == 0 || i < g.cfg.Payments; i++ {
		if g.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / g.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		rec, err := g.records.Requested(g.Payment(rng, i))
		if err != nil {
			return acked, err
		}
		wg.Add(1)
		g.client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil && ctx.Err() == nil {
					firstErr = err
				}
				return
			}
			acked++
		})
		if progress != nil && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			mu.Lock()
			n := acked
			mu.Unlock()
			progress(n)
		}
	}
	wg.Wait()
	return acked, firstErr
}
