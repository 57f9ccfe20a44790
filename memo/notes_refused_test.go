package memo

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store"
)

// TestRefusedDueEntryNotedOnce: the memory tier notes due entries that the
// Func serves (TestDueHitsAreNoted). Noted by get, every entry returned as
// due was noted, including one past its TTL that only StaleIfError's
// fallback keeps: serve refuses it, the Call misses, and compute asks the
// memory tier again, which noted the same entry a second time. One Call
// that the memory tier did not answer was noted to the file's eviction as
// two memory hits.
func TestRefusedDueEntryNotedOnce(t *testing.T) {
	for _, p := range []EvictionPolicy{LRU, WTinyLFU} {
		t.Run(p.String(), func(t *testing.T) {
			clock := mtesting.NewFakeClock()
			s, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.WithMaxBytes(1<<20),
				store.WithClock(clock), store.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fn := func(_ context.Context, k int) (int, error) { return k, nil }
			f, err := New(s, "f", fn, Policy(p), TTL(time.Minute), StaleIfError(time.Hour))
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
			clock.Advance(2 * time.Minute) // past the TTL: only a fallback for StaleIfError
			before := f.Info()
			if _, err := f.Call(ctx, 1); err != nil {
				t.Fatal(err)
			}
			after := f.Info()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the Call: %d hits, %d misses; memory-tier uses noted: %d",
				after.Hits-before.Hits, after.Misses-before.Misses, notes)
			if notes > 1 {
				t.Errorf("one Call (a miss: fn ran) noted %d memory-tier uses to the file's eviction; want at most 1", notes)
			}
		})
	}
}
