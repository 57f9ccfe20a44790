package memo_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func TestPeekNeverRuns(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		var runs atomic.Int64
		f, err := memo.New(s, "p", counted(&runs), memo.MaxSize(1))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if v, ok := f.Peek(ctx, 1); ok || v != 0 {
			t.Fatalf("Peek of an empty cache = %d, %v", v, ok)
		}
		mustCall(t, f, 1)
		mustCall(t, f, 2) // evicts 1 from memory
		v, ok := f.Peek(ctx, 1)
		if s != nil && (!ok || v != 2) {
			t.Fatalf("Peek(1) = %d, %v; want 2 from the store", v, ok)
		}
		if s == nil && ok {
			t.Fatalf("Peek(1) = %d after its eviction from a memory-only Func", v)
		}
		if v, ok := f.Peek(ctx, 2); !ok || v != 4 {
			t.Fatalf("Peek(2) = %d, %v; want 4 from memory", v, ok)
		}
		if runs.Load() != 2 {
			t.Fatalf("runs = %d, want 2: Peek ran fn", runs.Load())
		}
		if i := f.Info(); i.Hits != 0 || i.Misses != 2 {
			t.Fatalf("Info = %v: Peek counted", i)
		}
	})
}

func TestSetReplacesBothTiers(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		var runs atomic.Int64
		f, err := memo.New(s, "s", counted(&runs), memo.MaxSize(1))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mustCall(t, f, 1)
		if err := f.Set(ctx, 1, 100); err != nil {
			t.Fatal(err)
		}
		if v := mustCall(t, f, 1); v != 100 {
			t.Fatalf("Call after Set = %d, want 100", v)
		}
		if err := f.Set(ctx, 3, 300); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			mustCall(t, f, 2) // evicts 3 from memory
			if v := mustCall(t, f, 3); v != 300 {
				t.Fatalf("Call from the store after Set = %d, want 300", v)
			}
		}
		if runs.Load() > 2 {
			t.Fatalf("runs = %d: a Set value was recomputed", runs.Load())
		}
	})
}

func TestSetWinsAgainstRunningComputation(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{})
	f, err := memo.New(openStore(t), "s", func(context.Context, int) (int, error) {
		close(entered)
		<-gate
		return 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() { done <- mustCall(t, f, 1) }()
	<-entered
	if err := f.Set(context.Background(), 1, 2); err != nil {
		t.Fatal(err)
	}
	close(gate)
	<-done
	if v := mustCall(t, f, 1); v != 2 {
		t.Fatalf("Call after Set = %d, want the Set value 2, not the older computation's", v)
	}
}

func TestRefreshRunsAndReplaces(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		var ver atomic.Int64
		f, err := memo.New(s, "r", func(context.Context, int) (int64, error) { return ver.Load(), nil })
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mustCall(t, f, 1)
		ver.Store(7)
		if v := mustCall(t, f, 1); v != 0 {
			t.Fatalf("cached = %d", v)
		}
		if v, err := f.Refresh(ctx, 1); err != nil || v != 7 {
			t.Fatalf("Refresh = %d, %v; want 7", v, err)
		}
		if v := mustCall(t, f, 1); v != 7 {
			t.Fatalf("Call after Refresh = %d, want 7", v)
		}
		if i := f.Info(); i.Refreshes != 1 {
			t.Fatalf("Info = %+v, want 1 refresh", i)
		}
	})
}

func TestRefreshErrorKeepsCachedValue(t *testing.T) {
	fail := false
	f, err := memo.New(openStore(t), "r", func(_ context.Context, x int) (int, error) {
		if fail {
			return 0, errors.New("down")
		}
		return x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 5)
	fail = true
	if _, err := f.Refresh(context.Background(), 5); err == nil {
		t.Fatal("Refresh hid fn's error")
	}
	if v := mustCall(t, f, 5); v != 5 {
		t.Fatalf("after a failed Refresh, Call = %d, want the cached 5", v)
	}
}

func TestTTLFunc(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := store.Open(t.TempDir()+"/c.db", store.WithSweepInterval(time.Hour), store.WithoutControl())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var runs atomic.Int64
		// Key 1 lives a minute, key 2 forever, key 3 is not cached.
		ttl := func(k, _ int) time.Duration {
			return map[int]time.Duration{1: time.Minute, 2: 0, 3: -1}[k]
		}
		f, err := memo.New(s, "t", counted(&runs), memo.TTLFunc(ttl))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{1, 2, 3, 1, 2, 3} {
			mustCall(t, f, k)
		}
		if runs.Load() != 4 {
			t.Fatalf("runs = %d, want 4: keys 1 and 2 cached, 3 not", runs.Load())
		}
		time.Sleep(time.Minute)
		mustCall(t, f, 1)
		mustCall(t, f, 2)
		if runs.Load() != 5 {
			t.Fatalf("runs = %d, want 5: key 1 expired, key 2 not", runs.Load())
		}
	})
}

func TestTTLFuncChecked(t *testing.T) {
	fn := counted(new(atomic.Int64))
	_, err := memo.New(nil, "t", fn, memo.TTLFunc(func(string, int) time.Duration { return 0 }))
	if err == nil || !strings.Contains(err.Error(), "TTLFunc") {
		t.Fatalf("TTLFunc of other types: %v, want an error", err)
	}
	_, err = memo.New(nil, "t", fn, memo.TTL(time.Second), memo.TTLFunc(func(int, int) time.Duration { return 0 }))
	if err == nil {
		t.Fatal("TTL and TTLFunc both accepted")
	}
}

func TestErrorTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		errDown := errors.New("down")
		f, err := memo.New(nil, "e", func(context.Context, int) (int, error) {
			runs.Add(1)
			return 0, errDown
		}, memo.ErrorTTL(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for range 3 {
			if _, err := f.Call(ctx, 1); !errors.Is(err, errDown) {
				t.Fatalf("Call = %v", err)
			}
		}
		if runs.Load() != 1 || f.Info().CachedErrors != 2 {
			t.Fatalf("runs = %d, info %+v; want 1 run and 2 cached errors", runs.Load(), f.Info())
		}
		time.Sleep(time.Second)
		f.Call(ctx, 1)
		if runs.Load() != 2 {
			t.Fatalf("runs = %d after ErrorTTL, want 2", runs.Load())
		}
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		f.Call(ctx, 1)
		if runs.Load() != 3 {
			t.Fatalf("runs = %d after Forget, want 3: Forget drops a cached error", runs.Load())
		}
	})
}
