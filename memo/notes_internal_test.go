package memo

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/memostore/memostore/store"
)

// TestNoteSteps checks when a tier tells the store of an entry's hits: at
// its 1st, 2nd, 4th, ... 64th hit and every 64th after that, each note
// with the hits since the last one; the LRU tier's fast path serves an
// entry from its 64th hit on, and its hits are noted when the front
// changes or the store settles them.
func TestNoteSteps(t *testing.T) {
	want := []int{1, 1, 2, 4, 8, 16, 32, 64, 64, 64} // notes up to hit 256
	now := func() int64 { return 0 }

	t.Run("LRU slow path", func(t *testing.T) {
		m, got := notedTier()
		m.add(1, 1, stamp{}, 0)
		m.add(2, 2, stamp{}, 0)
		for range 300 { // 1 and 2 in turn: every hit takes the mutex
			m.get(1, now)
			m.get(2, now)
		}
		if !slices.Equal(*got, want) {
			t.Errorf("notes of key 1: %v, want %v", *got, want)
		}
	})

	t.Run("LRU fast path", func(t *testing.T) {
		m, got := notedTier()
		m.add(1, 1, stamp{}, 0)
		for range 300 { // the front: no mutex from its 64th hit on
			m.get(1, now)
		}
		young := want[:7] // its first 64 hits, on the slow path
		if !slices.Equal(*got, young) {
			t.Errorf("notes of the front's first 300 hits: %v, want %v", *got, young)
		}
		m.settle() // as the store does every second
		if w := slices.Concat(young, []int{236}); !slices.Equal(*got, w) {
			t.Errorf("notes once the store settled: %v, want %v", *got, w)
		}
		for range 100 {
			m.get(1, now)
		}
		m.add(2, 2, stamp{}, 0)
		if w := slices.Concat(young, []int{236, 100}); !slices.Equal(*got, w) {
			t.Errorf("notes once the front changed: %v, want %v", *got, w)
		}
	})

	t.Run("WTinyLFU", func(t *testing.T) {
		m := newTinyTier[int, int](10, 0)
		var got []int
		m.setNote(func(k, hits int) { got = append(got, hits) })
		m.add(1, 1, stamp{}, 0)
		for range 300 {
			m.get(1, now)
		}
		if !slices.Equal(got, want) {
			t.Errorf("notes: %v, want %v", got, want)
		}
	})

	t.Run("no store", func(t *testing.T) {
		m := newMemTier[int, int](10, 0)
		m.add(1, 1, stamp{}, 0)
		m.add(2, 2, stamp{}, 0)
		for range 100 {
			m.get(1, now)
			m.get(2, now)
		}
		if len(m.pending) != 0 {
			t.Errorf("%d notes pending in a tier without a store", len(m.pending))
		}
	})
}

// notedTier returns an LRU tier of 10 entries and the notes it makes of
// key 1's hits.
func notedTier() (*memTier[int, int], *[]int) {
	m := newMemTier[int, int](10, 0)
	var got []int
	m.setNote(func(k, hits int) {
		if k == 1 {
			got = append(got, hits)
		}
	})
	return m, &got
}

// TestNotesOnlyWhereHeard: a Func notes its memory hits only to a store
// whose eviction weighs them (a file with WithMaxBytes): on any other,
// the notes would be work for nothing, and the LRU tier's fast path would
// wait for each entry's 64th hit for nothing.
func TestNotesOnlyWhereHeard(t *testing.T) {
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	for _, c := range []struct {
		name  string
		opts  []store.Option
		heard bool
	}{
		{"unbounded file", nil, false},
		{"bounded file", []store.Option{store.WithMaxBytes(1 << 20)}, true},
		// One process only: the namespace is the file's own, not shared.
		{"unbounded file, exclusive", []store.Option{store.WithExclusive()}, false},
		{"bounded file, exclusive", []store.Option{store.WithExclusive(), store.WithMaxBytes(1 << 20)}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := store.Open(filepath.Join(t.TempDir(), "n.db"), append(c.opts, store.WithLogger(nil))...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			f, err := New(s, "f", fn)
			if err != nil {
				t.Fatal(err)
			}
			f.lru.mu.Lock()
			noted := f.lru.note != nil
			f.lru.mu.Unlock()
			if noted != c.heard {
				t.Errorf("the memory tier notes its hits: %v, want %v", noted, c.heard)
			}
		})
	}
}
