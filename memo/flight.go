package memo

import (
	"fmt"
	"sync"
)

// flights makes sure that one computation per key is in flight; later
// callers wait for its result. It also orders computations against the
// invalidations (Forget, Clear) that must win against them.
//
// It is written here rather than taken from golang.org/x/sync/singleflight
// for reasons of correctness. DoChan runs fn on a new goroutine and, if fn
// panics, re-panics on yet another goroutine, which crashes the process
// instead of reaching the caller. Do cannot be abandoned when a waiter's
// context ends. Neither lets waiters start over when the computation
// failed only because its own caller's context ended, so one caller's
// cancellation would fail every other caller of the key. And neither lets
// a Forget detach a computation already running, so that the next caller
// starts a fresh one and the old one's result is not kept.
//
// Here the first caller (the leader) runs fn on its own goroutine, so a
// panic unwinds the leader's own stack; each waiter selects on the flight
// and its own context, and re-panics with the leader's value or retries as
// the flight's outcome says.
//
// # Invalidation
//
// A flight's result is kept (in the memory tier and the store) by its
// leader in keep, under the flight's mu, and only if the flight is not
// stale. An invalidation of key k (forget) removes k's flight from the
// map, so that later callers start a new one, and marks it stale under its
// mu: a keep already in progress finishes first, and its write is then
// ordered before the invalidation's own delete; a keep that comes later
// sees stale and keeps nothing. Until the invalidation's done is called
// (after its delete is visible in the store), flights that begin for k are
// stale from birth: they may read the old value from the store, and must
// not put it back. clear does the same for every key. The state is per
// key, so a Forget never discards another key's result.
type flights[K comparable, V any] struct {
	mu       sync.Mutex
	m        map[K]*flight[V]
	forgets  map[K]int // invalidations of a key in progress
	clearing int       // invalidations of every key in progress
}

// A flight is one computation in progress. Its outcome fields are written
// by the leader before done is closed and only read after.
type flight[V any] struct {
	done      chan struct{}
	val       V
	err       error
	panicked  bool
	panicVal  *PanicError
	abandoned bool // the leader gave up (its context ended, or Goexit): retry

	// during is set when the flight begins while an invalidation of its
	// key is under way: it keeps nothing (stale), and it is detached when
	// the invalidation ends, as forget detaches the flights that began
	// before. A Call made after Forget or Clear returned joined it, and
	// got what its leader read from the store before the deletion
	// (TestCallAfterForgetDoesNotJoinOlderLookup). Written under the
	// flights' lock, before the flight is in the map.
	during bool

	fellBack    bool // fn failed and the leader returned a stale value (StaleIfError)
	servedStale bool // the leader returned a stale value (StaleWhileRevalidate)
	refresh     bool // led by Refresh or a background refresh; later calls join it, and a Refresh joins only a Refresh
	background  bool // a background refresh: a failure is not the waiters'

	mu    sync.Mutex // held while the leader keeps its result
	stale bool       // guarded by mu: an invalidation came; keep nothing
	// prev, guarded by mu, is the flight this one superseded (Set,
	// Refresh), until that one's invalidation is over: an invalidation of
	// this one invalidates it too, and waits for its keep. Without it, a
	// third Set that superseded this one before this one's invalidation of
	// the first was over could keep while the first still kept.
	prev *flight[V]
}

// selfEqual reports whether k == k: false for a key holding a NaN, which
// no map can find again or delete. Such a key is kept in no map of a Func
// (the memory tier, the flights, the cached errors, the refresh back-off):
// each kept, it would stay for good, past every bound. Its Calls share no
// computation and never hit memory; the store, which compares encodings,
// still finds it, and its value is refreshed when due, one background
// refresh at a time (see nanRefreshes), which no call shares.
func selfEqual[K comparable](k K) bool { return k == k }

// join returns the flight for k and whether the caller leads it.
func (g *flights[K, V]) join(k K) (*flight[V], bool) {
	if !selfEqual(k) {
		return &flight[V]{done: make(chan struct{})}, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[k]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{})}
	f.stale = g.clearing > 0 || g.forgets[k] > 0
	f.during = f.stale
	g.m[k] = f
	return f, true
}

// refresh returns a refresh flight for k, and whether the caller leads
// it: the Refresh in progress, or a new one that supersedes k's flight in
// progress, which keeps nothing (see forget). A background refresh is
// superseded too: it began before the caller's Refresh, and its fn may
// have read what the caller refreshes to be rid of
// (TestRefreshSupersedesBackgroundRefresh).
func (g *flights[K, V]) refresh(k K) (*flight[V], bool) {
	if !selfEqual(k) {
		return &flight[V]{done: make(chan struct{}), refresh: true}, true
	}
	g.mu.Lock()
	old := g.m[k]
	if old != nil && old.refresh && !old.background {
		g.mu.Unlock()
		return old, false
	}
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{}), refresh: true, prev: old}
	f.stale = g.clearing > 0 || g.forgets[k] > 0
	f.during = f.stale
	g.m[k] = f
	g.mu.Unlock()
	if old != nil {
		old.invalidate()
		f.letGo(old)
	}
	return f, true
}

// set returns a flight for Set's write of k, which supersedes k's flight
// in progress, if any (that one keeps nothing, after any keep of it in
// progress). Calls that come meanwhile wait for it; a later Set, Forget,
// Clear or Refresh supersedes it in turn, so that of two Sets the one
// that keeps last is the one whose value both tiers hold.
func (g *flights[K, V]) set(k K) *flight[V] {
	if !selfEqual(k) {
		return &flight[V]{done: make(chan struct{})}
	}
	g.mu.Lock()
	old := g.m[k]
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{}), prev: old}
	f.stale = g.clearing > 0 || g.forgets[k] > 0
	f.during = f.stale
	g.m[k] = f
	g.mu.Unlock()
	if old != nil {
		old.invalidate()
		f.letGo(old)
	}
	return f
}

// startRefresh starts a background refresh flight for k and reports true,
// unless a computation of k other than self is in flight. self, if not
// nil, is the flight of the caller, which has kept its result: the
// refresh takes its place in the map, so that calls that come later wait
// for the refresh.
func (g *flights[K, V]) startRefresh(k K, self *flight[V]) (*flight[V], bool) {
	if !selfEqual(k) {
		// In no map, as every flight of such a key: the store serves
		// its value, which comes due; nanRefreshes runs one refresh of
		// it at a time.
		return &flight[V]{done: make(chan struct{}), refresh: true, background: true}, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.m[k]; old != nil && old != self {
		return nil, false
	}
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{}), refresh: true, background: true}
	f.stale = g.clearing > 0 || g.forgets[k] > 0
	f.during = f.stale
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

// forget starts an invalidation of k: k's flight, if any, is detached and
// will keep nothing, and so will the flights that begin before done is
// called. It returns once no keep of k is in progress.
func (g *flights[K, V]) forget(k K) (done func()) {
	if !selfEqual(k) {
		return func() {}
	}
	g.mu.Lock()
	f := g.m[k]
	delete(g.m, k)
	if g.forgets == nil {
		g.forgets = map[K]int{}
	}
	g.forgets[k]++
	g.mu.Unlock()
	if f != nil {
		f.invalidate()
	}
	return func() {
		g.mu.Lock()
		if g.forgets[k]--; g.forgets[k] == 0 {
			delete(g.forgets, k)
		}
		if f := g.m[k]; f != nil && f.during {
			delete(g.m, k) // see during
		}
		g.mu.Unlock()
	}
}

// clear is forget for every key.
func (g *flights[K, V]) clear() (done func()) {
	g.mu.Lock()
	detached := make([]*flight[V], 0, len(g.m))
	for _, f := range g.m {
		detached = append(detached, f)
	}
	clear(g.m)
	g.clearing++
	g.mu.Unlock()
	for _, f := range detached {
		f.invalidate()
	}
	return func() {
		g.mu.Lock()
		g.clearing--
		for k, f := range g.m {
			if f.during {
				delete(g.m, k) // see during
			}
		}
		g.mu.Unlock()
	}
}

// invalidate marks f stale, after any keep in progress, and then the
// flight it superseded, if that one's invalidation may not be over (see
// prev). prev is let go only once that returns: a second invalidation of
// f that comes meanwhile waits for it too.
func (f *flight[V]) invalidate() {
	f.mu.Lock()
	f.stale = true
	prev := f.prev
	f.mu.Unlock()
	if prev != nil {
		prev.invalidate()
		f.letGo(prev)
	}
}

// letGo forgets prev, whose invalidation is over.
func (f *flight[V]) letGo(prev *flight[V]) {
	f.mu.Lock()
	if f.prev == prev {
		f.prev = nil
	}
	f.mu.Unlock()
}

// keep runs store unless f is stale, ordered against invalidations (see
// flights). store must not invalidate.
func (f *flight[V]) keep(store func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stale {
		store()
	}
}

// A PanicError is what a Call re-panics with when it shared a computation
// whose fn panicked in another goroutine (the caller whose goroutine ran
// fn re-panics with fn's own value). Stack is that goroutine's stack when
// fn panicked, so that a crash report points at fn rather than at the
// waiting caller, as in golang.org/x/sync/singleflight.
type PanicError struct {
	Value any    // what fn panicked with
	Stack []byte // the stack of the goroutine where fn panicked
}

// Error formats the panic value and the stack.
func (p *PanicError) Error() string {
	return fmt.Sprintf("memo: fn panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value if it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}
