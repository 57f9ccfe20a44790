package memo

import (
	"slices"
	"testing"
)

// TestNoteSteps checks when a tier tells the store of an entry's hits: at
// its 1st, 2nd, 4th, ... 64th hit and every 64th after that, each note
// with the hits since the last one, whichever path served them.
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
		for range 300 { // the front: no mutex, counted when the front changes
			m.get(1, now)
		}
		if len(*got) != 0 {
			t.Errorf("notes %v before the front changed", *got)
		}
		m.add(2, 2, stamp{}, 0)
		if !slices.Equal(*got, []int{300}) {
			t.Errorf("notes of key 1 once the front changed: %v, want [300]", *got)
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
