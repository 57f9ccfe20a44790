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
//   - Errors are returned and not cached, unless ErrorTTL says so (and
//     then in memory only). A caller that shares another's failed
//     computation gets the same error.
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
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// A Func is a memoized function from K to V. It is safe for concurrent use.
// The only goroutines it starts are its background refreshes
// (RefreshAfter, StaleWhileRevalidate), which Close stops and waits for.
type Func[K comparable, V any] struct {
	name    string
	fn      func(context.Context, K) (V, error)
	maxSize int
	ttl     time.Duration
	ttlFunc func(K, V) time.Duration // nil unless TTLFunc

	refreshAfter, swr, sie time.Duration
	grace                  time.Duration // max(swr, sie): how long entries are kept past their TTL
	refreshTimeout         time.Duration
	bg                     group         // background refreshes
	failures               *backoff[K]   // nil unless refreshes run in the background
	nan                    *nanRefreshes // with failures and a store

	dynKey  bool             // K holds an interface: a key's dynamic type may not hash (see args)
	mem     memory[K, V]     // nil when MaxSize(0)
	lru     *memTier[K, V]   // mem, when its policy is LRU: the hot path calls it directly
	maxB    int64            // MaxBytes
	ns      *store.Namespace // nil without a store
	keys    codec.KeyEncoder[K]
	vals    *codec.Values[V]
	now     func() int64 // the store's clock, in Unix nanoseconds
	log     *slog.Logger
	flights flights[K, V]
	errs    *errCache[K] // nil unless ErrorTTL

	// Counts since New, never reset: the store reads them to keep its
	// persisted counters (see tier.Counts), so that a hit costs one counter
	// add and nothing in the store. Info subtracts base, the counts at the
	// last Clear. Memory-tier hits are counted by the tier (see memTier);
	// hits holds the others: from the file, or shared with a flight.
	hits, misses, diskHits  atomic.Int64
	saved                   atomic.Int64 // nanoseconds of computation the hits counted in hits saved
	refreshes, cachedErrors atomic.Int64
	staleReturns            atomic.Int64
	baseMu                  sync.Mutex
	base                    Info
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
		dynKey:  holdsInterface(reflect.TypeFor[K]()),
	}
	if c.ttlFunc != nil {
		var ok bool
		if f.ttlFunc, ok = c.ttlFunc.(func(K, V) time.Duration); !ok {
			return nil, fmt.Errorf("memo: New %q: TTLFunc takes %T, want func(%v, %v) time.Duration", name, c.ttlFunc, reflect.TypeFor[K](), reflect.TypeFor[V]())
		}
		if f.ttlFunc == nil {
			return nil, fmt.Errorf("memo: New %q: TTLFunc(nil): give it a function, or leave it out", name)
		}
		if c.ttlSet {
			return nil, fmt.Errorf("memo: New %q: both TTL and TTLFunc are set", name)
		}
	}
	for _, o := range []struct {
		name string
		d    time.Duration
	}{{"TTL", c.ttl}, {"ErrorTTL", c.errorTTL}, {"RefreshAfter", c.refreshAfter}, {"StaleWhileRevalidate", c.swr}, {"StaleIfError", c.sie}, {"RefreshTimeout", c.refreshTimeout}} {
		if o.d < 0 {
			return nil, fmt.Errorf("memo: New %q: %s(%v): want 0 or more", name, o.name, o.d)
		}
	}
	if (c.swr > 0 || c.sie > 0) && c.ttl == 0 && c.ttlFunc == nil {
		return nil, fmt.Errorf("memo: New %q: StaleWhileRevalidate and StaleIfError need TTL (above zero) or TTLFunc", name)
	}
	f.refreshAfter, f.swr, f.sie = c.refreshAfter, c.swr, c.sie
	f.grace = max(c.swr, c.sie)
	f.refreshTimeout = c.refreshTimeout
	if f.refreshTimeout <= 0 {
		f.refreshTimeout = DefaultRefreshTimeout
	}
	if f.refreshAfter > 0 || f.swr > 0 {
		f.failures = newBackoff[K](c.maxSize)
	}
	if err := f.newMemory(c); err != nil {
		return nil, fmt.Errorf("memo: New %q: %w", name, err)
	}
	if c.errorTTL > 0 {
		f.errs = newErrCache[K](c.maxSize, c.errorTTL)
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
	if f.failures != nil {
		f.nan = &nanRefreshes{running: map[string]bool{}, fails: newBackoff[string](c.maxSize)}
	}
	if f.mem != nil && f.ns.HearsUse() {
		// The memory tier's hits never reach the store; its eviction
		// hears of them through these notes, or it would evict the
		// entries used most as unused (see store.Namespace.NoteUse). A
		// store that does not evict by use is not told.
		f.mem.setNote(f.noteUse)
	}
	f.ns.Attach(tier[K, V]{f})
	return f, nil
}

// noteUse tells the store of hits of k that the memory tier served.
func (f *Func[K, V]) noteUse(k K, hits int) { f.ns.NoteUse(f.keys(nil, k), hits) }

// newMemory makes the memory tier that c describes, if any.
func (f *Func[K, V]) newMemory(c config) error {
	if c.maxBytes < 0 {
		return fmt.Errorf("MaxBytes(%d): want 0 (no bound) or more", c.maxBytes)
	}
	if c.maxBytes > 0 && c.maxSizeSet && c.maxSize == 0 {
		return fmt.Errorf("MaxBytes(%d) bounds the memory tier that MaxSize(0) turns off", c.maxBytes)
	}
	f.maxB = c.maxBytes
	if c.maxBytes > 0 {
		if !c.maxSizeSet {
			f.maxSize = -1 // MaxBytes alone is the only bound
		}
		var err error
		if f.vals, err = codec.NewValues[V](); err != nil { // to measure values
			return fmt.Errorf("MaxBytes: %w", err)
		}
	}
	if c.policy != LRU && c.policy != WTinyLFU {
		// Refused whether or not MaxSize(0) turns the tier off, as a
		// setting never goes silently unused.
		return fmt.Errorf("unknown policy %v", c.policy)
	}
	if f.maxSize == 0 {
		return nil
	}
	switch c.policy {
	case LRU:
		f.lru = newMemTier[K, V](f.maxSize, c.maxBytes)
		f.mem = f.lru
	case WTinyLFU:
		if c.maxBytes > 0 && c.maxSizeSet {
			return errors.New("WTinyLFU takes MaxSize or MaxBytes, not both")
		}
		f.mem = newTinyTier[K, V](f.maxSize, c.maxBytes)
	default:
		return fmt.Errorf("unknown policy %v", c.policy)
	}
	return nil
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

func (t tier[K, V]) FreshnessCounts() (refreshes, staleReturns, cachedErrors int64) {
	c := t.f.counts()
	return c.Refreshes, c.StaleReturns, c.CachedErrors
}

func (t tier[K, V]) Saved() int64 { return int64(t.f.counts().Saved) }

// tier is what the store's eviction asks to settle its hits.
var _ driver.HitSettler = tier[int, int]{}

// SettleHits notes to the store the hits the LRU tier's front entry served
// since they were last noted (see memTier.settle). The WTinyLFU tier
// notes each entry's hits as they come, and has nothing to settle.
func (t tier[K, V]) SettleHits() {
	if t.f.lru != nil {
		t.f.lru.settle()
	}
}

func (t tier[K, V]) Purge(cleared bool) (done func()) { return t.f.purge(cleared) }

// ForgetKey forgets the key that another process forgot (see
// store.Namespace.Delete), as Forget does here without the store: the
// key's computations already running keep nothing until done. A key that
// does not decode back to exactly the bytes given (which should not
// happen) purges the whole tier instead: forgetting too much is safe.
func (t tier[K, V]) ForgetKey(key []byte) (done func()) {
	f := t.f
	k, err := codec.DecodeKey[K](key)
	if err != nil || !bytes.Equal(f.keys(nil, k), key) {
		return f.purge(false)
	}
	done = f.flights.forget(k)
	if f.mem != nil {
		f.mem.remove(k)
	}
	f.forgetError(k) // and the back-off (TestForgetElsewhereEndsRefreshBackoff)
	return done
}

func (t tier[K, V]) Close() error { return t.f.Close() }

// purge empties the memory tier and discards the results of computations
// already running, which keep nothing until done is called (see flights).
// cleared resets Info, as cache_clear does.
func (f *Func[K, V]) purge(cleared bool) (done func()) {
	done = f.flights.clear()
	if f.mem != nil {
		f.mem.purge()
	}
	if f.errs != nil {
		f.errs.purge()
	}
	if f.failures != nil {
		f.failures.c.Purge() // as forgetError forgets one key's
	}
	if f.nan != nil {
		f.nan.fails.c.Purge()
	}
	if cleared {
		c := f.counts()
		f.baseMu.Lock()
		f.base = c
		f.baseMu.Unlock()
	}
	return done
}

// Call returns fn(ctx, k), from the memory tier, from the store or by
// running fn, in that order. fn's errors are returned unchanged, and not
// cached unless ErrorTTL says so. While one call for k runs fn, other calls for k wait for its
// result; a waiter whose ctx ends stops waiting at once with ctx.Err(),
// and a caller's cancellation never fails another caller's Call. If fn
// panics, the panic reaches the caller whose goroutine ran fn with fn's
// value, and the callers that waited for it as a *PanicError. A failing
// store never fails a Call: its errors are logged and counted.
//
// With a store, the value Call returns is the one the store gives back
// (the result of fn, encoded and decoded: times in UTC, for example), so
// that a call returns the same value whichever tier answers it.
//
// A nil ctx is an error, for Call and every method of Func that takes a
// context, and so is a key whose dynamic type cannot be hashed (a slice
// held by a key of type any); Peek, which has no error to give, reports
// either not found.
func (f *Func[K, V]) Call(ctx context.Context, k K) (V, error) {
	if ctx == nil || f.dynKey {
		if err := f.args(ctx, k, "call"); err != nil {
			var zero V
			return zero, err
		}
	}
	if f.lru != nil {
		v, t, res := f.lru.get(k, f.now)
		if res == fresh {
			return v, nil // counted by the tier
		}
		return f.notFresh(ctx, k, v, t, res)
	}
	if f.mem != nil {
		v, t, res := f.mem.get(k, f.now)
		if res == fresh {
			return v, nil
		}
		return f.notFresh(ctx, k, v, t, res)
	}
	return f.load(ctx, k, nil)
}

// args checks the arguments of a method of f that takes a key: a nil
// ctx is refused, as net/http refuses one, rather than panicking where a
// miss first uses it; and so is a key whose dynamic type cannot be hashed
// (a slice in a key of type any, or in a struct field of an interface
// type), which would panic in the memory tier's map, with its lock held.
// The second check runs only for key types that hold an interface
// (dynKey), so that other keys' hits pay one untaken branch; those keys'
// hits pay a comparison (see hashable).
func (f *Func[K, V]) args(ctx context.Context, k K, op string) error {
	if ctx == nil {
		return fmt.Errorf("memo: %s %q: nil Context", op, f.name)
	}
	if f.dynKey && !hashable(k) {
		return fmt.Errorf("memo: %s %q: key %v holds a value whose type cannot be hashed", op, f.name, k)
	}
	return nil
}

// hashable reports whether k can be compared, and so hashed, without a
// panic: by comparing it, and recovering. reflect.Value.Comparable says
// the same but allocates, and this runs on every memory hit of a key type
// that holds an interface (TestMemoryHitOfInterfaceKeyAllocatesNothing).
//
// A comparison stops at the first parts that differ, and a NaN differs
// from itself: a key whose comparison is false may hold an unhashable
// part after the NaN, which reflect looks at (TestUnhashableKeyBehindNaNIsAnError);
// only such keys pay its allocation.
func hashable[K comparable](k K) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if k == k {
		return true
	}
	return comparableParts(k)
}

// comparableParts is hashable's look at every part of k, apart so that
// only its own copy of k escapes: in hashable, k would be moved to the
// heap on every call.
//
//go:noinline
func comparableParts[K comparable](k K) bool { return reflect.ValueOf(&k).Elem().Comparable() }

// holdsInterface reports whether values of t can hold an interface value,
// whose dynamic type comparable does not check.
func holdsInterface(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Array:
		return holdsInterface(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsInterface(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// notFresh answers a call that found no fresh value in the memory tier:
// it found v, past its due time, or nothing.
func (f *Func[K, V]) notFresh(ctx context.Context, k K, v V, t stamp, res lookup) (V, error) {
	if res != due {
		return f.load(ctx, k, nil)
	}
	e := entry[V]{val: v, t: t}
	if f.serve(k, e, false, nil) {
		f.mem.usedDue(k)
		return v, nil
	}
	return f.load(ctx, k, &e)
}

// load answers a call that missed the memory tier, one flight per key.
// stale, if not nil, is a value past its TTL that the memory tier still
// has, for StaleIfError.
func (f *Func[K, V]) load(ctx context.Context, k K, stale *entry[V]) (V, error) {
	if f.errs != nil {
		if err, ok := f.errs.get(k, f.now()); ok {
			// A cached error, whether StaleIfError answers the call
			// with a stale value instead or not.
			f.cachedErrors.Add(1)
			if v, ok := f.fallBack(stale); ok {
				return v, nil
			}
			// The stale value StaleIfError would give may be in the store
			// only (no memory tier, or evicted from it).
			if stale == nil && f.sie > 0 && f.ns != nil {
				if e, found := f.lookup(ctx, k, f.keys(nil, k)); found {
					if v, ok := f.fallBack(&e); ok {
						return v, nil
					}
				}
			}
			var zero V
			return zero, err
		}
	}
	for {
		fl, leader := f.flights.join(k)
		if leader {
			return f.lead(ctx, k, fl, func(ctx context.Context, k K, fl *flight[V]) (V, error) {
				return f.compute(ctx, k, fl, stale)
			})
		}
		if fl.background && f.ns != nil {
			// A background refresh is running: what the store has is
			// still good to serve while it does.
			if e, ok := f.lookup(ctx, k, f.keys(nil, k)); ok && f.serve(k, e, true, nil) {
				return e.val, nil
			}
		}
		if v, retry, err := f.wait(ctx, fl, true); !retry {
			return v, err
		}
	}
}

// wait waits for fl, a flight another caller leads, and returns its
// outcome, or retry if its leader gave up. call says the waiter is a
// Call, whose hit or miss Info counts, and which starts over if a
// refresh failed: what was cached stays, and is the Call's answer
// whichever tier holds it. A Refresh that waits shares the outcome,
// error included, and is no hit nor miss.
func (f *Func[K, V]) wait(ctx context.Context, fl *flight[V], call bool) (v V, retry bool, err error) {
	select {
	case <-fl.done:
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
	switch {
	case fl.panicked:
		panic(fl.panicVal)
	case fl.abandoned, fl.background && fl.err != nil, call && fl.refresh && fl.err != nil:
		// The leader gave up for its own reasons, or a refresh failed
		// (the old value stays): start over.
		return v, true, nil
	case !call:
	case fl.fellBack:
		// The stale value StaleIfError gave the leader: a miss, and a
		// stale return, for each caller.
		f.countMiss()
		f.staleReturns.Add(1)
	case fl.err != nil:
		f.countMiss()
	default:
		f.countHit(false, 0)
		if fl.servedStale {
			// The stale value StaleWhileRevalidate gave the leader:
			// a stale return for each caller too.
			f.staleReturns.Add(1)
		}
	}
	return fl.val, false, fl.err
}

// lead runs the flight fl for k and publishes its outcome, including a
// panic, which it then lets continue up the caller's stack.
//
// A panic is told from runtime.Goexit as x/sync's singleflight does: by
// whether the function that recovered returns. recover alone cannot tell
// them apart, as it returns nil for both a Goexit and, under
// GODEBUG=panicnil=1, a panic(nil).
func (f *Func[K, V]) lead(ctx context.Context, k K, fl *flight[V], compute func(context.Context, K, *flight[V]) (V, error)) (v V, err error) {
	returned, recovered := false, false
	defer func() {
		if !returned && !recovered {
			// fn called runtime.Goexit: waiters start over.
			fl.abandoned = true
			f.flights.finish(k, fl)
		}
	}()
	func() {
		defer func() {
			if returned {
				return
			}
			r := recover()
			fl.panicked = r != nil
			fl.panicVal = &PanicError{Value: r, Stack: debug.Stack()}
			if r != nil {
				// Re-panic here, with fn's frames still on the stack.
				recovered = true
				f.flights.finish(k, fl)
				panic(r)
			}
		}()
		v, err = compute(ctx, k, fl)
		returned = true
	}()
	if !returned {
		// A panic(nil) that recover stopped.
		recovered = true
		fl.panicked = true
		f.flights.finish(k, fl)
		panic(fl.panicVal.Value)
	}
	fl.val, fl.err = v, err
	// A failure that comes with the leader's own cancellation is the
	// leader's alone: waiters retry rather than inherit it.
	fl.abandoned = err != nil && ctx.Err() != nil
	f.flights.finish(k, fl)
	return v, err
}

// compute answers a call as the leader of its key's flight. stale is as
// for load.
func (f *Func[K, V]) compute(ctx context.Context, k K, fl *flight[V], stale *entry[V]) (V, error) {
	// The flight that just ended may have filled the memory tier between
	// this caller's miss and its join (groupcache's load has the same
	// second check).
	if f.mem != nil {
		if v, _, res := f.mem.get(k, f.now); res == fresh {
			return v, nil // counted by the tier
		}
	}
	var key []byte
	if f.ns != nil {
		key = f.keys(nil, k)
		var e entry[V]
		ok := false
		shared := f.ns.Shared()
		if !shared || !f.ns.AcquireLooksUp() {
			e, ok = f.lookup(ctx, k, key)
		}
		if !ok && shared {
			// Other processes share the store: wait for one that is
			// computing k, or hold k's lock while this one does.
			var release func()
			var err error
			ok, release, err = f.ns.Acquire(ctx, key, func(payload []byte, h codec.Header) error {
				e, err = f.decode(k, payload, h)
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
			if f.mem != nil && f.classify(e.t, f.now()) != stateDead {
				fl.keep(func() { f.mem.add(k, e.val, e.t, e.size) })
			}
			if f.serve(k, e, true, fl) {
				return e.val, nil
			}
			if stale == nil {
				stale = &e
			}
			if shared {
				// Every process that calls k finds it and cannot serve
				// it either: one of them recomputes it.
				fresh, found, release, err := f.claimExpired(ctx, k, key)
				if err != nil {
					var zero V
					return zero, err
				}
				defer release()
				if found {
					// Kept before serve, as above: a refresh that serve
					// starts takes the flight's place, and what it keeps
					// must not be overwritten by this older value.
					if f.mem != nil {
						fl.keep(func() { f.mem.add(k, fresh.val, fresh.t, fresh.size) })
					}
					if f.serve(k, fresh, true, fl) {
						return fresh.val, nil
					}
				}
			}
		}
	}
	f.countMiss()
	v, err := f.run(ctx, k, key, fl)
	if err != nil && ctx.Err() == nil {
		if v, ok := f.fallBack(stale); ok {
			fl.fellBack = true // before lead publishes: the waiters count it so too
			return v, nil
		}
	}
	return v, err
}

// claimWait bounds how long a process waits for another to recompute a
// key that both found in the store and could not serve, before it
// computes the key itself (see claimExpired): the file store's
// boltstore.ClaimLease, which bounds the wait for a missing key.
const claimWait = 30 * time.Second

// claimExpired is Acquire for a key that the store holds but that no
// process can serve: past its TTL, kept for StaleIfError's fallback, or
// expired by a TTL shortened since it was stored. The store's Acquire
// reports such a key found and claims nothing, so without this every
// process sharing the store that called the key ran fn
// (TestStaleIfErrorOneComputationAcrossProcesses). It takes the key's
// claim (store.Namespace.TryClaim) and returns its release, after which
// the caller computes; or, if the key's last claimant stored a value the
// caller can serve (looked up once the claim is taken), that entry
// (found), with the claim released. While another process holds the
// claim it waits for that one to end it (a Put does, or a failure's
// release), asking again after a growing pause (2 ms to 100 ms, as
// redisstore's Acquire does), up to claimWait; then it returns a release
// that does nothing, and the caller computes without the claim. It asks for the claim, not for the key, while it waits: a
// claim request is no lookup, which the store's eviction would note as a
// use of the key (TestExpiredKeyWaitNotesOneLookup); the look once it has
// the claim is noted, a second lookup for the call. If the other
// process's fn fails, this one runs fn in turn. Only ctx ends it with an
// error.
func (f *Func[K, V]) claimExpired(ctx context.Context, k K, key []byte) (e entry[V], found bool, release func(), err error) {
	noop := func() {}
	deadline := time.Now().Add(claimWait)
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		rel, claimed := f.ns.TryClaim(ctx, key)
		if err := ctx.Err(); err != nil { // TryClaim gives up on a canceled ctx, as if claimed
			rel()
			return entry[V]{}, false, noop, err
		}
		if claimed {
			// The last claimant may have stored a value since this
			// process read the key, even if it did not wait: looked up
			// again, as Acquire does once it has the claim, or fn would
			// run a second time for one expiry
			// (TestExpiredKeyClaimedAtOnceLooksUpAgain).
			var ok bool
			if e, ok = f.lookup(ctx, k, key); ok && f.classify(e.t, f.now()) < stateFallback {
				rel()
				return e, true, noop, nil
			}
			return entry[V]{}, false, rel, nil
		}
		if time.Now().After(deadline) {
			return entry[V]{}, false, noop, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return entry[V]{}, false, noop, ctx.Err()
		case <-t.C:
		}
	}
}

// run runs fn for k as the leader of fl and keeps its result, or its
// error if errors are cached.
func (f *Func[K, V]) run(ctx context.Context, k K, key []byte, fl *flight[V]) (V, error) {
	start := time.Now()
	v, err := f.fn(ctx, k)
	cost := time.Since(start)
	if err != nil {
		if f.errs != nil && ctx.Err() == nil {
			now := f.now()
			fl.keep(func() { f.errs.add(k, err, now) })
		}
		return v, err
	}
	return f.remember(ctx, fl, k, key, v, cost), nil
}

// decode decodes a stored value of k. Its TTL is the one in force (TTL,
// or TTLFunc's for k and the value) from the record's stored-at, so that a
// TTL set or shortened since the record was stored applies to it; the
// record's own expires-at, which includes the grace of StaleWhileRevalidate
// and StaleIfError, is the end it cannot outlive. The record's cost is what
// a hit on the entry saves.
func (f *Func[K, V]) decode(k K, payload []byte, h codec.Header) (entry[V], error) {
	storedAt, recExp := h.StoredAt, h.ExpiresAt
	v, err := f.vals.Decode(payload)
	if err != nil {
		return entry[V]{}, err
	}
	ttl, keep := f.ttlOf(k, v)
	exp := recExp
	switch {
	case !keep:
		exp = storedAt // not to be cached any more: expired
	case ttl > 0:
		if byTTL := expiry.Deadline(time.Unix(0, storedAt), ttl); exp == expiry.Never || byTTL < exp {
			exp = byTTL
		}
	}
	t := f.stampOf(storedAt, exp, recExp)
	t.cost = int64(h.Cost)
	return entry[V]{val: v, t: t, size: int64(len(payload))}, nil
}

// ttlOf returns the TTL of k's value v (0 = never expires) and whether v
// is to be cached at all.
func (f *Func[K, V]) ttlOf(k K, v V) (time.Duration, bool) {
	if f.ttlFunc == nil {
		return f.ttl, true
	}
	d := f.ttlFunc(k, v)
	return max(d, 0), d >= 0
}

// lookup reads key from the store: the entry, whatever its state, if the
// store has one. A store error is logged and is a miss.
func (f *Func[K, V]) lookup(ctx context.Context, k K, key []byte) (entry[V], bool) {
	var e entry[V]
	ok, err := f.ns.Lookup(ctx, key, func(payload []byte, h codec.Header) error {
		var err error
		e, err = f.decode(k, payload, h)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		f.log.Warn("memostore: lookup failed", "namespace", f.name, "err", err)
	}
	return e, ok && err == nil
}

// remember keeps v, which fn took cost to compute, in both tiers, unless
// an invalidation came since the flight fl began (see flights), and
// returns the value kept: with a store, v as the store gives it back. A
// failure to store is logged, never returned: the caller has its value.
//
// A value its TTL says not to cache is not kept; if fl is a refresh
// (Refresh, or one in the background), the value it replaces is dropped
// instead, as Set drops it: else the refresh left the older value served,
// and a due entry would start a refresh on every call. A kept or dropped
// value also drops an error cached for k (ErrorTTL): it is older.
func (f *Func[K, V]) remember(ctx context.Context, fl *flight[V], k K, key []byte, v V, cost time.Duration) V {
	it, ok := f.prepare(k, key, v, cost)
	if !ok {
		if fl.refresh || fl.background {
			// The value it replaces goes, unless an invalidation came
			// first: dropped as by Forget, under no flight's lock (see
			// drop).
			replace := false
			fl.keep(func() { replace = true })
			if replace {
				if err := f.drop(context.WithoutCancel(ctx), k, key); err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrUnavailable) {
					f.log.Warn("memostore: value replaced by a refresh not dropped", "namespace", f.name, "err", err)
				}
			}
		}
		return v
	}
	var err error
	fl.keep(func() {
		f.forgetError(k)
		err = f.write(ctx, k, key, it)
	})
	// A closed store, or a Redis server that is out (the store logs the
	// outage once), is not news for every call.
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrUnavailable) {
		f.log.Warn("memostore: result not stored", "namespace", f.name, "err", err)
	}
	return it.val
}

// drop removes k from both tiers, as Forget does in this process: its
// store delete runs under no flight's lock, as it must. On a follower, or
// on Redis, a delete waits for replies that the connection's reader
// delivers; that reader also runs the invalidations other processes push
// (and Redis purges on seeing a Clear), which take the lock of k's flight.
func (f *Func[K, V]) drop(ctx context.Context, k K, key []byte) error {
	done := f.flights.forget(k)
	defer done()
	var err error
	if f.ns != nil {
		err = f.ns.Delete(ctx, key)
	}
	// After the delete is visible in the store, so that no call reads the
	// value back in between.
	if f.mem != nil {
		f.mem.remove(k)
	}
	f.forgetError(k)
	return err
}

// forgetError drops the error cached for k, if errors are cached, and the
// back-off of k's refreshes: both were about the value that is replaced
// or removed, and the next value's first refresh is not held back by it
// (TestInvalidationForgetsRefreshBackoff).
func (f *Func[K, V]) forgetError(k K) {
	if f.errs != nil {
		f.errs.remove(k)
	}
	if f.failures != nil {
		f.failures.ok(k)
	}
	if f.nan != nil && !selfEqual(k) {
		f.nan.fails.ok(string(f.keys(nil, k))) // see nanRefreshes
	}
}

// item is a value ready to be kept: as the store gives it back, with its
// expires-at and its record (nil without a store, or if it failed to
// encode: err says why).
type item[V any] struct {
	val  V
	t    stamp
	size int64 // of the encoded value
	rec  []byte
	err  error
	// unmeasured: MaxBytes is set and the value could not be encoded,
	// so it has no size to bound; it is kept in no tier
	// (TestMaxBytesKeepsNoUnmeasuredValue).
	unmeasured bool
}

// prepare makes k's value v, which fn took cost to compute (0 for Set),
// an item, or reports false if its TTL says not to cache it.
func (f *Func[K, V]) prepare(k K, key []byte, v V, cost time.Duration) (item[V], bool) {
	ttl, keep := f.ttlOf(k, v)
	if !keep {
		return item[V]{}, false
	}
	now := f.now()
	it := item[V]{val: v, t: f.stampOf(now, expiry.Deadline(time.Unix(0, now), ttl), 0)}
	it.t.cost = int64(cost)
	if f.ns != nil {
		// The record expires at the entry's end: kept past its TTL for
		// the grace of StaleWhileRevalidate and StaleIfError, which the
		// record carries too, so that the store can tell a stale entry.
		m := codec.Meta{StoredAt: now, ExpiresAt: it.t.end, Cost: cost}
		if it.t.exp != 0 && it.t.end > it.t.exp {
			m.Grace = time.Duration(it.t.end - it.t.exp)
		}
		if it.rec, it.err = f.vals.Encode(v, key, m); it.err == nil {
			// What the memory tier keeps, and the caller gets, is what
			// the store will give back (package codec normalises, for
			// example, times to UTC).
			var back V
			if back, it.err = f.vals.Decode(it.rec[codec.HeaderSize:]); it.err == nil {
				it.val = back
			}
			it.size = int64(len(it.rec) - codec.HeaderSize) // Encode writes RecordVersion
		}
		it.unmeasured = f.maxB > 0 && it.err != nil
	} else if f.maxB > 0 {
		// Measured for MaxBytes only: encoded and dropped.
		if rec, err := f.vals.Encode(v, nil, codec.Meta{StoredAt: now}); err == nil {
			it.size = int64(len(rec) - codec.HeaderSize)
		} else {
			// Set returns it, as in front of a store
			// (TestSetUnmeasuredValueIsAnError).
			it.unmeasured, it.err = true, err
		}
	}
	return it, true
}

// write keeps it in both tiers, and returns the store's error.
func (f *Func[K, V]) write(ctx context.Context, k K, key []byte, it item[V]) error {
	if f.mem != nil {
		if it.unmeasured {
			f.mem.remove(k) // and what k held: it is replaced
		} else {
			f.mem.add(k, it.val, it.t, it.size)
		}
	}
	if f.ns == nil || it.err != nil {
		return it.err
	}
	// The value is computed: store it even if the caller has gone. (On
	// Redis this Put also releases the key's computation lock.)
	return f.ns.Put(context.WithoutCancel(ctx), key, it.rec)
}

// countHit counts a hit that a memory tier did not count, on an entry
// whose computation took cost nanoseconds (0 for a call that waited for
// another's computation: it saved no time).
func (f *Func[K, V]) countHit(fromDisk bool, cost int64) {
	f.hits.Add(1)
	if cost != 0 {
		f.saved.Add(cost)
	}
	if fromDisk {
		f.diskHits.Add(1)
	}
}

func (f *Func[K, V]) countMiss() { f.misses.Add(1) }

// counts returns the counts since New.
func (f *Func[K, V]) counts() Info {
	hits, saved := f.hits.Load(), f.saved.Load()
	if f.mem != nil {
		hits += f.mem.hits()
		saved += f.mem.saved()
	}
	return Info{Hits: hits, Misses: f.misses.Load(), DiskHits: f.diskHits.Load(),
		Refreshes: f.refreshes.Load(), CachedErrors: f.cachedErrors.Load(),
		StaleReturns: f.staleReturns.Load(), Saved: time.Duration(saved)}
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

		Refreshes:    c.Refreshes - b.Refreshes,
		CachedErrors: c.CachedErrors - b.CachedErrors,
		StaleReturns: c.StaleReturns - b.StaleReturns,
		Saved:        c.Saved - b.Saved,
	}
	if f.mem != nil {
		i.CurrSize = f.mem.len()
		if f.maxB > 0 {
			i.CurrBytes = f.mem.bytes()
		}
	}
	i.MaxBytes = f.maxB
	return i
}

// Clear empties both tiers of this Func, as functools' cache_clear, and
// resets its Info. It returns once the store has committed the deletion.
// Computations already running when Clear is called keep nothing: after
// Clear returns, no Call in this process gets a value computed before.
func (f *Func[K, V]) Clear(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("memo: clear %q: nil Context", f.name)
	}
	if f.ns == nil {
		f.purge(true)()
		return nil
	}
	// The store purges the attached tier (see tier.Purge) before its
	// deletion and lets it keep results again after.
	if err := f.ns.Clear(ctx); err != nil {
		f.purge(true)() // this process's tier, at least
		return fmt.Errorf("memo: clear %q: %w", f.name, err)
	}
	return nil
}

// Forget removes k from both tiers, so that the next call for k runs fn.
// A computation of k already running when Forget is called keeps nothing,
// and a Call made after Forget returns does not wait for it. A file store
// deletes k behind, unless opened WithSyncWrites; a later Call in this
// process never sees the forgotten value either way. On a Redis store, see
// the caveats in the package doc for other processes.
func (f *Func[K, V]) Forget(ctx context.Context, k K) error {
	if err := f.args(ctx, k, "forget"); err != nil {
		return err
	}
	var key []byte
	if f.ns != nil {
		key = f.keys(nil, k)
	}
	if err := f.drop(ctx, k, key); err != nil {
		return fmt.Errorf("memo: forget %q: %w", f.name, err)
	}
	return nil
}

// Name returns the Func's namespace name.
func (f *Func[K, V]) Name() string { return f.name }
