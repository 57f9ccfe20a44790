// Package memo memoizes Go functions in two tiers: a typed LRU in memory,
// in front of a store (a file, or a Redis server shared by many processes)
// that outlives the process.
//
//	fib, err := memo.New(s, "fib", fibFn, memo.MaxSize(128))
//	v, err := fib.Call(ctx, 30)
//
// A call is answered from the memory tier if it can (no encoding, no
// allocation), else from the store, else by running fn; fn's result is
// then kept in memory and written to the store (behind, for a file).
// Concurrent calls for one key run fn once; on a store shared through
// Redis, concurrent calls for one key in different processes run fn once
// too (see store.Namespace.Acquire). With a nil store, a Func is a
// memory-only memoizer that behaves as Python's functools.lru_cache: the
// same hits, misses and currsize for the same calls and maxsize.
//
// # Caveats
//
//   - Values are shared, not copied: every caller that hits gets the same
//     slice, map or pointer. Do not modify them.
//   - fn must not call its own Func with the same key: the call would wait
//     for itself. Calls with other keys (recursion, as in Fibonacci) are
//     fine.
//   - Errors are returned and not cached. A caller that shares another's
//     failed computation gets the same error.
//   - A namespace's identity is its name, Version and the shapes of K and
//     V. Change any and the entries stored before are dropped, not decoded
//     into a wrong value.
//   - On a store shared through Redis, each process has its own memory
//     tier. Clear empties every process's; Forget only this one's (and the
//     server's copy): another process may answer the forgotten key from
//     memory until it expires there (TTL) or is evicted. A computation
//     already running in another process when Forget or Clear is called
//     may store its result after it.
package memo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store"
)

// A Func is a memoized function from K to V. It is safe for concurrent use
// and owns no goroutines.
type Func[K comparable, V any] struct {
	name    string
	fn      func(context.Context, K) (V, error)
	maxSize int
	ttl     time.Duration

	mem     *memTier[K, V]   // nil when MaxSize(0)
	ns      *store.Namespace // nil without a store
	keys    codec.KeyEncoder[K]
	vals    *codec.Values[V]
	now     func() int64 // the store's clock, in Unix nanoseconds
	log     *slog.Logger
	flights flights[K, V]

	// gen counts Clear and Forget calls; a computation that started before
	// one of them does not store its result, which could be stale.
	gen atomic.Uint64

	// Counts since New, never reset: the store reads them to keep its
	// persisted counters (see tier.Counts), so that a hit costs one counter
	// add and nothing in the store. Info subtracts base, the counts at the
	// last Clear. Memory-tier hits are counted by the tier (see memTier);
	// hits holds the others: from the file, or shared with a flight.
	hits, misses, diskHits atomic.Int64
	baseMu                 sync.Mutex
	base                   Info
}

// New memoizes fn under the namespace name of store s. Results persist in s
// across restarts; with a nil s the Func is memory-only.
//
// New checks that K and V can be stored faithfully (see codec.CheckKey and
// codec.CheckValue) and returns an error naming the offending type and
// field if not; with a nil s any comparable K and any V will do. A name can
// be used by one Func per Store.
func New[K comparable, V any](s *store.Store, name string, fn func(context.Context, K) (V, error), opts ...Option) (*Func[K, V], error) {
	if fn == nil {
		return nil, fmt.Errorf("memo: New %q: nil function", name)
	}
	c := config{maxSize: DefaultMaxSize}
	for _, opt := range opts {
		opt(&c)
	}
	f := &Func[K, V]{
		name:    name,
		fn:      fn,
		maxSize: c.maxSize,
		ttl:     c.ttl,
		now:     func() int64 { return time.Now().UnixNano() },
		log:     slog.New(slog.DiscardHandler),
	}
	if c.maxSize != 0 {
		f.mem = newMemTier[K, V](c.maxSize)
	}
	if s == nil {
		return f, nil
	}
	var err error
	if f.keys, err = codec.NewKeyEncoder[K](); err != nil {
		return nil, fmt.Errorf("memo: New %q: %w", name, err)
	}
	if f.vals, err = codec.NewValues[V](); err != nil {
		return nil, fmt.Errorf("memo: New %q: %w", name, err)
	}
	kt, vt := reflect.TypeFor[K](), reflect.TypeFor[V]()
	f.ns, err = s.Namespace(context.Background(), name, store.NamespaceSpec{
		Version: c.version,
		KeyType: codec.TypeName(kt), KeyID: codec.TypeID(kt),
		ValueType: codec.TypeName(vt), ValueID: codec.TypeID(vt),
	})
	if err != nil {
		return nil, fmt.Errorf("memo: New %q: %w", name, err)
	}
	f.now, f.log = s.Now, s.Logger()
	f.ns.Attach(tier[K, V]{f})
	return f, nil
}

// tier presents a Func's memory tier to its store, which reports its size
// and purges it when the namespace is cleared (by Store.Clear or memoctl).
type tier[K comparable, V any] struct{ f *Func[K, V] }

func (t tier[K, V]) Size() (curr, max int) {
	i := t.f.Info()
	return i.CurrSize, i.MaxSize
}

func (t tier[K, V]) Counts() (hits, misses, diskHits int64) {
	c := t.f.counts()
	return c.Hits, c.Misses, c.DiskHits
}

func (t tier[K, V]) Purge() {
	t.f.gen.Add(1)
	if t.f.mem != nil {
		t.f.mem.purge()
	}
}

// Call returns fn(ctx, k), from the memory tier, from the store or by
// running fn, in that order. fn's errors are returned unchanged and not
// cached; a panic in fn reaches the caller. While one call for k runs fn,
// other calls for k wait for its result; a waiter whose ctx ends stops
// waiting at once with ctx.Err(), and a caller's cancellation never fails
// another caller's Call. A failing store never fails a Call: its errors
// are logged and counted.
func (f *Func[K, V]) Call(ctx context.Context, k K) (V, error) {
	if f.mem != nil {
		if v, ok := f.mem.get(k, f.now); ok {
			return v, nil // counted by the tier
		}
	}
	return f.load(ctx, k)
}

// load answers a call that missed the memory tier, one flight per key.
func (f *Func[K, V]) load(ctx context.Context, k K) (V, error) {
	for {
		fl, leader := f.flights.join(k)
		if leader {
			return f.lead(ctx, k, fl)
		}
		select {
		case <-fl.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		switch {
		case fl.panicked:
			panic(fl.panicVal)
		case fl.abandoned:
			continue // the leader gave up for its own reasons: start over
		case fl.err != nil:
			f.countMiss()
		default:
			f.countHit(false)
		}
		return fl.val, fl.err
	}
}

// lead runs the flight fl for k and publishes its outcome, including a
// panic, which it then lets continue up the caller's stack.
func (f *Func[K, V]) lead(ctx context.Context, k K, fl *flight[V]) (V, error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		// fn panicked, or called runtime.Goexit (recover returns nil).
		r := recover()
		if r != nil {
			fl.panicked, fl.panicVal = true, r
		} else {
			fl.abandoned = true
		}
		f.flights.finish(k, fl)
		if r != nil {
			panic(r)
		}
	}()
	v, err := f.compute(ctx, k)
	returned = true
	fl.val, fl.err = v, err
	// A failure that comes with the leader's own cancellation is the
	// leader's alone: waiters retry rather than inherit it.
	fl.abandoned = err != nil && ctx.Err() != nil
	f.flights.finish(k, fl)
	return v, err
}

// compute answers a call as the leader of its key's flight.
func (f *Func[K, V]) compute(ctx context.Context, k K) (V, error) {
	// The flight that just ended may have filled the memory tier between
	// this caller's miss and its join (groupcache's load has the same
	// second check).
	if f.mem != nil {
		if v, ok := f.mem.get(k, f.now); ok {
			return v, nil // counted by the tier
		}
	}
	gen := f.gen.Load()
	var key []byte
	if f.ns != nil {
		key = f.keys(nil, k)
		v, ok := f.lookup(key)
		if !ok && f.ns.Shared() {
			// Other processes share the store: wait for one that is
			// computing k, or hold k's lock while this one does.
			var release func()
			var err error
			ok, release, err = f.ns.Acquire(ctx, key, func(payload []byte, exp int64) error {
				val, err := f.vals.Decode(payload)
				v = entry[V]{val: val, exp: exp}
				return err
			})
			if err != nil {
				var zero V
				return zero, err
			}
			if !ok {
				defer release() // if remember's Put did not release it
			}
		}
		if ok {
			f.countHit(true)
			if f.mem != nil && f.gen.Load() == gen {
				f.mem.add(k, v.val, v.exp)
			}
			return v.val, nil
		}
	}
	f.countMiss()
	v, err := f.fn(ctx, k)
	if err != nil {
		return v, err
	}
	if f.gen.Load() == gen {
		f.remember(ctx, k, key, v)
	}
	return v, nil
}

// entry is a value with its expires-at (Unix nanoseconds; 0 = never).
type entry[V any] struct {
	val V
	exp int64
}

// lookup reads key from the store. A store error is logged and is a miss.
func (f *Func[K, V]) lookup(key []byte) (entry[V], bool) {
	var e entry[V]
	ok, err := f.ns.Lookup(key, func(payload []byte, exp int64) error {
		v, err := f.vals.Decode(payload)
		e = entry[V]{val: v, exp: exp}
		return err
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		f.log.Warn("memostore: lookup failed", "namespace", f.name, "err", err)
	}
	return e, ok && err == nil
}

// remember keeps v in both tiers. A failure to store is logged, never
// returned: the caller has its value.
func (f *Func[K, V]) remember(ctx context.Context, k K, key []byte, v V) {
	now := f.now()
	exp := expiry.Deadline(time.Unix(0, now), f.ttl)
	if f.mem != nil {
		f.mem.add(k, v, exp)
	}
	if f.ns == nil {
		return
	}
	rec, err := f.vals.Encode(v, key, now, exp)
	if err == nil {
		// The value is computed: store it even if the caller has gone.
		// (On Redis this Put also releases the key's computation lock.)
		err = f.ns.Put(context.WithoutCancel(ctx), key, rec)
	}
	// A closed store, or a Redis server that is out (the store logs the
	// outage once), is not news for every call.
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrUnavailable) {
		f.log.Warn("memostore: result not stored", "namespace", f.name, "err", err)
	}
}

func (f *Func[K, V]) countHit(fromDisk bool) {
	f.hits.Add(1)
	if fromDisk {
		f.diskHits.Add(1)
	}
}

func (f *Func[K, V]) countMiss() { f.misses.Add(1) }

// counts returns the counts since New.
func (f *Func[K, V]) counts() Info {
	hits := f.hits.Load()
	if f.mem != nil {
		hits += f.mem.hits()
	}
	return Info{Hits: hits, Misses: f.misses.Load(), DiskHits: f.diskHits.Load()}
}

// Info returns the Func's statistics in this process since New or the last
// Clear.
func (f *Func[K, V]) Info() Info {
	c := f.counts()
	f.baseMu.Lock()
	b := f.base
	f.baseMu.Unlock()
	i := Info{
		Hits:     c.Hits - b.Hits,
		Misses:   c.Misses - b.Misses,
		DiskHits: c.DiskHits - b.DiskHits,
		MaxSize:  max(f.maxSize, -1),
	}
	if f.mem != nil {
		i.CurrSize = f.mem.len()
	}
	return i
}

// Clear empties both tiers of this Func, as functools' cache_clear, and
// resets its Info. It returns once the store has committed the deletion.
func (f *Func[K, V]) Clear(ctx context.Context) error {
	f.gen.Add(1)
	if f.mem != nil {
		f.mem.purge()
	}
	c := f.counts()
	f.baseMu.Lock()
	f.base = c
	f.baseMu.Unlock()
	if f.ns == nil {
		return nil
	}
	if err := f.ns.Clear(ctx); err != nil {
		return fmt.Errorf("memo: clear %q: %w", f.name, err)
	}
	return nil
}

// Forget removes k from both tiers, so that the next call for k runs fn.
// A file store deletes it behind, unless opened WithSyncWrites; a later
// Call in this process never sees the forgotten value either way. On a
// Redis store, see the caveats in the package doc for other processes.
func (f *Func[K, V]) Forget(ctx context.Context, k K) error {
	f.gen.Add(1)
	if f.mem != nil {
		f.mem.remove(k)
	}
	if f.ns == nil {
		return nil
	}
	if err := f.ns.Delete(ctx, f.keys(nil, k)); err != nil {
		return fmt.Errorf("memo: forget %q: %w", f.name, err)
	}
	return nil
}

// Name returns the Func's namespace name.
func (f *Func[K, V]) Name() string { return f.name }
