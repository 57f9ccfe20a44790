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
			var down atomic.Bool
			fn := func(_ context.Context, k int) (int, error) {
				if down.Load() {
					return 0, errors.New("source down")
				}
				return k, nil
			}
			f, clock, noted := notedFunc(t, fn, Policy(p), RefreshAfter(time.Minute), RefreshTimeout(time.Second))
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
			if noted() == 0 {
				t.Errorf("%d memory-tier hits on a due entry, none noted to the file's eviction", calls)
			}
		})
	}
}

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
			fn := func(_ context.Context, k int) (int, error) { return k, nil }
			f, clock, noted := notedFunc(t, fn, Policy(p), TTL(time.Minute), StaleIfError(time.Hour))
			ctx := context.Background()
			if _, err := f.Call(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute) // past the TTL: only a fallback for StaleIfError
			if _, err := f.Call(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if n := noted(); n > 1 {
				t.Errorf("one Call (a miss: fn ran) noted %d memory-tier uses to the file's eviction; want at most 1", n)
			}
		})
	}
}

// notedFunc returns a Func of fn in front of a file bounded by bytes, on
// a fake clock, whose memory tier's notes to the file are counted instead
// (noted returns the uses noted so far).
func notedFunc(t *testing.T, fn func(context.Context, int) (int, error), opts ...Option) (f *Func[int, int], clock *mtesting.FakeClock, noted func() int) {
	t.Helper()
	clock = mtesting.NewFakeClock()
	s, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.WithMaxBytes(1<<20),
		store.WithClock(clock), store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if f, err = New(s, "f", fn, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var mu sync.Mutex
	notes := 0
	f.mem.setNote(func(k, hits int) {
		mu.Lock()
		notes += hits
		mu.Unlock()
	})
	return f, clock, func() int {
		mu.Lock()
		defer mu.Unlock()
		return notes
	}
}
