package simulator

import (
	"go.uber.org/fx"
)

// Module provides a *Server built from a Configuration in the graph and ties
// it to the fx lifecycle: OnStart binds the listener and serves in a
// goroutine, OnStop releases held requests and shuts down gracefully. The
// server is always constructed (and so started) when the module is included.
var Module = fx.Module("psp-simulator",
	fx.Provide(NewWithLifecycle),
	fx.Invoke(func(*Server) {}),
)

// NewWithLifecycle is New with Start and Stop appended to lc.
func NewWithLifecycle(lc fx.Lifecycle, cfg Configuration) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}
