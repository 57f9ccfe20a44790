package memo

import (
	"context"
	"fmt"
	"time"
)

// Peek returns k's cached value, from the memory tier or else the store,
// and whether there is one that has not expired. It never runs fn, counts
// nothing in Info, and changes neither tier (a value found in the store is
// not copied into memory). A store that fails is a miss, as for Call.
func (f *Func[K, V]) Peek(ctx context.Context, k K) (V, bool) {
	if f.args(ctx, k, "peek") != nil {
		var zero V
		return zero, false
	}
	if f.mem != nil {
		if v, ok := f.mem.peek(k, f.now); ok {
			return v, true
		}
	}
	if f.ns == nil || ctx.Err() != nil {
		var zero V
		return zero, false
	}
	e, ok := f.lookup(ctx, k, f.keys(nil, k))
	if !ok || e.t.exp != 0 && f.now() >= e.t.exp {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Set stores v for k in both tiers, as if fn had returned it (with the
// TTL that fn's result would get; a TTLFunc that says not to cache v makes
// Set remove k instead). Like Forget, it wins against computations of k
// already running: after Set returns, no Call in this process gets a
// value computed before it; Calls of k made during Set get v. Concurrent
// Sets of k leave both tiers with the same one of their values, and a Set
// that runs while a Forget or Clear of k is under way is undone by it, as
// if it came first. The other processes that share a file drop k from
// their memory tiers before Set returns, as for Forget (on Redis, see the
// package doc). A file store writes behind, as for Call; Set returns the
// store's error, if any, after keeping v in memory.
func (f *Func[K, V]) Set(ctx context.Context, k K, v V) error {
	if err := f.args(ctx, k, "set"); err != nil {
		return err
	}
	var key []byte
	if f.ns != nil {
		key = f.keys(nil, k)
	}
	// Before any flight is made: a TTLFunc that panics leaves none behind.
	it, ok := f.prepare(k, key, v, 0)
	var err error
	if !ok {
		err = f.drop(ctx, k, key) // not to be cached: a Forget
	} else {
		// The other processes that share a file drop k from their memory
		// tiers first, as for Forget (the store's Delete tells them and
		// waits for them), before any flight: the Delete takes this
		// process's flight of k too.
		var derr error
		if f.ns != nil {
			derr = f.ns.Delete(ctx, key)
		}
		// The write is a flight's, kept as a computation's result is
		// (see flights): it is ordered against the other writes and
		// invalidations of k, in both tiers together.
		fl := f.flights.set(k)
		fl.keep(func() {
			f.forgetError(k)
			err = f.write(ctx, k, key, it)
		})
		fl.val = it.val
		f.flights.finish(k, fl)
		if err == nil {
			err = derr
		}
	}
	if err != nil {
		return fmt.Errorf("memo: set %q: %w", f.name, err)
	}
	return nil
}

// Refresh runs fn for k now, whatever is cached, and replaces the cached
// value with its result (Info.Refreshes counts these runs). A computation
// of k already running, a background refresh included, is superseded: its
// result is not kept, and Calls made during the refresh wait for the
// refresh. Concurrent Refreshes of k share one run of fn. If fn fails, the error is returned and what was
// cached is kept.
func (f *Func[K, V]) Refresh(ctx context.Context, k K) (V, error) {
	if err := f.args(ctx, k, "refresh"); err != nil {
		var zero V
		return zero, err
	}
	for {
		fl, leader := f.flights.refresh(k)
		if leader {
			return f.lead(ctx, k, fl, f.runRefresh)
		}
		if v, retry, err := f.wait(ctx, fl, false); !retry {
			return v, err
		}
	}
}

// runRefresh is Refresh's computation, as the leader of fl.
func (f *Func[K, V]) runRefresh(ctx context.Context, k K, fl *flight[V]) (V, error) {
	f.refreshes.Add(1)
	var key []byte
	if f.ns != nil {
		key = f.keys(nil, k)
	}
	start := time.Now()
	v, err := f.fn(ctx, k)
	if err != nil {
		return v, err
	}
	return f.remember(ctx, fl, k, key, v, time.Since(start)), nil
}
