package memo

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/maypok86/otter/v2"
)

// An EvictionPolicy chooses which entries the memory tier evicts when it
// is full (see Policy).
type EvictionPolicy int

const (
	// LRU evicts the least recently used entry, as functools.lru_cache:
	// a memory-only Func gives exactly functools' hits, misses and
	// currsize. It is the default.
	LRU EvictionPolicy = iota
	// WTinyLFU is W-TinyLFU (Caffeine's policy, as otter implements it):
	// a small LRU window in front of a segmented LRU whose admission is
	// decided by a frequency sketch, so that a burst of one-off keys does
	// not flush the keys used often. It keeps more hits than LRU on most
	// workloads (see BENCHMARKS.md); counts differ from functools'.
	WTinyLFU
)

// String returns "LRU" or "WTinyLFU".
func (p EvictionPolicy) String() string {
	switch p {
	case LRU:
		return "LRU"
	case WTinyLFU:
		return "WTinyLFU"
	}
	return fmt.Sprintf("EvictionPolicy(%d)", int(p))
}

// memory is the memory tier, whatever its policy. The LRU (memTier) is
// also called directly on the hot path.
type memory[K comparable, V any] interface {
	get(k K, now func() int64) (V, stamp, lookup)
	peek(k K, now func() int64) (V, bool)
	add(k K, v V, t stamp, size int64)
	remove(k K)
	purge()
	len() int
	bytes() int64
	hits() int64
	saved() int64
	// setNote makes the tier tell note of the hits it serves, now and
	// then (see memTier.note and tinyTier.note).
	setNote(note func(k K, hits int))
	// usedDue counts a use of k's entry that get returned as due and the
	// Func served: get does not count it, as the Func may refuse it (an
	// entry past its TTL, kept for StaleIfError). While k's refreshes
	// fail, the store must still hear that k is hot (TestDueHitsAreNoted,
	// TestRefusedDueEntryNotedOnce).
	usedDue(k K)
}

var (
	_ memory[int, int] = (*memTier[int, int])(nil)
	_ memory[int, int] = (*tinyTier[int, int])(nil)
)

// tinyTier is the memory tier under WTinyLFU: otter's cache, taken rather
// than written because its W-TinyLFU is the reference the benchmarks
// measure against. Its maintenance runs on the calling goroutine (a
// synchronous Executor, and no expiry in otter: stamps are checked here),
// so that it starts no goroutine a Func would have to own.
type tinyTier[K comparable, V any] struct {
	c      *otter.Cache[K, tinyEntry[V]]
	hitN   atomic.Int64
	savedN atomic.Int64 // nanoseconds of computation the hits saved

	// note, if set, is told of an entry's hits as memTier's is (see
	// memTier.note and noteStep), counted in the entry (otter keeps no
	// count of an entry's hits). Set before the tier is used.
	note func(k K, hits int)
}

func (m *tinyTier[K, V]) setNote(note func(k K, hits int)) { m.note = note }

type tinyEntry[V any] struct {
	val  V
	t    stamp
	size int64
	uses *atomic.Int64 // the entry's hits, if the tier has a note; else nil
}

// newTinyTier returns a tier bounded to max entries or, if maxBytes > 0,
// to maxBytes bytes of encoded values (otter takes one bound or the
// other; New refuses both).
func newTinyTier[K comparable, V any](max int, maxBytes int64) *tinyTier[K, V] {
	o := &otter.Options[K, tinyEntry[V]]{Executor: func(fn func()) { fn() }}
	switch {
	case maxBytes > 0:
		o.MaximumWeight = uint64(maxBytes)
		o.Weigher = func(_ K, e tinyEntry[V]) uint32 { return uint32(min(e.size, math.MaxUint32)) }
	case max > 0:
		o.MaximumSize = max
	}
	return &tinyTier[K, V]{c: otter.Must(o)}
}

func (m *tinyTier[K, V]) get(k K, now func() int64) (V, stamp, lookup) {
	e, ok := m.c.GetIfPresent(k)
	if !ok {
		return e.val, stamp{}, absent
	}
	if e.t.due != 0 {
		t := now()
		if e.t.end != 0 && t >= e.t.end {
			// Dropped only if what the key holds now is past its end
			// too: a newer entry stored since the read (Set, another
			// Call's result) stays. Invalidate dropped it.
			m.c.ComputeIfPresent(k, func(cur tinyEntry[V]) (tinyEntry[V], otter.ComputeOp) {
				if cur.t.end != 0 && t >= cur.t.end {
					return cur, otter.InvalidateOp
				}
				return cur, otter.CancelOp
			})
			var zero V
			return zero, stamp{}, absent
		}
		if t >= e.t.due {
			return e.val, e.t, due
		}
	}
	m.hitN.Add(1)
	m.used(k, e)
	if e.t.cost != 0 {
		m.savedN.Add(e.t.cost)
	}
	return e.val, e.t, fresh
}

func (m *tinyTier[K, V]) usedDue(k K) {
	if e, ok := m.c.GetEntryQuietly(k); ok {
		m.used(k, e.Value)
	}
}

// used counts a use of e, k's entry, and notes its key's uses to the
// store when a note is due (see memTier.used).
func (m *tinyTier[K, V]) used(k K, e tinyEntry[V]) {
	if e.uses != nil {
		if u := e.uses.Add(1); noteStep(u) != noteStep(u-1) {
			m.note(k, int(u-lastNote(u-1)))
		}
	}
}

func (m *tinyTier[K, V]) peek(k K, now func() int64) (V, bool) {
	e, ok := m.c.GetEntryQuietly(k)
	if !ok || e.Value.t.exp != 0 && now() >= e.Value.t.exp {
		var zero V
		return zero, false
	}
	return e.Value.val, true
}

func (m *tinyTier[K, V]) add(k K, v V, t stamp, size int64) {
	if !selfEqual(k) {
		return // see selfEqual
	}
	e := tinyEntry[V]{val: v, t: t, size: size}
	if m.note != nil {
		e.uses = new(atomic.Int64)
	}
	m.c.Set(k, e)
}

func (m *tinyTier[K, V]) remove(k K)   { m.c.Invalidate(k) }
func (m *tinyTier[K, V]) purge()       { m.c.InvalidateAll() }
func (m *tinyTier[K, V]) len() int     { return m.c.EstimatedSize() }
func (m *tinyTier[K, V]) hits() int64  { return m.hitN.Load() }
func (m *tinyTier[K, V]) saved() int64 { return m.savedN.Load() }
func (m *tinyTier[K, V]) bytes() int64 {
	if m.c.IsWeighted() {
		return int64(m.c.WeightedSize())
	}
	return 0
}
