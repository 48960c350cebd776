package schemas

import "go.uber.org/fx"

// Module provides a *Serde built from the schemas.Configuration that the
// application's wiring supplies. New also works without fx.
var Module = fx.Module("schemas", fx.Provide(New))
