package notify

// SetJitter replaces the random source of d's backoff jitter, so tests
// can predict waits. It returns values in [0, 1).
func SetJitter(d *Dispatcher, f func() float64) { d.rand = f }

// LimiterSize returns how many destinations d's rate limiter tracks.
func LimiterSize(d *Dispatcher) int { return d.limits.size() }
