package memo

import (
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
// hit on it (which would not change the LRU order) is one atomic load and
// a key comparison; any other hit takes the mutex and moves its entry to
// the front. The order stays exactly LRU, as functools.lru_cache's, which
// memo's tests check against CPython.
type memTier[K comparable, V any] struct {
	mu    sync.Mutex
	items map[K]*node[K, V]
	root  node[K, V] // sentinel of the ring: root.next is the newest, root.prev the oldest
	max   int        // bound in entries; < 0 means unbounded
	front atomic.Pointer[node[K, V]]

	// Hits are counted here, where each path is cheapest: a hit on the
	// newest entry in xsync's striped counter, whose stripes stay with
	// their CPU (one atomic counter made every parallel hit fight over one
	// cache line: 37 ns against golang-lru's 30 ns in bench/), and any
	// other hit in a plain count under the mutex it holds anyway.
	fastHits *xsync.Counter
	slowHits int64 // guarded by mu
}

// A node is one entry. key, val and exp never change once the node is
// published; a new value for a key gets a new node.
type node[K comparable, V any] struct {
	key        K
	val        V
	exp        int64 // Unix nanoseconds; 0 = never
	prev, next *node[K, V]
}

// newMemTier returns a tier bounded to max entries; max < 0 is unbounded.
func newMemTier[K comparable, V any](max int) *memTier[K, V] {
	m := &memTier[K, V]{items: map[K]*node[K, V]{}, max: max, fastHits: xsync.NewCounter()}
	m.root.next, m.root.prev = &m.root, &m.root
	return m
}

// get returns k's value if it is present and, when it has an expiry, not
// expired at now(), and counts the hit. The clock is read only for entries
// that can expire.
func (m *memTier[K, V]) get(k K, now func() int64) (V, bool) {
	if n := m.front.Load(); n != nil && n.key == k && (n.exp == 0 || now() < n.exp) {
		m.fastHits.Inc()
		return n.val, true
	}
	m.mu.Lock()
	n, ok := m.items[k]
	if ok && n.exp != 0 && now() >= n.exp {
		m.unlink(n)
		ok = false
	}
	if !ok {
		m.mu.Unlock()
		var zero V
		return zero, false
	}
	m.toFront(n)
	m.slowHits++
	m.mu.Unlock()
	return n.val, true
}

// hits returns the hits counted since the tier began.
func (m *memTier[K, V]) hits() int64 {
	m.mu.Lock()
	slow := m.slowHits
	m.mu.Unlock()
	return slow + m.fastHits.Value()
}

// add stores v for k as the newest entry, replacing any value k had, and
// evicts the oldest entry if the tier is full.
func (m *memTier[K, V]) add(k K, v V, exp int64) {
	if m.max == 0 {
		return
	}
	n := &node[K, V]{key: k, val: v, exp: exp}
	m.mu.Lock()
	if old, ok := m.items[k]; ok {
		m.unlink(old)
	} else if m.max > 0 && len(m.items) >= m.max {
		m.unlink(m.root.prev)
	}
	m.items[k] = n
	m.insertFront(n)
	m.mu.Unlock()
}

func (m *memTier[K, V]) remove(k K) {
	m.mu.Lock()
	if n, ok := m.items[k]; ok {
		m.unlink(n)
	}
	m.mu.Unlock()
}

func (m *memTier[K, V]) purge() {
	m.mu.Lock()
	clear(m.items)
	m.root.next, m.root.prev = &m.root, &m.root
	m.front.Store(nil)
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
	m.front.Store(n)
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
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	if m.root.next == &m.root {
		m.front.Store(nil)
	} else {
		m.front.Store(m.root.next)
	}
}

// peek returns k's value if it is present and not expired at now(),
// without counting a hit or changing the LRU order.
func (m *memTier[K, V]) peek(k K, now func() int64) (V, bool) {
	m.mu.Lock()
	n, ok := m.items[k]
	m.mu.Unlock()
	if !ok || n.exp != 0 && now() >= n.exp {
		var zero V
		return zero, false
	}
	return n.val, true
}
