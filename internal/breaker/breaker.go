// Package breaker keeps a process from waiting on a server that does not
// answer: a circuit breaker with a growing back-off and one probe at a
// time.
package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// New returns a closed breaker whose probes are replaced after grace
// (see Breaker).
func New(grace time.Duration) *Breaker { return &Breaker{grace: grace} }

// Down reports whether the breaker is open: the server failed and has not
// answered since.
func (b *Breaker) Down() bool { return b.down.Load() }

// A Breaker keeps a process from waiting on a server that does not
// answer. After a failure, operations skip the server for a back-off, 50
// ms at first; then one operation at a time is let through to try it (a
// probe). A probe that fails doubles the back-off, up to 5 s; any success
// closes the breaker. Failures of operations that began before the
// breaker opened do not lengthen it. A probe that never reports (its
// caller gave up) is replaced after grace.
type Breaker struct {
	grace time.Duration
	down  atomic.Bool

	mu      sync.Mutex
	until   time.Time // no operations before this
	backoff time.Duration
	probeAt time.Time // when the current probe was let through; zero if none
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Allow reports whether to try the server now.
func (b *Breaker) Allow() bool {
	if !b.down.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.Before(b.until) || !b.probeAt.IsZero() && now.Sub(b.probeAt) < b.grace {
		return false
	}
	b.probeAt = now
	return true
}

// Fail records a failure and reports whether it opened the breaker.
func (b *Breaker) Fail() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	opened := !b.down.Load()
	switch {
	case opened:
		b.backoff = minBackoff
	case !b.probeAt.IsZero():
		b.backoff = min(2*b.backoff, maxBackoff) // the probe failed
	default:
		return false // an operation from before: the back-off stands
	}
	b.until = now.Add(b.backoff)
	b.probeAt = time.Time{}
	b.down.Store(true)
	return opened
}

// OK records a success and reports whether it closed the breaker.
func (b *Breaker) OK() bool {
	if !b.down.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return false
	}
	b.down.Store(false)
	b.probeAt = time.Time{}
	return true
}
