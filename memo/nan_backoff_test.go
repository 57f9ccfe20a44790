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

// TestNaNKeyBackoffEndsWithItsValue: Set, Forget, Clear and a new result
// end the refresh back-off of the value they replace (forgetError, purge),
// so that the next value's first refresh is not held back by it. A NaN
// key's back-off lives in nanRefreshes (f.nan.fails), which none of them
// touched: after a failed refresh of a NaN key, the new value's first due
// read started no refresh for up to the back-off.
func TestNaNKeyBackoffEndsWithItsValue(t *testing.T) {
	for _, op := range []string{"Set", "Forget", "Clear"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := bubbleStore(t)
				defer s.Close()
				var runs atomic.Int64
				var fail atomic.Bool
				f, err := memo.New(s, "nan-backoff-ends", flaky[float64](&runs, &fail), memo.RefreshAfter(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				ctx := context.Background()
				nan := math.NaN()
				mustCall(t, f, nan) // run 1
				time.Sleep(200 * time.Millisecond)
				fail.Store(true)
				mustCall(t, f, nan) // due: its refresh (run 2) fails, backing off 1 s
				synctest.Wait()
				fail.Store(false)
				switch op {
				case "Set":
					if err := f.Set(ctx, nan, 100); err != nil {
						t.Fatal(err)
					}
				case "Forget", "Clear":
					if op == "Forget" {
						err = f.Forget(ctx, nan)
					} else {
						err = f.Clear(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
					mustCall(t, f, nan) // a new result (run 3)
				}
				time.Sleep(200 * time.Millisecond) // the new value comes due, within the old 1 s back-off
				before := runs.Load()
				mustCall(t, f, nan)
				synctest.Wait()
				if runs.Load() == before {
					t.Errorf("after %s, the NaN key's new value came due and was read, but no refresh ran: the back-off of the replaced value's failed refresh still held", op)
				}
			})
		})
	}
}
