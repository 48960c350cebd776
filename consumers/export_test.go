package consumers

import "time"

// SetClock replaces the processor's clock, for tests of what happens after
// hours or days; call it before Start.
func SetClock(p *Processor, now func() time.Time) { p.now = now }
