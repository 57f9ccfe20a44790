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

// TestRefreshSupersedesBackgroundRefresh: Refresh runs fn "now, whatever
// is cached". A background refresh that began before Refresh was called
// may have read the source before the change the caller refreshes for;
// Refresh joined it, as it joins another Refresh, and returned and kept
// its older result. It now supersedes it, as it supersedes a Call's
// computation.
func TestRefreshSupersedesBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		block := make(chan struct{})
		f, err := memo.New(nil, "refresh-bg", func(context.Context, int) (int64, error) {
			n := runs.Add(1)
			if n == 2 {
				<-block // the background refresh, started before Refresh
			}
			return n, nil
		}, memo.RefreshAfter(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx := context.Background()
		mustCall(t, f, 1)
		time.Sleep(11 * time.Second)
		if v := mustCall(t, f, 1); v != 1 { // due: served, refreshed behind
			t.Fatalf("due call = %d", v)
		}
		synctest.Wait() // the background refresh runs fn, and waits
		got := make(chan int64)
		go func() {
			v, err := f.Refresh(ctx, 1)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		synctest.Wait()
		close(block)
		if v := <-got; v != 3 {
			t.Errorf("Refresh = %d, want 3: the result of a run of fn that began after Refresh was called (runs: %d)", v, runs.Load())
		}
		synctest.Wait()
		if v := mustCall(t, f, 1); v != 3 {
			t.Errorf("after Refresh, Call = %d, want Refresh's 3", v)
		}
	})
}

// TestInvalidationForgetsRefreshBackoff: a failed background refresh
// holds the key's next refresh back (1 s, doubling). The back-off was
// about the value Forget or Clear removed, or Set replaced, but it
// stayed: the new value's first refresh, due before the back-off ended,
// did not start.
func TestInvalidationForgetsRefreshBackoff(t *testing.T) {
	for _, op := range []string{"Forget", "Clear", "Set"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var runs atomic.Int64
				var fail atomic.Bool
				f, err := memo.New(nil, "backoff-inval", flaky[int](&runs, &fail), memo.RefreshAfter(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				mustCall(t, f, 1)
				time.Sleep(200 * time.Millisecond)
				fail.Store(true)
				mustCall(t, f, 1) // due: its refresh fails, and backs off 1 s
				synctest.Wait()
				fail.Store(false)
				invalidate(t, f, op, 100)
				mustCall(t, f, 1) // computed afresh, or Set's
				time.Sleep(200 * time.Millisecond)
				before := runs.Load()
				mustCall(t, f, 1) // due: refreshed behind
				synctest.Wait()
				if runs.Load() == before {
					t.Errorf("after %s, the new value came due and was read, but no refresh ran: the back-off of the value %s removed held it back", op, op)
				}
			})
		})
	}
}

// invalidate applies op to key 1 of f: "Forget", "Clear", or "Set" of v.
func invalidate(t *testing.T, f *memo.Func[int, int64], op string, v int64) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch op {
	case "Forget":
		err = f.Forget(ctx, 1)
	case "Clear":
		err = f.Clear(ctx)
	case "Set":
		err = f.Set(ctx, 1, v)
	default:
		t.Fatalf("unknown op %q", op)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// flaky is a test Func's fn: it counts its runs in runs, returns the
// run's number, and fails while fail is set.
func flaky[K any](runs *atomic.Int64, fail *atomic.Bool) func(context.Context, K) (int64, error) {
	return func(context.Context, K) (int64, error) {
		n := runs.Add(1)
		if fail.Load() {
			return 0, errors.New("source down")
		}
		return n, nil
	}
}
