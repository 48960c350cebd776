package bench

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/producers"
	"github.com/payroute/payroute/psp/simulator"
	"github.com/payroute/payroute/schemas"
)

// PSPName is the one PSP account every benchmark payment is routed to.
const PSPName = "bench-psp"

// routeName is the stored route the benchmark's payments name.
const routeName = "bench"

// Topics of the pass-through ceiling, beside payroute's own: its input
// when payroute's own is not a backlog (see Run), and the outputs of the
// plain and the transactional pass-through.
const (
	passThroughIn     = "bench.passthrough.in"
	passThroughOut    = "bench.passthrough.out"
	passThroughTxnOut = "bench.passthrough-txn.out"
)

// world is what every system under test shares: the embedded broker with
// payroute's topics and the pass-through's, the simulated PSP when it is
// reached over HTTP, and the encoders of the load.
type world struct {
	kcfg     kafka.Configuration
	embedded *kafka.Embedded
	cluster  *kafka.Cluster
	sim      *simulator.Server // nil when the scenario calls no PSP over HTTP
	serde    *schemas.Serde
	records  *producers.Records
}

// newWorld starts the broker, and the simulator when profile is not nil
// and reached over HTTP (an in-process one lives in payroute's process).
// Either failing is returned as is; close releases what was started.
func newWorld(ctx context.Context, partitions int32, profile *Profile) (*world, error) {
	kcfg := kafka.DefaultConfiguration()
	kcfg.Partitions = partitions
	kcfg.ClientID = "payroute-bench"
	emb, err := kafka.NewEmbedded(kcfg, kfake.SeedTopics(partitions, passThroughIn, passThroughOut, passThroughTxnOut))
	if err != nil {
		return nil, err
	}
	w := &world{kcfg: kcfg, embedded: emb}
	if w.cluster, err = kafka.NewCluster(kcfg, emb); err != nil {
		w.close()
		return nil, err
	}
	if w.serde, err = schemas.New(schemas.DefaultConfiguration()); err != nil {
		w.close()
		return nil, err
	}
	w.records = producers.NewRecords(w.serde, w.cluster.Topics())
	if profile != nil && profile.Transport == TransportHTTP {
		sim, err := newSimulator(*profile)
		if err != nil {
			w.close()
			return nil, err
		}
		if err := sim.Start(ctx); err != nil {
			w.close()
			return nil, err
		}
		w.sim = sim
	}
	return w, nil
}

// close stops the simulator and the broker.
func (w *world) close() {
	if w.sim != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = w.sim.Stop(stopCtx)
		cancel()
	}
	if w.embedded != nil {
		w.embedded.Close()
	}
}
