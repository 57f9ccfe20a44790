package memo_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestStaleIfErrorWithCachedErrorFromStore: StaleIfError returns an entry
// up to d past its TTL "from either tier" when fn fails. With ErrorTTL
// too, and the entry only in the store (the memory tier off, or the entry
// evicted from it), the first failing call got the stale value and the
// next the cached error: only a memory-tier entry stood in for a cached
// error (found by a review).
func TestStaleIfErrorWithCachedErrorFromStore(t *testing.T) {
	clock := mtesting.NewFakeClock()
	s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithClock(clock), store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var fail atomic.Bool
	fn := func(context.Context, int) (int, error) {
		if fail.Load() {
			return 0, errors.New("source down")
		}
		return 42, nil
	}
	f, err := memo.New(s, "sie-errttl", fn, memo.MaxSize(0),
		memo.TTL(time.Minute), memo.StaleIfError(time.Hour), memo.ErrorTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := f.Call(ctx, 1); err != nil || v != 42 {
		t.Fatalf("first call: %d, %v", v, err)
	}
	clock.Advance(2 * time.Minute) // past the TTL, inside StaleIfError's hour
	fail.Store(true)
	for i := range 3 {
		if v, err := f.Call(ctx, 1); err != nil || v != 42 {
			t.Fatalf("call %d after fn failed: %d, %v; want the stale 42 (StaleIfError), not the error", i+1, v, err)
		}
	}
	if i := f.Info(); i.StaleReturns != 3 {
		t.Errorf("StaleReturns = %d, want 3", i.StaleReturns)
	}
}
