package producers

import (
	"go.uber.org/fx"

	"github.com/payroute/payroute/kafka"
	"github.com/payroute/payroute/schemas"
)

// Module provides Records on the cluster's topics.
var Module = fx.Module("producers",
	fx.Provide(func(serde *schemas.Serde, cluster *kafka.Cluster) *Records {
		return NewRecords(serde, cluster.Topics())
	}),
)
