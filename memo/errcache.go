package memo

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// errCache holds fn's errors for ErrorTTL. It is golang-lru's LRU, bounded
// to MaxSize entries (DefaultMaxSize when the memory tier is off or
// unbounded), so that failing keys cannot grow it without end; expiry is
// checked on read, with no goroutine.
type errCache[K comparable] struct {
	ttl time.Duration
	c   *lru.Cache[K, errEntry]
}

type errEntry struct {
	err error
	exp int64 // Unix nanoseconds
}

func newErrCache[K comparable](maxSize int, ttl time.Duration) *errCache[K] {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	c, err := lru.New[K, errEntry](maxSize)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &errCache[K]{ttl: ttl, c: c}
}

// get returns k's cached error if it has not expired at now.
func (e *errCache[K]) get(k K, now int64) (error, bool) {
	ent, ok := e.c.Get(k)
	if !ok {
		return nil, false
	}
	if now >= ent.exp {
		e.c.Remove(k)
		return nil, false
	}
	return ent.err, true
}

// add caches err for k, returned at now.
func (e *errCache[K]) add(k K, err error, now int64) {
	if !selfEqual(k) {
		return // see selfEqual
	}
	e.c.Add(k, errEntry{err: err, exp: satAdd(now, int64(e.ttl))}) // a huge ErrorTTL is forever, not the past
}

func (e *errCache[K]) remove(k K) { e.c.Remove(k) }

func (e *errCache[K]) purge() { e.c.Purge() }
