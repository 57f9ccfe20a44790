package memo_test

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestNaNKeyRefreshOncePerKey: the README: "A background refresh runs
// once per key in a process ... If it fails, the old value stays, and the
// key's next refresh waits 1 s, doubling up to 5 minutes". Once a NaN
// key's due store entry was refreshed (TestNaNKeyRefreshAfterOnStore),
// startRefresh gave each read a flight of its own and the back-off never
// recorded such a key: every read of the due entry started one more
// background run of fn, while one ran and after one failed (up to the 16 a
// Func runs at once, which other keys' refreshes then could not get).
func TestNaNKeyRefreshOncePerKey(t *testing.T) {
	t.Run("failing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := bubbleStore(t)
			defer s.Close()
			var runs atomic.Int64
			var fail atomic.Bool
			f, err := memo.New(s, "nan-backoff", flaky[float64](&runs, &fail), memo.RefreshAfter(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			nan := math.NaN()
			mustCall(t, f, nan)
			time.Sleep(2 * time.Second) // due
			fail.Store(true)
			for range 5 {
				if v := mustCall(t, f, nan); v != 1 {
					t.Fatalf("due entry = %d, want the old 1", v)
				}
				synctest.Wait() // its refresh, if one started, has failed
				time.Sleep(100 * time.Millisecond)
			}
			if r := runs.Load(); r != 2 {
				t.Errorf("fn ran %d times: the first run and one failed refresh, then a back-off; not one refresh per read", r)
			}
		})
	})
	t.Run("slow", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := bubbleStore(t)
			defer s.Close()
			var runs atomic.Int64
			f, err := memo.New(s, "nan-once", func(context.Context, float64) (int64, error) {
				n := runs.Add(1)
				time.Sleep(time.Second)
				return n, nil
			}, memo.RefreshAfter(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			nan := math.NaN()
			mustCall(t, f, nan)
			time.Sleep(11 * time.Second) // due
			for range 5 {
				mustCall(t, f, nan) // the refresh of the first is still running
			}
			synctest.Wait()
			time.Sleep(2 * time.Second)
			if r := runs.Load(); r != 2 {
				t.Errorf("fn ran %d times: the first run and one background refresh, not one refresh per read of the due entry", r)
			}
		})
	})
}
