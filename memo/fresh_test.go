package memo_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/redisstore"
)

// bubbleStore opens a store inside a synctest bubble; the test closes it.
func bubbleStore(t *testing.T) *store.Store {
	t.Helper()
	return bubbleStoreAt(t, filepath.Join(t.TempDir(), "c.db"))
}

// bubbleStoreAt is bubbleStore on the file path, for a test that opens it
// again.
func bubbleStoreAt(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.WithSweepInterval(time.Hour), store.WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// inBubble runs test in a synctest bubble, on a memory-only Func's store
// (nil) and on a file with the memory tier off, so that the store answers.
func inBubble(t *testing.T, test func(t *testing.T, s *store.Store, opts []memo.Option)) {
	t.Run("memory", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { test(t, nil, nil) })
	})
	t.Run("store", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := bubbleStore(t)
			defer s.Close()
			test(t, s, []memo.Option{memo.MaxSize(0)})
		})
	})
}

// source is a slow source of versioned values that can fail.
type source struct {
	ver, runs atomic.Int64
	fail      atomic.Bool
}

func (src *source) fn(ctx context.Context, _ int) (int64, error) {
	src.runs.Add(1)
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if src.fail.Load() {
		return 0, errors.New("source down")
	}
	return src.ver.Load(), nil
}

func TestRefreshAfter(t *testing.T) {
	inBubble(t, func(t *testing.T, s *store.Store, opts []memo.Option) {
		var src source
		f, err := memo.New(s, "r", src.fn, append(opts, memo.RefreshAfter(10*time.Second), memo.TTL(time.Hour))...)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mustCall(t, f, 1)
		time.Sleep(11 * time.Second)
		src.ver.Store(1)
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		v, err := f.Call(ctx, 1)
		if err != nil || v != 0 || time.Since(start) != 0 {
			t.Fatalf("due entry: %d, %v after %v; want the old value at once", v, err, time.Since(start))
		}
		cancel() // the refresh is not the caller's: it goes on
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { mustCall(t, f, 1) }) // one refresh for all
		}
		wg.Wait()
		time.Sleep(2 * time.Second)
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("after the refresh: %d, want 1", v)
		}
		if src.runs.Load() != 2 || f.Info().Refreshes != 1 {
			t.Fatalf("runs = %d, info %+v; want one refresh", src.runs.Load(), f.Info())
		}
	})
}

func TestRefreshFailureKeepsValueAndBacksOff(t *testing.T) {
	inBubble(t, func(t *testing.T, s *store.Store, opts []memo.Option) {
		var src source
		f, err := memo.New(s, "r", src.fn, append(opts, memo.RefreshAfter(10*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mustCall(t, f, 1)
		src.fail.Store(true)
		time.Sleep(11 * time.Second)
		for range 5 {
			if v := mustCall(t, f, 1); v != 0 {
				t.Fatalf("during failing refreshes: %d, want the old value", v)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // the refresh fails after 1 s
		if runs := src.runs.Load(); runs != 2 {
			t.Fatalf("runs = %d, want 2: one failed refresh, then a back-off, not one per read", runs)
		}
		if v := mustCall(t, f, 1); v != 0 {
			t.Fatalf("after a failed refresh: %d, want the old value", v)
		}
		time.Sleep(5 * time.Second) // past the back-off
		src.fail.Store(false)
		src.ver.Store(3)
		mustCall(t, f, 1)
		time.Sleep(2 * time.Second)
		if v := mustCall(t, f, 1); v != 3 {
			t.Fatalf("after the back-off: %d, want the refreshed 3", v)
		}
	})
}

func TestStaleWhileRevalidate(t *testing.T) {
	inBubble(t, func(t *testing.T, s *store.Store, opts []memo.Option) {
		var src source
		f, err := memo.New(s, "r", src.fn, append(opts, memo.TTL(10*time.Second), memo.StaleWhileRevalidate(5*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mustCall(t, f, 1)
		src.ver.Store(1)
		time.Sleep(12 * time.Second) // 1 s past its TTL
		start := time.Now()
		if v := mustCall(t, f, 1); v != 0 || time.Since(start) != 0 {
			t.Fatalf("stale entry: %d after %v, want the old value at once", v, time.Since(start))
		}
		time.Sleep(2 * time.Second)
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("after the revalidation: %d, want 1", v)
		}
		if i := f.Info(); i.StaleReturns != 1 || i.Refreshes != 1 {
			t.Fatalf("Info = %+v, want one stale return and one refresh", i)
		}
		// Past TTL + grace, a call waits for fn.
		src.ver.Store(2)
		time.Sleep(16 * time.Second)
		start = time.Now()
		if v := mustCall(t, f, 1); v != 2 || time.Since(start) != time.Second {
			t.Fatalf("entry past its grace: %d after %v, want 2 after fn's second", v, time.Since(start))
		}
	})
}

func TestStaleIfError(t *testing.T) {
	inBubble(t, func(t *testing.T, s *store.Store, opts []memo.Option) {
		var src source
		f, err := memo.New(s, "r", src.fn, append(opts, memo.TTL(10*time.Second), memo.StaleIfError(time.Minute))...)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mustCall(t, f, 1)
		src.fail.Store(true)
		time.Sleep(20 * time.Second)
		if v, err := f.Call(context.Background(), 1); err != nil || v != 0 {
			t.Fatalf("fn failing 10 s past the TTL: %d, %v; want the stale value", v, err)
		}
		if i := f.Info(); i.StaleReturns != 1 || i.Misses != 2 {
			t.Fatalf("Info = %+v, want one stale return, counted as a miss", i)
		}
		time.Sleep(time.Minute)
		if _, err := f.Call(context.Background(), 1); err == nil {
			t.Fatal("fn failing past TTL + StaleIfError: no error")
		}
	})
}

func TestStoreCloseStopsRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bubbleStore(t)
		var blocked atomic.Int64
		f, err := memo.New(s, "r", func(ctx context.Context, _ int) (int, error) {
			if blocked.Add(1) > 1 {
				<-ctx.Done() // a refresh that would run for ever
				return 0, ctx.Err()
			}
			return 1, nil
		}, memo.RefreshAfter(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1)
		time.Sleep(2 * time.Second)
		mustCall(t, f, 1) // starts the refresh
		synctest.Wait()
		if blocked.Load() != 2 {
			t.Fatalf("fn ran %d times, want the refresh running", blocked.Load())
		}
		if err := s.Close(); err != nil { // cancels the refresh and waits for it
			t.Fatal(err)
		}
	})
}

func TestFreshnessOptionsChecked(t *testing.T) {
	fn := counted(new(atomic.Int64))
	if _, err := memo.New(nil, "f", fn, memo.StaleWhileRevalidate(time.Second)); err == nil {
		t.Error("StaleWhileRevalidate without a TTL accepted")
	}
	if _, err := memo.New(nil, "f", fn, memo.StaleIfError(time.Second)); err == nil {
		t.Error("StaleIfError without a TTL accepted")
	}
	// TTL(0) is no TTL: entries never expire, and are never stale.
	if _, err := memo.New(nil, "f", fn, memo.TTL(0), memo.StaleWhileRevalidate(time.Second)); err == nil {
		t.Error("StaleWhileRevalidate with TTL(0) accepted")
	}
	// A negative TTL is a mistake, not "never expire".
	if _, err := memo.New(nil, "f", fn, memo.TTL(-time.Second)); err == nil {
		t.Error("TTL(-1s) accepted")
	}
}

func TestBackgroundRefreshesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var running, peak atomic.Int64
		var mu sync.Mutex
		f, err := memo.New(nil, "b", func(ctx context.Context, k int) (int, error) {
			n := running.Add(1)
			mu.Lock()
			peak.Store(max(peak.Load(), n))
			mu.Unlock()
			defer running.Add(-1)
			time.Sleep(time.Second)
			return k, nil
		}, memo.RefreshAfter(time.Second), memo.MaxSize(-1))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		const keys = 3 * memo.MaxBackgroundRefreshes
		for k := range keys {
			mustCall(t, f, k)
		}
		time.Sleep(time.Second)
		for k := range keys {
			mustCall(t, f, k) // each due: a refresh each, as room allows
		}
		synctest.Wait()
		if p := peak.Load(); p != memo.MaxBackgroundRefreshes {
			t.Fatalf("peak concurrent refreshes = %d, want %d", p, memo.MaxBackgroundRefreshes)
		}
		time.Sleep(2 * time.Second)
		if r := f.Info().Refreshes; r != memo.MaxBackgroundRefreshes {
			t.Fatalf("refreshes = %d, want %d (the others were not started)", r, memo.MaxBackgroundRefreshes)
		}
	})
}

// TestFreshnessOnSharedFiles: the freshness options work the same on a
// file held here, on a follower of another store's file, and on Redis
// (one server and a cluster), in real time (followers and Redis talk over
// sockets, which synctest's bubbles cannot), with the memory tier off so
// that every call reaches the store.
func TestFreshnessOnSharedFiles(t *testing.T) {
	openRedis := func(server func(testing.TB) string) func(testing.TB, ...store.Option) *store.Store {
		return func(tb testing.TB, _ ...store.Option) *store.Store {
			url := server(tb)
			s, err := store.Open(url, redisstore.WithPrefix(redistest.Prefix(tb, url)))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}
	}
	for name, open := range map[string]func(testing.TB, ...store.Option) *store.Store{
		"holder": openStore, "follower": openFollower,
		"redis": openRedis(redistest.URL), "redis-cluster": openRedis(redistest.ClusterURL),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var ver atomic.Int64
			var fail atomic.Bool
			fn := func(context.Context, int) (int64, error) {
				if fail.Load() {
					return 0, errors.New("source down")
				}
				return ver.Add(1), nil
			}
			call := func(f *memo.Func[int, int64]) (int64, error) { return f.Call(ctx, 1) }
			eventually := func(what string, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("%s: timed out", what)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			s := open(t)

			// RefreshAfter: the old value at once, then the refreshed one.
			f, err := memo.New(s, "after", fn, memo.MaxSize(0), memo.RefreshAfter(30*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := call(f); v != 1 {
				t.Fatalf("first call = %d", v)
			}
			time.Sleep(50 * time.Millisecond)
			if v, _ := call(f); v != 1 {
				t.Errorf("RefreshAfter: due entry = %d, want the old value at once", v)
			}
			eventually("RefreshAfter's refresh", func() bool { v, _ := call(f); return v == 2 })

			// StaleWhileRevalidate: past its TTL, the stale value at once.
			f, err = memo.New(s, "swr", fn, memo.MaxSize(0), memo.TTL(30*time.Millisecond), memo.StaleWhileRevalidate(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			first, _ := call(f)
			time.Sleep(50 * time.Millisecond)
			if v, _ := call(f); v != first {
				t.Errorf("StaleWhileRevalidate: expired entry = %d, want the stale %d at once", v, first)
			}
			eventually("StaleWhileRevalidate's refresh", func() bool { v, _ := call(f); return v > first })
			if f.Info().StaleReturns == 0 {
				t.Error("StaleWhileRevalidate: no stale return counted")
			}

			// StaleIfError: fn fails past the TTL: the stale value.
			f, err = memo.New(s, "sie", fn, memo.MaxSize(0), memo.TTL(30*time.Millisecond), memo.StaleIfError(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			first, _ = call(f)
			time.Sleep(50 * time.Millisecond)
			fail.Store(true)
			if v, err := call(f); err != nil || v != first {
				t.Errorf("StaleIfError: %d, %v; want the stale %d", v, err, first)
			}

			// ErrorTTL: the error is cached; fn does not run again.
			f, err = memo.New(s, "errttl", fn, memo.MaxSize(0), memo.ErrorTTL(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			call(f)
			call(f)
			if i := f.Info(); i.Misses != 1 || i.CachedErrors != 1 {
				t.Errorf("ErrorTTL: %+v; want 1 miss and 1 cached error", i)
			}
			fail.Store(false)

			// TTLFunc: a negative TTL is not cached.
			f, err = memo.New(s, "ttlfunc", fn, memo.MaxSize(0), memo.TTLFunc(func(int, int64) time.Duration { return -1 }))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := call(f)
			if b, _ := call(f); b == a {
				t.Errorf("TTLFunc negative: the value %d was cached", a)
			}
			if _, ok := f.Peek(ctx, 1); ok {
				t.Error("TTLFunc negative: Peek found the value")
			}
		})
	}
}
