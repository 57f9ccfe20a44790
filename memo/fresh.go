package memo

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/memostore/memostore/store"
)

// DefaultRefreshTimeout bounds a background refresh when RefreshTimeout is
// not given.
const DefaultRefreshTimeout = time.Minute

// A state is what an entry is good for at a given time.
type state uint8

const (
	stateFresh    state = iota // serve it
	stateDue                   // serve it, and refresh it in the background (RefreshAfter)
	stateStale                 // past its TTL: serve it, and refresh it (StaleWhileRevalidate)
	stateFallback              // past its TTL: serve it only if fn fails (StaleIfError)
	stateDead                  // nothing to serve
)

// entry is a value with its times.
type entry[V any] struct {
	val  V
	t    stamp
	size int64 // of the encoded value
}

// stampOf returns the times of an entry of k stored at stored, with
// expires-at exp by its TTL (0 = never). end, if not 0, is an end the entry
// cannot outlive (a stored record's own expires-at).
func (f *Func[K, V]) stampOf(stored, exp, end int64) stamp {
	t := stamp{exp: exp, due: exp}
	if exp != 0 {
		t.end = exp
		if f.grace > 0 {
			t.end = satAdd(exp, int64(f.grace))
		}
	}
	if end != 0 && (t.end == 0 || end < t.end) {
		t.end = end
	}
	if f.refreshAfter > 0 {
		if r := satAdd(stored, int64(f.refreshAfter)); t.due == 0 || r < t.due {
			t.due = r
		}
	}
	return t
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// classify says what an entry with times t is good for at now.
func (f *Func[K, V]) classify(t stamp, now int64) state {
	switch {
	case t.end != 0 && now >= t.end:
		return stateDead
	case t.exp != 0 && now >= t.exp:
		switch {
		case f.swr > 0 && now-t.exp < int64(f.swr):
			return stateStale
		case f.sie > 0 && now-t.exp < int64(f.sie):
			return stateFallback
		}
		return stateDead
	case t.due != 0 && now >= t.due:
		return stateDue
	}
	return stateFresh
}

// serve answers with e if its state allows, starting a background refresh
// when it is due or stale, and counts the call. self is the flight the
// caller leads, if any (a background refresh may take its place); a stale
// e is marked on it, so that the calls that wait for it count a stale
// return too.
func (f *Func[K, V]) serve(k K, e entry[V], fromDisk bool, self *flight[V]) bool {
	switch f.classify(e.t, f.now()) {
	case stateFresh:
	case stateStale:
		f.staleReturns.Add(1)
		if self != nil {
			self.servedStale = true // before lead publishes
		}
		f.refreshLater(k, self)
	case stateDue:
		f.refreshLater(k, self)
	default:
		return false
	}
	f.countHit(fromDisk, e.t.cost)
	return true
}

// fallBack returns the stale value of e, if StaleIfError allows it, for a
// call whose fn failed.
func (f *Func[K, V]) fallBack(e *entry[V]) (V, bool) {
	if e != nil {
		if s := f.classify(e.t, f.now()); s == stateStale || s == stateFallback {
			f.staleReturns.Add(1)
			return e.val, true
		}
	}
	var zero V
	return zero, false
}

// refreshLater starts a background refresh of k, unless one is running,
// another computation of k is in flight (other than self), k's last
// refresh failed too recently (see backoff) or the Func is closed. The
// refresh runs fn with its own context, bounded by RefreshTimeout, never
// the caller's; calls for k that miss meanwhile wait for it.
func (f *Func[K, V]) refreshLater(k K, self *flight[V]) {
	nan := ""
	if !selfEqual(k) {
		if f.nan == nil {
			return // never due: its value is in no memory tier, and no store
		}
		nan = string(f.keys(nil, k))
		if !f.nan.start(nan, f.now()) {
			return
		}
	} else if f.failures != nil && f.failures.blocked(k, f.now()) {
		return
	}
	fl, ok := f.flights.startRefresh(k, self)
	if !ok {
		return
	}
	started := f.bg.run(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, f.refreshTimeout)
		defer cancel()
		defer func() {
			// fn's panic reached the waiters (as a PanicError): here
			// it is a failed refresh, not a crash of the process.
			if r := recover(); r != nil {
				f.log.Error("memostore: background refresh panicked", "namespace", f.name, "panic", r)
			}
		}()
		if _, err := f.lead(ctx, k, fl, f.backOff); err != nil && !errors.Is(err, errRefreshedElsewhere) && !errors.Is(err, store.ErrClosed) {
			f.log.Warn("memostore: background refresh failed; the old value stays", "namespace", f.name, "err", err)
		}
	})
	if !started {
		fl.abandoned = true
		f.flights.finish(k, fl)
		if nan != "" {
			f.nan.cancel(nan) // not started: its back-off stands
		}
	}
}

// nanRefreshes stands in for the flights and the back-off of background
// refreshes for keys that hold a NaN, which no map keyed by K finds again
// (see selfEqual): it knows them by their encoding in the store, which
// serves their values. Without it, every read of such a key's due entry
// started one more refresh, while one ran and after one failed
// (TestNaNKeyRefreshOncePerKey).
type nanRefreshes struct {
	mu      sync.Mutex
	running map[string]bool // at most MaxBackgroundRefreshes
	fails   *backoff[string]
}

// start reports whether a refresh of the key encoded as key may start
// at now: none is running, and its last did not fail too recently.
func (n *nanRefreshes) start(key string, now int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running[key] || n.fails.blocked(key, now) {
		return false
	}
	n.running[key] = true
	return true
}

// cancel forgets key's refresh, which did not start.
func (n *nanRefreshes) cancel(key string) {
	n.mu.Lock()
	delete(n.running, key)
	n.mu.Unlock()
}

// end ends key's refresh: failed at failedAt, if not 0.
func (n *nanRefreshes) end(key string, failedAt int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.running, key)
	if failedAt != 0 {
		n.fails.fail(key, failedAt)
	} else {
		n.fails.ok(key)
	}
}

// backOff is runBackground, recording its outcome in the back-off
// before lead ends the flight: once the flight is over, a call of the due
// entry may start the next refresh, which must find the failure recorded
// (TestFailedRefreshBacksOffBeforeItEnds). A refresh that panics, or
// finds another process refreshing k (errRefreshedElsewhere: asked again
// after the back-off, by when the other process has stored its result,
// which this one takes), fails too.
func (f *Func[K, V]) backOff(ctx context.Context, k K, fl *flight[V]) (v V, err error) {
	ok := false
	defer func() {
		if !selfEqual(k) {
			failedAt := int64(0)
			if !ok {
				failedAt = f.now()
			}
			f.nan.end(string(f.keys(nil, k)), failedAt)
			return
		}
		// A refresh superseded (Refresh, Set) or detached (Forget,
		// Clear) was about a value that is gone: what it records would
		// hold back, or release, the refreshes of the value that
		// replaced it (TestSupersededRefreshRecordsNoBackoff).
		fl.keep(func() {
			if ok {
				f.failures.ok(k)
			} else {
				f.failures.fail(k, f.now())
			}
		})
	}()
	v, err = f.runBackground(ctx, k, fl)
	ok = err == nil
	return v, err
}

// errRefreshedElsewhere is a background refresh's outcome when another
// process sharing the store holds the key's claim: it is computing or
// refreshing the key, and this process leaves it to it.
var errRefreshedElsewhere = errors.New("memo: another process is refreshing the key")

// runBackground is a background refresh's computation: runRefresh, once
// across the processes sharing the store. If another process holds k's
// claim (see store.Namespace.TryClaim), this one does not run fn; once it
// has the claim, a fresh value that another process stored meanwhile is
// taken instead of running fn.
func (f *Func[K, V]) runBackground(ctx context.Context, k K, fl *flight[V]) (V, error) {
	if f.ns == nil || !f.ns.Shared() {
		return f.runRefresh(ctx, k, fl)
	}
	key := f.keys(nil, k)
	release, ok := f.ns.TryClaim(ctx, key)
	if !ok {
		var zero V
		return zero, errRefreshedElsewhere
	}
	defer release()
	if e, found := f.lookup(ctx, k, key); found && f.classify(e.t, f.now()) == stateFresh {
		if f.mem != nil {
			fl.keep(func() { f.mem.add(k, e.val, e.t, e.size) })
		}
		return e.val, nil
	}
	return f.runRefresh(ctx, k, fl)
}

// MaxBackgroundRefreshes bounds the background refreshes that run at once
// for one Func. A refresh that would exceed it is not started: the entry
// is served as it is, and a later call starts its refresh.
const MaxBackgroundRefreshes = 16

// group runs a Func's background refreshes, at most
// MaxBackgroundRefreshes at once; Close cancels them and waits.
type group struct {
	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running int
	closed  bool
}

// run runs fn on a goroutine of the group, unless the group is closed or
// full.
func (g *group) run(fn func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.running >= MaxBackgroundRefreshes {
		return false
	}
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
	g.running++
	g.wg.Go(func() {
		defer func() {
			g.mu.Lock()
			g.running--
			g.mu.Unlock()
		}()
		fn(g.ctx)
	})
	return true
}

// close cancels the group's goroutines and waits for them.
func (g *group) close() {
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// backoff remembers the keys whose background refresh failed, so that the
// next is tried after a growing delay (1 s, doubling, at most
// maxRefreshBackoff) and not on every read. It is golang-lru's LRU,
// bounded as the error cache is.
type backoff[K comparable] struct{ c *lru.Cache[K, failure] }

type failure struct {
	n     int
	until int64 // Unix nanoseconds
}

const maxRefreshBackoff = 5 * time.Minute

func newBackoff[K comparable](maxSize int) *backoff[K] {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	c, err := lru.New[K, failure](maxSize)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &backoff[K]{c}
}

func (b *backoff[K]) blocked(k K, now int64) bool {
	fl, ok := b.c.Peek(k)
	return ok && now < fl.until
}

func (b *backoff[K]) fail(k K, now int64) {
	if !selfEqual(k) {
		return // see selfEqual
	}
	fl, _ := b.c.Peek(k)
	fl.n++
	d := min(time.Second<<min(fl.n-1, 20), maxRefreshBackoff)
	fl.until = now + int64(d)
	b.c.Add(k, fl)
}

func (b *backoff[K]) ok(k K) { b.c.Remove(k) }

// Close stops the Func's background refreshes (see RefreshAfter and
// StaleWhileRevalidate): it cancels those running, waits for them and
// starts no more; Calls go on working, refreshing only when they must.
// Store.Close closes the Funcs of its namespaces. It is safe to call more
// than once and always returns nil.
func (f *Func[K, V]) Close() error {
	f.bg.close()
	return nil
}
