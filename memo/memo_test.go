package memo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openStore(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "cache.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// counted returns a function that doubles its argument and counts its runs.
func counted(runs *atomic.Int64) func(context.Context, int) (int, error) {
	return func(_ context.Context, x int) (int, error) {
		runs.Add(1)
		return 2 * x, nil
	}
}

func mustCall[K comparable, V any](t testing.TB, f *memo.Func[K, V], k K) V {
	t.Helper()
	v, err := f.Call(context.Background(), k)
	if err != nil {
		t.Fatalf("Call(%v): %v", k, err)
	}
	return v
}

// withAndWithoutStore runs test on a memory-only Func's store (nil), on a
// real one, and on a follower of a file that another store holds.
func withAndWithoutStore(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, nil) })
	t.Run("store", func(t *testing.T) { test(t, openStore(t)) })
	t.Run("follower", func(t *testing.T) { test(t, openFollower(t)) })
}

// openFollower opens a file twice: the store it returns follows the
// first, its holder, which stays open until the test ends.
func openFollower(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	_, follower := openFilePair(t, opts...)
	return follower
}

// openFilePair opens one file twice: a holder, then a follower of it,
// both closed when the test ends.
func openFilePair(t testing.TB, opts ...store.Option) (holder, follower *store.Store) {
	t.Helper()
	dir, err := os.MkdirTemp("", "memo") // short: the control socket's path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.db")
	holder, follower = mustOpen(t, path, opts...), mustOpen(t, path, opts...)
	if follower.Role() != store.RoleFollower {
		t.Fatalf("second Open: %v, want a follower", follower.Role())
	}
	return holder, follower
}

func TestErrorsAreReturnedNotCached(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		errBoom := errors.New("boom")
		var runs atomic.Int64
		fail := true
		f, err := memo.New(s, "f", func(_ context.Context, x int) (int, error) {
			runs.Add(1)
			if fail {
				return 0, fmt.Errorf("wrapped: %w", errBoom)
			}
			return x, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Call(context.Background(), 1); !errors.Is(err, errBoom) || err.Error() != "wrapped: boom" {
			t.Fatalf("Call = %v, want fn's error unchanged", err)
		}
		fail = false
		if v := mustCall(t, f, 1); v != 1 || runs.Load() != 2 {
			t.Fatalf("after an error: v=%d runs=%d, want 1 and 2 (error not cached)", v, runs.Load())
		}
		if info := f.Info(); info.Misses != 2 || info.Hits != 0 {
			t.Errorf("Info = %v, want 2 misses", info)
		}
	})
}

func TestPanicReachesCallerAndKeyRecovers(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		panicking := true
		f, err := memo.New(s, "p", func(_ context.Context, x int) (int, error) {
			if panicking {
				panic("fn exploded")
			}
			return x + 1, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != "fn exploded" {
					t.Fatalf("recovered %v, want fn's panic value", r)
				}
			}()
			f.Call(context.Background(), 7)
			t.Fatal("Call returned after fn panicked")
		}()
		panicking = false
		done := make(chan int)
		go func() { done <- mustCall(t, f, 7) }()
		select {
		case v := <-done:
			if v != 8 {
				t.Fatalf("after panic: %d, want 8", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("key wedged after a panic")
		}
	})
}

func TestOneComputationPerKey(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		var runs atomic.Int64
		gate := make(chan struct{})
		f, err := memo.New(s, "slow", func(_ context.Context, x int) (string, error) {
			runs.Add(1)
			<-gate
			return fmt.Sprint("v", x), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		const callers = 64
		var wg sync.WaitGroup
		results := make([]string, callers)
		for i := range callers {
			wg.Go(func() { results[i] = mustCall(t, f, 42) })
		}
		time.Sleep(50 * time.Millisecond) // let every caller reach the flight
		close(gate)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("fn ran %d times for one key, want 1", runs.Load())
		}
		for i, r := range results {
			if r != "v42" {
				t.Fatalf("caller %d got %q", i, r)
			}
		}
		if info := f.Info(); info.Hits != callers-1 || info.Misses != 1 {
			t.Errorf("Info = %v, want %d hits and 1 miss", info, callers-1)
		}
	})
}

func TestCancelledWaiterLeavesAtOnce(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{})
	f, err := memo.New(nil, "slow", func(_ context.Context, x int) (int, error) {
		close(entered)
		<-gate
		return x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	leader := make(chan error, 1)
	go func() {
		_, err := f.Call(context.Background(), 1)
		leader <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, err := f.Call(ctx, 1)
		waiter <- err
	}()
	cancel()
	select {
	case err := <-waiter:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled waiter still waiting for the leader")
	}
	close(gate)
	if err := <-leader; err != nil {
		t.Fatalf("leader failed after a waiter's cancellation: %v", err)
	}
}

func TestLeaderCancellationDoesNotFailWaiters(t *testing.T) {
	var runs atomic.Int64
	entered := make(chan struct{}, 2)
	f, err := memo.New(nil, "slow", func(ctx context.Context, x int) (int, error) {
		if runs.Add(1) == 1 {
			entered <- struct{}{}
			<-ctx.Done() // the first run honours its caller's cancellation
			return 0, ctx.Err()
		}
		return x * 10, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := f.Call(ctx, 3)
		leader <- err
	}()
	<-entered
	waiter := make(chan int, 1)
	go func() { waiter <- mustCall(t, f, 3) }()
	time.Sleep(10 * time.Millisecond) // let the waiter join the flight
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want its own cancellation", err)
	}
	if v := <-waiter; v != 30 {
		t.Fatalf("waiter got %d, want 30 from a fresh run", v)
	}
}

func TestMaxSizeZeroStillUsesStore(t *testing.T) {
	s := openStore(t)
	var runs atomic.Int64
	f, err := memo.New(s, "f", counted(&runs), memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v := mustCall(t, f, 5); v != 10 {
			t.Fatalf("got %d", v)
		}
	}
	info := f.Info()
	if runs.Load() != 1 || info.Misses != 1 || info.Hits != 2 || info.DiskHits != 2 || info.CurrSize != 0 || info.MaxSize != 0 {
		t.Fatalf("runs=%d Info=%v; want 1 run, 2 disk hits, no memory tier", runs.Load(), info)
	}
}

func TestUnboundedMaxSize(t *testing.T) {
	var runs atomic.Int64
	f, err := memo.New(nil, "f", counted(&runs), memo.MaxSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		mustCall(t, f, i)
	}
	if info := f.Info(); info.CurrSize != 1000 || info.MaxSize != -1 {
		t.Fatalf("Info = %v, want currsize 1000, maxsize -1", info)
	}
	if info := (memo.Info{}); info.String() != "CacheInfo(hits=0, misses=0, maxsize=0, currsize=0, diskhits=0)" {
		t.Fatalf("String = %s", info)
	}
}

func TestDefaultMaxSize(t *testing.T) {
	f, err := memo.New(nil, "f", counted(new(atomic.Int64)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		mustCall(t, f, i)
	}
	if info := f.Info(); info.MaxSize != memo.DefaultMaxSize || info.CurrSize != memo.DefaultMaxSize {
		t.Fatalf("Info = %v, want maxsize = currsize = %d", info, memo.DefaultMaxSize)
	}
}

func TestClearAndForget(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		var runs atomic.Int64
		f, err := memo.New(s, "f", counted(&runs))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mustCall(t, f, 1)
		mustCall(t, f, 2)
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1) // recomputed
		mustCall(t, f, 2) // still cached
		if runs.Load() != 3 {
			t.Fatalf("runs = %d after Forget, want 3", runs.Load())
		}
		if err := f.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if info := f.Info(); info != (memo.Info{MaxSize: memo.DefaultMaxSize}) {
			t.Fatalf("Info after Clear = %v, want zeros", info)
		}
		mustCall(t, f, 2)
		if runs.Load() != 4 {
			t.Fatalf("runs = %d after Clear, want 4 (both tiers cleared)", runs.Load())
		}
		if s != nil {
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Entries != 1 {
				t.Errorf("store entries = %d after Clear and one call, want 1", st.Entries)
			}
		}
	})
}

func TestSameNameTwiceOnOneStore(t *testing.T) {
	s := openStore(t)
	if _, err := memo.New(s, "dup", counted(new(atomic.Int64))); err != nil {
		t.Fatal(err)
	}
	_, err := memo.New(s, "dup", counted(new(atomic.Int64)))
	if err == nil || !strings.Contains(err.Error(), "dup") {
		t.Fatalf("second New with the same name: %v, want an error naming it", err)
	}
}

type withPointer struct {
	ID   int
	Next *withPointer
}

type hidden struct {
	Name  string
	score int
}

func TestNewRejectsUnfaithfulTypes(t *testing.T) {
	s := openStore(t)
	fnK := func(context.Context, withPointer) (int, error) { return 0, nil }
	if _, err := memo.New(s, "k", fnK); err == nil || !strings.Contains(err.Error(), "Next") {
		t.Errorf("pointer in key: %v, want an error naming field Next", err)
	}
	fnV := func(context.Context, int) (hidden, error) { return hidden{}, nil }
	if _, err := memo.New(s, "v", fnV); err == nil || !strings.Contains(err.Error(), "score") {
		t.Errorf("unexported value field: %v, want an error naming field score", err)
	}
	fnI := func(context.Context, any) (int, error) { return 0, nil }
	if _, err := memo.New(s, "i", fnI); err == nil || !strings.Contains(err.Error(), "interface") {
		t.Errorf("interface key: %v, want an error", err)
	}
	// Without a store nothing is encoded, so any comparable key will do.
	if _, err := memo.New(nil, "k", fnK); err != nil {
		t.Errorf("memory-only with a pointer key: %v", err)
	}
	if _, err := memo.New[int, int](s, "nil", nil); err == nil {
		t.Error("nil fn accepted")
	}
}

func TestTTLInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		f, err := memo.New(nil, "f", counted(&runs), memo.TTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1)
		time.Sleep(59 * time.Second)
		mustCall(t, f, 1)
		if runs.Load() != 1 {
			t.Fatalf("expired early: runs = %d", runs.Load())
		}
		time.Sleep(time.Second)
		mustCall(t, f, 1)
		if runs.Load() != 2 {
			t.Fatalf("not expired after the TTL: runs = %d", runs.Load())
		}
	})
}

func TestTTLInBothTiers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithSweepInterval(time.Hour), store.WithoutControl())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var runs atomic.Int64
		f, err := memo.New(s, "f", counted(&runs), memo.TTL(time.Minute), memo.MaxSize(0))
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1)
		time.Sleep(30 * time.Second)
		mustCall(t, f, 1)
		if runs.Load() != 1 || f.Info().DiskHits != 1 {
			t.Fatalf("before expiry: runs=%d info=%v, want a disk hit", runs.Load(), f.Info())
		}
		time.Sleep(31 * time.Second)
		mustCall(t, f, 1)
		if runs.Load() != 2 {
			t.Fatalf("expired entry served from disk: runs = %d", runs.Load())
		}
	})
}

func TestStoreCountersFollowCalls(t *testing.T) {
	s := openStore(t)
	f, err := memo.New(s, "f", counted(new(atomic.Int64)), memo.MaxSize(1))
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 1) // miss
	mustCall(t, f, 1) // memory hit
	mustCall(t, f, 2) // miss, evicts 1 from memory
	mustCall(t, f, 1) // disk hit
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ns := s.Stats().Namespaces[0]
	if ns.Hits != 2 || ns.Misses != 2 || ns.DiskHits != 1 || ns.Entries != 2 {
		t.Fatalf("store counters %+v, want hits 2, misses 2, disk hits 1, entries 2", ns)
	}
	if info := f.Info(); info.Hits != 2 || info.Misses != 2 || info.DiskHits != 1 {
		t.Fatalf("Info = %v", info)
	}
}

func TestCallAfterStoreClosedStillComputes(t *testing.T) {
	s := openStore(t)
	var runs atomic.Int64
	f, err := memo.New(s, "f", counted(&runs), memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v, err := f.Call(context.Background(), 4); err != nil || v != 8 {
		t.Fatalf("Call on a closed store = %d, %v; want the computed value", v, err)
	}
}
