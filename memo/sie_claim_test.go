package memo_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/redisstore"
)

// TestStaleIfErrorOneComputationAcrossProcesses: past its TTL, an entry
// kept for StaleIfError's fallback is in the store, and every process that
// calls its key finds it, cannot serve it, and must recompute. One process
// must compute it while the others wait for its result, as for a key
// that is missing: before, the store's Acquire reported the key found,
// claimed nothing, and every process ran fn. Two stores on one file (a
// holder and a follower) and two clients of one Redis call the key at
// once, with fn taking 200 ms: fn must run once.
func TestStaleIfErrorOneComputationAcrossProcesses(t *testing.T) {
	openPair := map[string]func(t *testing.T) (a, b *store.Store){
		"file": func(t *testing.T) (a, b *store.Store) { return openFilePair(t) },
		"redis": func(t *testing.T) (a, b *store.Store) {
			url := redistest.URL(t)
			prefix := redistest.Prefix(t, url)
			return mustOpen(t, url, redisstore.WithPrefix(prefix)), mustOpen(t, url, redisstore.WithPrefix(prefix))
		},
	}
	for name, open := range openPair {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var runs atomic.Int64
			fn := func(context.Context, int) (int64, error) {
				n := runs.Add(1)
				time.Sleep(200 * time.Millisecond)
				return n, nil
			}
			a, b := open(t)
			fs := sieFuncs(t, fn, a, b)
			if _, err := fs[0].Call(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(150 * time.Millisecond) // past the TTL, within the fallback's grace
			runs.Store(0)
			var wg sync.WaitGroup
			got := make([]int64, 2)
			for i, f := range fs {
				wg.Go(func() {
					v, err := f.Call(ctx, 1)
					if err != nil {
						t.Errorf("Call in process %d: %v", i, err)
					}
					got[i] = v
				})
			}
			wg.Wait()
			if n := runs.Load(); n != 1 {
				t.Errorf("fn ran %d times for one expired key in two processes, want 1 (the other waits for its result)", n)
			}
			if got[0] != got[1] {
				t.Errorf("the two processes got %d and %d, want the one computation's", got[0], got[1])
			}
		})
	}
}

// sieFuncs returns a Func of fn named "sie" on each store, with no memory
// tier, a TTL of 100 ms and StaleIfError for an hour.
func sieFuncs(t *testing.T, fn func(context.Context, int) (int64, error), stores ...*store.Store) []*memo.Func[int, int64] {
	t.Helper()
	var fs []*memo.Func[int, int64]
	for _, s := range stores {
		f, err := memo.New(s, "sie", fn, memo.MaxSize(0), memo.TTL(100*time.Millisecond), memo.StaleIfError(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	return fs
}

func mustOpen(t testing.TB, path string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStaleIfErrorFallsBackInEachProcess: while the source is down, the
// process that waited for another's recomputation of an expired key, which
// failed, runs fn in turn and falls back to the stale value too: neither
// gets an error.
func TestStaleIfErrorFallsBackInEachProcess(t *testing.T) {
	ctx := context.Background()
	a, b := openFilePair(t)
	var runs atomic.Int64
	var down atomic.Bool
	fn := func(context.Context, int) (int64, error) {
		n := runs.Add(1)
		time.Sleep(100 * time.Millisecond)
		if down.Load() {
			return 0, errSourceDown
		}
		return n, nil
	}
	fs := sieFuncs(t, fn, a, b)
	first, err := fs[0].Call(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	down.Store(true)
	runs.Store(0)
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() {
			if v, err := f.Call(ctx, 1); err != nil || v != first {
				t.Errorf("process %d: %d, %v; want the stale %d", i, v, err, first)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 2 {
		t.Errorf("fn ran %d times, want 2: once in each process, in turn", n)
	}
}

var errSourceDown = errors.New("source down")
