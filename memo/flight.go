package memo

import "sync"

// flights makes sure that one computation per key is in flight; later
// callers wait for its result.
//
// It is written here rather than taken from golang.org/x/sync/singleflight
// for three reasons of correctness. DoChan runs fn on a new goroutine and,
// if fn panics, re-panics on yet another goroutine, which crashes the
// process instead of reaching the caller. Do cannot be abandoned when a
// waiter's context ends. And neither lets waiters start over when the
// computation failed only because its own caller's context ended, so one
// caller's cancellation would fail every other caller of the key.
//
// Here the first caller (the leader) runs fn on its own goroutine, so a
// panic unwinds the leader's own stack; each waiter selects on the flight
// and its own context, and re-panics with the leader's value or retries as
// the flight's outcome says.
type flights[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*flight[V]
}

// A flight is one computation in progress. Its fields are written by the
// leader before done is closed and only read after.
type flight[V any] struct {
	done      chan struct{}
	val       V
	err       error
	panicked  bool
	panicVal  any
	abandoned bool // the leader gave up (its context ended, or Goexit): retry
}

// join returns the flight for k and whether the caller leads it.
func (g *flights[K, V]) join(k K) (*flight[V], bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{})}
	g.m[k] = f
	return f, true
}

// finish ends the flight and releases its waiters.
func (g *flights[K, V]) finish(k K, f *flight[V]) {
	g.mu.Lock()
	if g.m[k] == f {
		delete(g.m, k)
	}
	g.mu.Unlock()
	close(f.done)
}
