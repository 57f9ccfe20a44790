package memo_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// slowByKey takes k × 100 ms to return k.
func slowByKey(_ context.Context, k int) (int, error) {
	time.Sleep(time.Duration(k) * 100 * time.Millisecond)
	return k, nil
}

// TestSavedCountsWhatHitsSaved: each hit adds how long fn took for the
// value it returns, from the memory tier and from the store; a call that
// waited for another's computation adds nothing; the store's counters
// agree with Info.
func TestSavedCountsWhatHitsSaved(t *testing.T) {
	inBubble(t, func(t *testing.T, s *store.Store, opts []memo.Option) {
		f, err := memo.New(s, "slow", slowByKey, opts...)
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1) // miss
		mustCall(t, f, 1) // hit: 100 ms saved
		mustCall(t, f, 2) // miss
		mustCall(t, f, 2) // hit: 200 ms
		mustCall(t, f, 2) // hit: 200 ms
		if got := f.Info().Saved; got != 500*time.Millisecond {
			t.Fatalf("Saved = %v, want 500ms", got)
		}
		// Two calls of a new key at once: one computes, one waits.
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { mustCall(t, f, 3) })
		}
		wg.Wait()
		if i := f.Info(); i.Saved != 500*time.Millisecond || i.Hits != 4 {
			t.Fatalf("after a shared computation: %+v, want Saved 500ms and 4 hits", i)
		}
		if s == nil {
			return
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ns := s.Stats().Namespaces[0]; ns.Saved != 500*time.Millisecond {
			t.Errorf("store's Saved = %v, want 500ms", ns.Saved)
		}
	})
}

// TestSavedSurvivesRestart: the time fn took is stored with its value, so
// a hit in a later process, from the file and then from the memory tier
// it filled, counts it.
func TestSavedSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		open := func() *store.Store { return bubbleStoreAt(t, path) }
		s := open()
		f, err := memo.New(s, "slow", slowByKey)
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 3) // 300 ms
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open()
		defer s.Close()
		f, err = memo.New(s, "slow", slowByKey)
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 3) // from the file
		mustCall(t, f, 3) // from memory
		if i := f.Info(); i.Misses != 0 || i.DiskHits != 1 || i.Saved != 600*time.Millisecond {
			t.Fatalf("Info after restart = %+v, want no miss, 1 disk hit, Saved 600ms", i)
		}
	})
}
