package memo_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestNaNKeyRefusedRefreshKeepsBackoff: when bg.run refuses a NaN key's
// refresh (MaxBackgroundRefreshes are running), refreshLater ended it as a
// success, which erased the key's back-off history: the key's next failure
// backed off 1 s again instead of doubling, as an ordinary key's does (a
// refused start leaves its back-off as it is).
func TestNaNKeyRefusedRefreshKeepsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bubbleStore(t)
		defer s.Close()
		var nanRuns atomic.Int64
		var fail, hold atomic.Bool
		release := make(chan struct{})
		f, err := memo.New(s, "nan-refused", func(_ context.Context, k float64) (float64, error) {
			if k != k {
				nanRuns.Add(1)
				if fail.Load() {
					return 0, errors.New("source down")
				}
				return 1, nil
			}
			if hold.Load() {
				<-release
			}
			return k, nil
		}, memo.RefreshAfter(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		nan := math.NaN()
		mustCall(t, f, nan)
		for k := range memo.MaxBackgroundRefreshes {
			mustCall(t, f, float64(k+1))
		}
		time.Sleep(200 * time.Millisecond) // all due
		fail.Store(true)
		mustCall(t, f, nan) // refresh 1 fails: back-off 1 s
		synctest.Wait()
		time.Sleep(1100 * time.Millisecond) // the back-off is over
		hold.Store(true)
		for k := range memo.MaxBackgroundRefreshes {
			mustCall(t, f, float64(k+1)) // their refreshes fill the group, and hold
		}
		synctest.Wait()
		before := nanRuns.Load()
		mustCall(t, f, nan) // its refresh is refused: the group is full
		synctest.Wait()
		if nanRuns.Load() != before {
			t.Fatal("the NaN key's refresh ran with the group full")
		}
		hold.Store(false)
		close(release)
		synctest.Wait()
		mustCall(t, f, nan) // refresh 2 fails: the back-off doubles to 2 s
		synctest.Wait()
		if nanRuns.Load() != before+1 {
			t.Fatalf("fn ran %d times for the NaN key, want %d", nanRuns.Load(), before+1)
		}
		time.Sleep(1500 * time.Millisecond) // within 2 s of the second failure
		mustCall(t, f, nan)
		synctest.Wait()
		if r := nanRuns.Load(); r != before+1 {
			t.Errorf("a third refresh ran 1.5 s after the second failure: the refused start erased the back-off, so the second failure backed off 1 s, not 2 s")
		}
	})
}
