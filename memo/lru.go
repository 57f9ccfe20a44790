package memo

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"
)

// memTier is the memory tier: a typed LRU of decoded values, so that a hit
// neither encodes nor decodes nor allocates.
//
// It is written here rather than taken from hashicorp/golang-lru because a
// benchmark says the hot path must not take a lock: under RunParallel on
// one hot key, golang-lru's Get (a mutex around a list move) and an
// RWMutex both make every core fight over one cache line. Here the most
// recently used entry is also published through an atomic pointer, and a
// hit on it (which would not change the LRU order) is two atomic loads
// (the pointer, and the entry's fast flag: see node.fast) and a key
// comparison; any other hit takes the mutex and moves its entry to the
// front. The order stays exactly LRU, as functools.lru_cache's, which
// memo's tests check against CPython.
type memTier[K comparable, V any] struct {
	mu    sync.Mutex
	items map[K]*node[K, V]
	root  node[K, V] // sentinel of the ring: root.next is the newest, root.prev the oldest
	max   int        // bound in entries; < 0 means unbounded
	maxB  int64      // bound in bytes of encoded values; 0 means none
	size  int64      // bytes of encoded values held; guarded by mu
	front atomic.Pointer[node[K, V]]

	// Hits are counted here, where each path is cheapest: a hit on the
	// newest entry in xsync's striped counter, whose stripes stay with
	// their CPU (one atomic counter made every parallel hit fight over one
	// cache line: 37 ns against golang-lru's 30 ns in bench/), and any
	// other hit in a plain count under the mutex it holds anyway.
	fastHits *xsync.Counter
	slowHits int64 // guarded by mu

	// The computation time the hits saved (Info.Saved), in nanoseconds.
	// The fast path counts no time: it only ever serves the front entry,
	// so its hits' time is settled when the front changes (see setFront)
	// or the store asks (settle), as the fast hits since the last settling
	// times the front's cost.
	// (A second striped counter on the fast path took the hit from 32 to
	// 56 ns, BenchmarkMemoryHit.) A fast hit racing with a change of the
	// front may be settled at the new front's cost.
	slowSaved int64 // guarded by mu
	frontHits int64 // fastHits when the front was last settled; guarded by mu

	// note, if set, tells the store behind the tier of its entries' hits
	// (store.Namespace.NoteUse), whose eviction would otherwise never
	// hear of them: at an entry's 1st, 2nd, 4th, ... 64th hit and every
	// 64th after that (see noteStep), with the hits since its last note.
	// They are counted in the node under the mutex the slow path holds
	// anyway. The fast path serves an entry only once its 64th hit is
	// noted (see node.fast), so that the notes of a young entry are never
	// missed; its later fast hits are added to its count when the front
	// changes, and when the store asks (settle: the store's writer does,
	// every second), as an entry that stays at the front never hands the
	// front over. Notes due wait in pending (at most
	// maxPending; more are dropped) and are made after the mutex is
	// released, by get, add and settle. A Func whose store does not evict
	// by use (store.Namespace.HearsUse: Redis, a file without
	// WithMaxBytes) sets no note, and its fast path serves every entry
	// from the start. A slow-path hit in front of a bounded
	// file took 54 ns before the notes and 59 ns with them, within the
	// noise (BenchmarkMemoryHitStored, benchstat of 8 runs, p = 0.33).
	note    func(k K, hits int)
	pending []pendingNote[K] // guarded by mu
}

// A pendingNote is a note due to the store: hits of key.
type pendingNote[K comparable] struct {
	key  K
	hits int
}

// maxPending bounds the notes one locked section of the tier leaves to
// make: a get or an add changes the front at most twice.
const maxPending = 4

// noteStep numbers the notes an entry hit uses times is due: one at each
// power of two up to 64, then one every 64 hits, so that an entry's notes
// are a few while it is young and about 1 in 64 of its hits after that.
func noteStep(uses int64) int64 {
	if uses < 64 {
		return int64(bits.Len64(uint64(uses)))
	}
	return 6 + uses/64
}

// lastNote is the hits at which the last note of an entry hit uses times
// was due, counting one at a time (0: none was).
func lastNote(uses int64) int64 {
	switch {
	case uses <= 0:
		return 0
	case uses < 64:
		return 1 << (bits.Len64(uint64(uses)) - 1)
	}
	return uses / 64 * 64
}

// A node is one entry. key, val and t never change once the node is
// published; a new value for a key gets a new node.
type node[K comparable, V any] struct {
	key   K
	val   V
	t     stamp
	size  int64 // bytes of the encoded value (counted under MaxBytes)
	uses  int64 // hits, counted only for notes (see memTier.note); guarded by the tier's mu
	noted int64 // uses at the last note; guarded by the tier's mu
	// fast says the fast path may serve the entry: from the start in a
	// tier without notes, else from its 64th hit on, once the notes of
	// its 1st to 64th hits are made (see memTier.note).
	fast       atomic.Bool
	prev, next *node[K, V]
}

// A stamp is an entry's times, in Unix nanoseconds; 0 means never, and
// what computing it cost.
type stamp struct {
	exp  int64 // fresh until then (the TTL)
	due  int64 // from then on a hit needs a look: the first of exp and the refresh time
	end  int64 // unusable from then: exp plus the grace of StaleWhileRevalidate and StaleIfError
	cost int64 // nanoseconds fn took to compute the value (0 if unknown): what a hit saves
}

// A lookup is what the memory tier has for a key.
type lookup uint8

const (
	absent lookup = iota // nothing usable
	fresh                // a fresh value, counted as a hit by the tier
	due                  // a value past its due time, before its end: the caller decides (and counts)
)

// newMemTier returns a tier bounded to max entries (max < 0 is unbounded)
// and maxBytes bytes of encoded values (0 is unbounded).
func newMemTier[K comparable, V any](max int, maxBytes int64) *memTier[K, V] {
	m := &memTier[K, V]{items: map[K]*node[K, V]{}, max: max, maxB: maxBytes,
		fastHits: xsync.NewCounter()}
	m.root.next, m.root.prev = &m.root, &m.root
	return m
}

// get returns what the tier has for k at now(): a fresh value (counted as
// a hit), a value past its due time and its stamp, or nothing (an entry
// past its end is dropped). The clock is read only for entries that have a
// due time.
func (m *memTier[K, V]) get(k K, now func() int64) (V, stamp, lookup) {
	if n := m.front.Load(); n != nil && n.key == k && n.fast.Load() && (n.t.due == 0 || now() < n.t.due) {
		m.fastHits.Inc()
		return n.val, n.t, fresh
	}
	m.mu.Lock()
	n, ok := m.items[k]
	res := fresh
	if ok && n.t.due != 0 {
		switch t := now(); {
		case n.t.end != 0 && t >= n.t.end:
			m.unlink(n)
			ok = false
		case t >= n.t.due:
			res = due
		}
	}
	if !ok {
		m.unlockAndNote()
		var zero V
		return zero, stamp{}, absent
	}
	m.toFront(n)
	if res == fresh {
		m.slowHits++
		m.slowSaved += n.t.cost
		m.used(n, 1)
	}
	m.unlockAndNote()
	return n.val, n.t, res
}

func (m *memTier[K, V]) usedDue(k K) {
	m.mu.Lock()
	if n, ok := m.items[k]; ok {
		m.used(n, 1)
	}
	m.unlockAndNote()
}

// setNote makes the tier tell note of its entries' hits (see memTier.note).
func (m *memTier[K, V]) setNote(note func(k K, hits int)) {
	m.mu.Lock()
	m.note = note
	m.mu.Unlock()
}

// used counts d hits of n, and queues a note of its key if one is due.
// m.mu must be held.
func (m *memTier[K, V]) used(n *node[K, V], d int64) {
	if m.note == nil {
		return
	}
	before := n.uses
	n.uses += d
	if n.uses >= 64 && before < 64 {
		n.fast.Store(true)
	}
	if noteStep(n.uses) != noteStep(before) && len(m.pending) < maxPending {
		m.pending = append(m.pending, pendingNote[K]{n.key, int(n.uses - n.noted)})
		n.noted = n.uses
	}
}

// unlockAndNote releases m.mu and then makes the notes that were due.
// Small enough to inline: a hit with no note due pays for the check only.
func (m *memTier[K, V]) unlockAndNote() {
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return
	}
	m.unlockAndNoteSlow()
}

// unlockAndNoteSlow is unlockAndNote with notes due.
func (m *memTier[K, V]) unlockAndNoteSlow() {
	var notes [maxPending]pendingNote[K]
	n := copy(notes[:], m.pending)
	clear(m.pending)
	m.pending = m.pending[:0]
	note := m.note
	m.mu.Unlock()
	for _, p := range notes[:n] {
		note(p.key, p.hits)
	}
}

// hits returns the hits counted since the tier began.
func (m *memTier[K, V]) hits() int64 {
	m.mu.Lock()
	slow := m.slowHits
	m.mu.Unlock()
	return slow + m.fastHits.Value()
}

// saved returns the computation time, in nanoseconds, that the hits
// counted by hits saved.
func (m *memTier[K, V]) saved() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	saved := m.slowSaved
	if f := m.front.Load(); f != nil {
		saved += (m.fastHits.Value() - m.frontHits) * f.t.cost
	}
	return saved
}

// add stores v, of size bytes encoded, for k as the newest entry,
// replacing any value k had, and evicts the oldest entries while the tier
// is over its bounds. A value larger than the byte bound is not kept.
func (m *memTier[K, V]) add(k K, v V, t stamp, size int64) {
	if m.max == 0 || !selfEqual(k) {
		return
	}
	n := &node[K, V]{key: k, val: v, t: t, size: size}
	m.mu.Lock()
	n.fast.Store(m.note == nil)
	if old, ok := m.items[k]; ok {
		m.unlink(old)
	}
	if m.maxB > 0 && size > m.maxB {
		// Not kept, and no other entry makes room for it.
		m.unlockAndNote()
		return
	}
	if m.max > 0 && len(m.items) >= m.max {
		m.unlink(m.root.prev)
	}
	m.items[k] = n
	m.insertFront(n)
	m.size += size
	for m.maxB > 0 && m.size > m.maxB {
		m.unlink(m.root.prev)
	}
	m.unlockAndNote()
}

// bytes returns the bytes of encoded values held.
func (m *memTier[K, V]) bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

// remove drops k. Notes its removal made due are dropped: remove is
// called by the store (a key another process forgot), which must not be
// called back.
func (m *memTier[K, V]) remove(k K) {
	m.mu.Lock()
	if n, ok := m.items[k]; ok {
		m.unlink(n)
	}
	m.dropNotes()
	m.mu.Unlock()
}

// dropNotes forgets the notes that were due. m.mu must be held.
func (m *memTier[K, V]) dropNotes() {
	clear(m.pending)
	m.pending = m.pending[:0]
}

func (m *memTier[K, V]) purge() {
	m.mu.Lock()
	clear(m.items)
	m.size = 0
	m.root.next, m.root.prev = &m.root, &m.root
	m.setFront(nil)
	m.dropNotes() // as remove's
	m.mu.Unlock()
}

func (m *memTier[K, V]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// The list operations below need m.mu held.

func (m *memTier[K, V]) insertFront(n *node[K, V]) {
	n.prev, n.next = &m.root, m.root.next
	n.prev.next, n.next.prev = n, n
	m.setFront(n)
}

// setFront publishes n as the entry the fast path serves, settling the
// fast hits on the one it replaces (see settleFront).
func (m *memTier[K, V]) setFront(n *node[K, V]) {
	if m.front.Load() == n {
		return
	}
	m.settleFront()
	m.front.Store(n)
}

// settleFront settles the fast hits since the last settling on the front
// entry: the time they saved (see slowSaved) and their count, for its
// notes (see note).
func (m *memTier[K, V]) settleFront() {
	h := m.fastHits.Value()
	if f := m.front.Load(); f != nil && h > m.frontHits {
		m.slowSaved += (h - m.frontHits) * f.t.cost
		m.used(f, h-m.frontHits)
	}
	m.frontHits = h
}

// settle settles the front's fast hits and makes the notes due: the store
// calls it now and then (driver.HitSettler), for an entry that stays at
// the front.
func (m *memTier[K, V]) settle() {
	m.mu.Lock()
	m.settleFront()
	m.unlockAndNote()
}

func (m *memTier[K, V]) toFront(n *node[K, V]) {
	if m.root.next == n {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	m.insertFront(n)
}

func (m *memTier[K, V]) unlink(n *node[K, V]) {
	delete(m.items, n.key)
	m.size -= n.size
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	if m.root.next == &m.root {
		m.setFront(nil)
	} else {
		m.setFront(m.root.next)
	}
}

// peek returns k's value if it is present and fresh at now(), without
// counting a hit or changing the LRU order.
func (m *memTier[K, V]) peek(k K, now func() int64) (V, bool) {
	m.mu.Lock()
	n, ok := m.items[k]
	m.mu.Unlock()
	if !ok || n.t.exp != 0 && now() >= n.t.exp {
		var zero V
		return zero, false
	}
	return n.val, true
}
