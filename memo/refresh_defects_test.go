package memo_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// uncacheableFrom returns fn, whose runs return 1, 2, 3, ..., and a TTLFunc
// that says values from 2 on are not to be cached.
func uncacheableFrom() (func(context.Context, int) (int64, error), memo.Option, *atomic.Int64) {
	var runs atomic.Int64
	fn := func(context.Context, int) (int64, error) { return runs.Add(1), nil }
	ttl := memo.TTLFunc(func(_ int, v int64) time.Duration {
		if v >= 2 {
			return -1
		}
		return 0
	})
	return fn, ttl, &runs
}

// TestRefreshUncacheableDropsOldValue: Refresh "replaces the cached
// value with its result"; when the result is not to be cached (TTLFunc <
// 0), the old value must not go on being served, as Set drops it then.
// It was served, from memory and from the store (found by a review).
func TestRefreshUncacheableDropsOldValue(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		fn, ttl, _ := uncacheableFrom()
		f, err := memo.New(s, "u", fn, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("first call = %d", v)
		}
		if v, err := f.Refresh(context.Background(), 1); err != nil || v != 2 {
			t.Fatalf("Refresh = %d, %v; want 2", v, err)
		}
		if v := mustCall(t, f, 1); v == 1 {
			t.Fatalf("Call after Refresh returned the replaced value 1")
		}
	})
}

// TestRefreshClearsCachedError: after a successful Refresh, a Call must
// not get the error cached (ErrorTTL) before it; it did, until ErrorTTL
// ran out, whenever the memory tier did not answer (found by a review).
func TestRefreshClearsCachedError(t *testing.T) {
	run := func(t *testing.T, s *store.Store, opts ...memo.Option) {
		var fail atomic.Bool
		fail.Store(true)
		f, err := memo.New(s, "e", func(_ context.Context, x int) (int, error) {
			if fail.Load() {
				return 0, errors.New("down")
			}
			return x, nil
		}, append(opts, memo.ErrorTTL(time.Hour))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := f.Call(ctx, 1); err == nil {
			t.Fatal("no error")
		}
		fail.Store(false)
		if v, err := f.Refresh(ctx, 1); err != nil || v != 1 {
			t.Fatalf("Refresh = %d, %v", v, err)
		}
		mustCall(t, f, 2) // evicts 1 from a 1-entry memory tier
		if v, err := f.Call(ctx, 1); err != nil || v != 1 {
			t.Fatalf("Call after a successful Refresh = %d, %v; want 1 (the error cached before it)", v, err)
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, nil, memo.MaxSize(1)) })
	t.Run("store", func(t *testing.T) { run(t, openStore(t), memo.MaxSize(0)) })
}

// TestRefreshFailureDoesNotFailCalls: a Call for a key the store holds,
// made during a Refresh that fails, must get the cached value, as the
// same Call answered from the memory tier does and as a Call waiting on a
// failed background refresh does. It got fn's error (found by a review).
func TestRefreshFailureDoesNotFailCalls(t *testing.T) {
	var fail atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	f, err := memo.New(openStore(t), "r", func(_ context.Context, x int) (int, error) {
		if fail.Load() {
			close(entered)
			<-release
			return 0, errors.New("down")
		}
		return x, nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 5)
	fail.Store(true)
	go f.Refresh(context.Background(), 5)
	<-entered
	var v int
	var cerr error
	var wg sync.WaitGroup
	wg.Go(func() { v, cerr = f.Call(context.Background(), 5) })
	time.Sleep(100 * time.Millisecond) // the Call waits on the Refresh
	close(release)
	wg.Wait()
	if cerr != nil || v != 5 {
		t.Fatalf("Call during a failing Refresh = %d, %v; want the cached 5", v, cerr)
	}
}

// TestConcurrentRefreshesAreNotHits: Info counts Calls; a Refresh that
// shares another Refresh's run of fn was counted as a hit (found by a
// review).
func TestConcurrentRefreshesAreNotHits(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f, err := memo.New(nil, "r", func(_ context.Context, x int) (int, error) {
		once.Do(func() { close(entered) })
		<-release
		return x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { f.Refresh(context.Background(), 1) })
	<-entered
	wg.Go(func() { f.Refresh(context.Background(), 1) })
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if i := f.Info(); i.Hits != 0 || i.Misses != 0 {
		t.Fatalf("Info = %+v after two Refreshes and no Call; want no hits nor misses", i)
	}
}

// TestHugeErrorTTL: ErrorTTL(math.MaxInt64) caches an error for good; it
// overflowed the error's expiry, and the error was never served (found
// by a review).
func TestHugeErrorTTL(t *testing.T) {
	var runs atomic.Int64
	f, err := memo.New(nil, "e", func(context.Context, int) (int, error) {
		runs.Add(1)
		return 0, errors.New("down")
	}, memo.ErrorTTL(math.MaxInt64))
	if err != nil {
		t.Fatal(err)
	}
	f.Call(context.Background(), 1)
	f.Call(context.Background(), 1)
	if r := runs.Load(); r != 1 {
		t.Fatalf("fn ran %d times; want 1, the error cached", r)
	}
}

// TestOversizedValueEvictsNothing: a value larger than MaxBytes "is
// returned but not kept in memory", and must not make room: the LRU
// evicted its oldest entry for it when the entry bound was full (found by
// a review).
func TestOversizedValueEvictsNothing(t *testing.T) {
	var runs atomic.Int64
	f, err := memo.New(nil, "b", func(_ context.Context, n int) (string, error) {
		runs.Add(1)
		return strings.Repeat("x", n), nil
	}, memo.MaxSize(2), memo.MaxBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 10)
	mustCall(t, f, 11)
	mustCall(t, f, 1000) // too large to keep
	before := runs.Load()
	mustCall(t, f, 10)
	mustCall(t, f, 11)
	if r := runs.Load() - before; r != 0 {
		t.Fatalf("fn ran %d times for keys kept before an oversized value (Info %+v)", r, f.Info())
	}
}
