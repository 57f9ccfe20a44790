package memo_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestStaleIfErrorSharedFallbackCounted: StaleIfError's doc says a stale
// value returned for fn's error is counted in Info.StaleReturns, and the
// call is still a miss. Two calls that shared one failing computation both
// returned the stale value, but the one that waited was counted as a hit
// and no stale return (found by a review).
func TestStaleIfErrorSharedFallbackCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		fn := func(ctx context.Context, _ int) (int, error) {
			if fail.Load() {
				time.Sleep(time.Second) // the second call joins meanwhile
				return 0, errors.New("source down")
			}
			return 42, nil
		}
		f, err := memo.New(nil, "sie-shared", fn, memo.TTL(time.Minute), memo.StaleIfError(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx := context.Background()
		if v, err := f.Call(ctx, 1); err != nil || v != 42 {
			t.Fatalf("first call: %d, %v", v, err)
		}
		time.Sleep(2 * time.Minute)
		fail.Store(true)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if v, err := f.Call(ctx, 1); err != nil || v != 42 {
					t.Errorf("call: %d, %v; want the stale 42", v, err)
				}
			})
		}
		wg.Wait()
		if i := f.Info(); i.StaleReturns != 2 || i.Misses != 3 || i.Hits != 0 {
			t.Errorf("Info = hits %d, misses %d, stale returns %d; want 0, 3, 2 (two stale values returned, each call a miss)", i.Hits, i.Misses, i.StaleReturns)
		}
	})
}
