package memo

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store"
)

// TestDueHitsAreNoted: the memory tier notes its hits to a file whose
// eviction weighs them (store.Namespace.NoteUse), "or it would evict the
// entries used most as unused". Under RefreshAfter, a hit on an entry past
// its refresh time is answered from the memory tier too (a hit in Info),
// but get returned it as due, uncounted, and serve counted it with
// countHit, which notes nothing: while the key's refreshes failed (the
// source down, each failure backing off up to five minutes), the hottest
// key's hits never reached the file's eviction, which could evict it as
// cold. The same held for StaleWhileRevalidate's stale hits.
func TestDueHitsAreNoted(t *testing.T) {
	for _, p := range []EvictionPolicy{LRU, WTinyLFU} {
		t.Run(p.String(), func(t *testing.T) {
			clock := mtesting.NewFakeClock()
			s, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.WithMaxBytes(1<<20),
				store.WithClock(clock), store.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var down atomic.Bool
			fn := func(_ context.Context, k int) (int, error) {
				if down.Load() {
					return 0, errors.New("source down")
				}
				return k, nil
			}
			f, err := New(s, "f", fn, Policy(p), RefreshAfter(time.Minute), RefreshTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var mu sync.Mutex
			notes := 0
			f.mem.setNote(func(k, hits int) {
				mu.Lock()
				notes += hits
				mu.Unlock()
			})
			ctx := context.Background()
			if _, err := f.Call(ctx, 1); err != nil {
				t.Fatal(err)
			}
			down.Store(true)
			clock.Advance(2 * time.Minute) // past the refresh time
			const calls = 100
			for range calls {
				if v, err := f.Call(ctx, 1); err != nil || v != 1 {
					t.Fatalf("Call(1) = %d, %v", v, err)
				}
			}
			f.Close() // the refresh that failed has ended
			if h := f.Info().Hits; h != calls {
				t.Fatalf("Info.Hits = %d, want %d", h, calls)
			}
			mu.Lock()
			defer mu.Unlock()
			if notes == 0 {
				t.Errorf("%d memory-tier hits on a due entry, none noted to the file's eviction", calls)
			}
		})
	}
}
