package memo_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestCachedErrorStaleFallbackCounted: with ErrorTTL and
// StaleIfError, a Call whose key has a cached error and a stale entry is
// answered with the stale value (a stale return). It was counted as
// neither a hit, nor a miss, nor a cached error, so Info's counts did not
// add up to the calls made; it is a cached error now.
func TestCachedErrorStaleFallbackCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		f, err := memo.New(nil, "sie-errttl-count", func(context.Context, int) (int, error) {
			if fail.Load() {
				return 0, errors.New("source down")
			}
			return 42, nil
		}, memo.TTL(time.Minute), memo.StaleIfError(time.Hour), memo.ErrorTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx := context.Background()
		calls := 0
		call := func() {
			t.Helper()
			calls++
			if v, err := f.Call(ctx, 1); err != nil || v != 42 {
				t.Fatalf("call %d: %d, %v; want 42", calls, v, err)
			}
		}
		call()
		time.Sleep(2 * time.Minute) // past the TTL, inside StaleIfError's hour
		fail.Store(true)
		call() // fn fails: the stale value, a miss
		call() // the cached error: the stale value again
		call()
		i := f.Info()
		if got := i.Hits + i.Misses + i.CachedErrors; got != int64(calls) {
			t.Errorf("%d calls, all answered, but Info counts hits %d + misses %d + cached errors %d = %d (stale returns %d): the calls that met the cached error and fell back to the stale value are counted nowhere",
				calls, i.Hits, i.Misses, i.CachedErrors, got, i.StaleReturns)
		}
	})
}

// TestStaleWhileRevalidateWaiterCountedStale: StaleReturns counts
// "calls answered with a value past its TTL". A Call that waits for
// another Call's lookup of the store, which finds the entry stale and
// serves it (StaleWhileRevalidate), returns that stale value too, and was
// counted as a plain hit and no stale return (as the StaleIfError
// fallback shared this way was: TestStaleIfErrorSharedFallbackCounted).
// The TTLFunc, which the store lookup calls to decode the entry, holds
// the first Call until the second waits on its flight.
func TestStaleWhileRevalidateWaiterCountedStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bubbleStore(t)
		defer s.Close()
		var ver atomic.Int64
		var gate atomic.Bool
		entered, let := make(chan struct{}), make(chan struct{})
		var once sync.Once
		ttl := memo.TTLFunc(func(int, int64) time.Duration {
			if gate.Load() {
				once.Do(func() {
					close(entered)
					<-let
				})
			}
			return time.Minute
		})
		f, err := memo.New(s, "swr-wait", func(context.Context, int) (int64, error) {
			return ver.Add(1), nil
		}, memo.MaxSize(0), ttl, memo.StaleWhileRevalidate(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx := context.Background()
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("first call = %d", v)
		}
		time.Sleep(2 * time.Minute) // stale: past the TTL, inside the hour
		before := f.Info()
		gate.Store(true)
		var wg sync.WaitGroup
		var v1, v2 int64
		wg.Go(func() { v1, _ = f.Call(ctx, 1) })
		<-entered // the first call decodes the stale entry, leading k's flight
		gate.Store(false)
		wg.Go(func() { v2, _ = f.Call(ctx, 1) })
		synctest.Wait() // the second call waits on the first's flight
		close(let)
		wg.Wait()
		synctest.Wait()
		if v1 != 1 || v2 != 1 {
			t.Fatalf("calls = %d, %d; want the stale 1 twice", v1, v2)
		}
		i := f.Info()
		if got := i.StaleReturns - before.StaleReturns; got != 2 {
			t.Errorf("two calls answered with the stale value, StaleReturns counted %d (hits %d): the call that shared the lookup is a hit but no stale return",
				got, i.Hits-before.Hits)
		}
	})
}

// TestNaNKeyRefreshAfterOnStore: RefreshAfter refreshes an entry
// older than d "once in the background". A key holding a NaN is never in
// the memory tier, but the store keeps its value (it compares encodings)
// and answers it; startRefresh refused such a key ("never due: its value
// is in no memory tier"), so the store's entry was served for ever and
// never refreshed.
func TestNaNKeyRefreshAfterOnStore(t *testing.T) {
	clock := mtesting.NewFakeClock()
	s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithClock(clock), store.WithLogger(nil), store.WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var runs atomic.Int64
	f, err := memo.New(s, "nan-refresh", func(context.Context, float64) (int64, error) {
		return runs.Add(1), nil
	}, memo.RefreshAfter(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	if v := mustCall(t, f, nan); v != 1 {
		t.Fatalf("first call = %d", v)
	}
	if v := mustCall(t, f, nan); v != 1 || runs.Load() != 1 {
		t.Fatalf("second call = %d after %d runs: the store does not keep the NaN key", v, runs.Load())
	}
	clock.Advance(time.Minute) // due
	if v := mustCall(t, f, nan); v != 1 {
		t.Fatalf("due entry = %d, want the old 1 at once", v)
	}
	f.Close() // waits for the background refresh, if one started
	if v := mustCall(t, f, nan); v != 2 {
		t.Errorf("after a call of the due entry and its refresh: %d (fn ran %d times), want the refreshed 2: a NaN key's stored entry is never refreshed", v, runs.Load())
	}
}

// blockingHandler is a slog handler that blocks, once, on the first
// record whose message is msg, until release is closed.
type blockingHandler struct {
	msg     string
	first   *atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg && h.first.CompareAndSwap(false, true) {
		close(h.entered)
		<-h.release
	}
	return nil
}
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h blockingHandler) WithGroup(string) slog.Handler      { return h }

// TestFailedRefreshBacksOffBeforeItEnds: "if it fails, the old
// value stays and the key's next refresh waits, from 1 s". A failed
// background refresh ended its flight (so a due read may start another
// refresh) before it recorded the failure in the back-off: a read in
// between started a second refresh at once, and fn ran again against the
// failing source with no back-off. The store's logger, which the failed
// refresh calls after its flight ends, holds it there; a slow log sink
// did the same in production.
func TestFailedRefreshBacksOffBeforeItEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := blockingHandler{
			msg:   "memostore: background refresh failed; the old value stays",
			first: new(atomic.Bool), entered: make(chan struct{}), release: make(chan struct{}),
		}
		s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithSweepInterval(time.Hour),
			store.WithoutControl(), store.WithLogger(slog.New(h)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var runs atomic.Int64
		var fail atomic.Bool
		f, err := memo.New(s, "backoff", func(context.Context, int) (int, error) {
			runs.Add(1)
			if fail.Load() {
				return 0, errors.New("source down")
			}
			return 1, nil
		}, memo.RefreshAfter(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mustCall(t, f, 1)
		time.Sleep(11 * time.Second) // due
		fail.Store(true)
		if v := mustCall(t, f, 1); v != 1 { // starts the refresh, which fails
			t.Fatalf("due entry = %d", v)
		}
		<-h.entered                         // the refresh has failed, and logs it
		if v := mustCall(t, f, 1); v != 1 { // 0 s after the failure
			t.Fatalf("due entry after the failed refresh = %d", v)
		}
		synctest.Wait()
		close(h.release)
		synctest.Wait()
		if r := runs.Load(); r != 2 {
			t.Errorf("fn ran %d times: the first run and one failed refresh, then a read at once after the failure started another refresh (%d runs), with no back-off", r, r-2)
		}
	})
}
