package memo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestSupersededRefreshRecordsNoBackoff: a background refresh that
// Refresh or Set supersedes, or that Forget or Clear detaches, keeps
// nothing, and Forget, Clear, Set and a new result end the back-off of the
// value they replace. A superseded refresh that failed after the new value
// was kept still recorded a back-off, which was then about the new value:
// the new value's first refresh, when it came due, was held back for 1 s.
func TestSupersededRefreshRecordsNoBackoff(t *testing.T) {
	for _, op := range []string{"Refresh", "Forget", "Clear", "Set"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var runs atomic.Int64
				block := make(chan struct{})
				f, err := memo.New(nil, "superseded-backoff", func(context.Context, int) (int64, error) {
					n := runs.Add(1)
					if n == 2 {
						<-block // the background refresh, superseded meanwhile
						return 0, errors.New("source down")
					}
					return n, nil
				}, memo.RefreshAfter(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				ctx := context.Background()
				mustCall(t, f, 1)
				time.Sleep(200 * time.Millisecond)
				mustCall(t, f, 1) // due: the background refresh (run 2) starts, and blocks
				synctest.Wait()
				switch op {
				case "Refresh":
					if v, err := f.Refresh(ctx, 1); err != nil || v != 3 {
						t.Fatalf("Refresh = %d, %v; want 3", v, err)
					}
				case "Set":
					invalidate(t, f, op, 3)
					runs.Add(1) // as if fn had run for Set's 3
				case "Forget", "Clear":
					invalidate(t, f, op, 0)
					if v := mustCall(t, f, 1); v != 3 {
						t.Fatalf("Call after Forget = %d, want 3", v)
					}
				}
				close(block) // the superseded refresh fails now
				synctest.Wait()
				time.Sleep(200 * time.Millisecond) // the new value (3) comes due
				before := runs.Load()
				if v := mustCall(t, f, 1); v != 3 {
					t.Fatalf("due Call = %d, want 3", v)
				}
				synctest.Wait()
				if runs.Load() == before {
					t.Errorf("after %s, its value came due and was read, but no refresh ran: the failure of the refresh %s superseded was recorded as the new value's back-off", op, op)
				}
			})
		})
	}
}
