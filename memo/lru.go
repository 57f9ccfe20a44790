package memo

import (
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// memTier is the memory tier: a typed LRU of decoded values, so that a hit
// neither encodes nor decodes nor allocates.
type memTier[K comparable, V any] struct {
	mu  sync.Mutex
	lru *simplelru.LRU[K, entry[V]]
}

// entry is a value with its expires-at (Unix nanoseconds; 0 = never).
type entry[V any] struct {
	val V
	exp int64
}

// newMemTier returns a tier bounded to size entries; size < 0 means
// unbounded.
func newMemTier[K comparable, V any](size int) *memTier[K, V] {
	if size < 0 {
		size = math.MaxInt
	}
	lru, err := simplelru.NewLRU[K, entry[V]](size, nil)
	if err != nil {
		panic(err) // size > 0 here: NewLRU fails only for size <= 0
	}
	return &memTier[K, V]{lru: lru}
}

// get returns k's value if it is present and, when it has an expiry, not
// expired at now(). The clock is read only for entries that can expire.
func (m *memTier[K, V]) get(k K, now func() int64) (V, bool) {
	m.mu.Lock()
	e, ok := m.lru.Get(k)
	if ok && e.exp != 0 && now() >= e.exp {
		m.lru.Remove(k)
		ok = false
	}
	m.mu.Unlock()
	return e.val, ok
}

func (m *memTier[K, V]) add(k K, v V, exp int64) {
	m.mu.Lock()
	m.lru.Add(k, entry[V]{val: v, exp: exp})
	m.mu.Unlock()
}

func (m *memTier[K, V]) remove(k K) {
	m.mu.Lock()
	m.lru.Remove(k)
	m.mu.Unlock()
}

func (m *memTier[K, V]) purge() {
	m.mu.Lock()
	m.lru.Purge()
	m.mu.Unlock()
}

func (m *memTier[K, V]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
