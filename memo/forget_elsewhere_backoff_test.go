package memo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestForgetElsewhereEndsRefreshBackoff: a Forget in this process ends the
// refresh back-off of the value it removes (TestInvalidationForgetsRefreshBackoff).
// A Forget made by another process sharing the file reached this one's
// tier (ForgetKey), which dropped the value and the cached error but kept
// the back-off: when the next value came from the file (the other process
// computed it), its first refresh, due before the back-off ended, did not
// start.
func TestForgetElsewhereEndsRefreshBackoff(t *testing.T) {
	clock := mtesting.NewFakeClock()
	holder, follower := openFilePair(t, store.WithClock(clock))
	var runs atomic.Int64
	var fail atomic.Bool
	fn := flaky[int](&runs, &fail)
	f, err := memo.New(holder, "elsewhere", fn, memo.RefreshAfter(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	other, err := memo.New(follower, "elsewhere", fn, memo.RefreshAfter(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitRuns := func(n int64) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if runs.Load() >= n {
				return true
			}
		}
		return false
	}
	mustCall(t, f, 1) // run 1
	clock.Advance(200 * time.Millisecond)
	fail.Store(true)
	mustCall(t, f, 1) // due: its refresh (run 2) fails, and backs off 1 s
	if !waitRuns(2) {
		t.Fatal("the due call started no refresh")
	}
	time.Sleep(100 * time.Millisecond) // the failure is recorded
	fail.Store(false)
	if err := other.Forget(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if v := mustCall(t, other, 1); v != 3 { // the other process computes the new value
		t.Fatalf("after its Forget, the other process's Call = %d, want a new run (3)", v)
	}
	if v := mustCall(t, f, 1); v != 3 { // read from the file: no result of this process's
		t.Fatalf("after the other process's Forget, Call = %d, want its 3", v)
	}
	clock.Advance(200 * time.Millisecond) // the new value is due; the old back-off runs 600 ms more
	mustCall(t, f, 1)
	if !waitRuns(4) {
		t.Errorf("after another process's Forget, the new value came due and was read, but no refresh ran: the back-off of the forgotten value held it back")
	}
}
