package memo_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// pausingClock is a store clock that a test can arm once: the first Now
// after arm blocks until release, after telling the test through paused. memo
// reads the store's clock when it stores a computed result, so arming it
// at the end of fn stops the leader just before it stores.
type pausingClock struct {
	mu      sync.Mutex
	armed   bool
	fired   bool
	paused  chan struct{}
	release chan struct{}
}

func newPausingClock() *pausingClock {
	return &pausingClock{paused: make(chan struct{}), release: make(chan struct{})}
}

func (c *pausingClock) arm() {
	c.mu.Lock()
	c.armed = !c.fired
	c.mu.Unlock()
}

func (c *pausingClock) Now() time.Time {
	c.mu.Lock()
	armed := c.armed
	c.armed = false
	c.fired = c.fired || armed
	c.mu.Unlock()
	if armed {
		close(c.paused)
		<-c.release
	}
	return time.Now()
}

// versioned returns a function whose result for any key is the version
// current when it starts, and the version counter; arm, if not nil, is
// called as fn returns.
func versioned(arm func()) (func(context.Context, int) (int64, error), *atomic.Int64) {
	ver := new(atomic.Int64)
	return func(_ context.Context, _ int) (int64, error) {
		v := ver.Load()
		if arm != nil {
			arm()
		}
		return v, nil
	}, ver
}

// reopenAndCall closes s, reopens its file and returns what a new Func
// with fn's namespace gives for key 1, and whether it ran fn.
func reopenAndCall(t *testing.T, s *store.Store, name string) (int64, bool) {
	t.Helper()
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(path, store.WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ran := false
	f, err := memo.New(s2, name, func(context.Context, int) (int64, error) { ran = true; return -1, nil }, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	return mustCall(t, f, 1), ran
}

// TestInvalidationWinsAgainstAStoringComputation pins issue items 1 and 2:
// a leader paused after fn returned, just before it stores its result,
// must not store it once Forget, Func.Clear or Store.Clear has run.
func TestInvalidationWinsAgainstAStoringComputation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invalidate func(context.Context, *store.Store, *memo.Func[int, int64]) error
	}{
		{"Forget", func(ctx context.Context, _ *store.Store, f *memo.Func[int, int64]) error { return f.Forget(ctx, 1) }},
		{"Func.Clear", func(ctx context.Context, _ *store.Store, f *memo.Func[int, int64]) error { return f.Clear(ctx) }},
		{"Store.Clear", func(ctx context.Context, s *store.Store, _ *memo.Func[int, int64]) error { return s.Clear(ctx, "v") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newPausingClock()
			s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithClock(clock), store.WithoutControl(), store.WithSweepInterval(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fn, ver := versioned(clock.arm)
			f, err := memo.New(s, "v", fn)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			first := make(chan int64)
			go func() { first <- mustCall(t, f, 1) }()
			<-clock.paused // fn returned version 0; the leader is about to store it
			ver.Add(1)
			invalidated := make(chan error)
			go func() { invalidated <- tc.invalidate(ctx, s, f) }()
			select {
			case err := <-invalidated:
				if err != nil {
					t.Fatal(err)
				}
				close(clock.release)
			case <-time.After(200 * time.Millisecond):
				// An implementation may make the invalidation wait for
				// the store in progress: let it go on.
				close(clock.release)
				if err := <-invalidated; err != nil {
					t.Fatal(err)
				}
			}
			if v := <-first; v != 0 {
				t.Fatalf("first call = %d, want 0", v)
			}
			if v := mustCall(t, f, 1); v != 1 {
				t.Fatalf("Call after %s returned = version %d, want 1 (the value computed before it came back)", tc.name, v)
			}
			if v, _ := reopenAndCall(t, s, "v"); v == 0 {
				t.Fatalf("after %s and a reopen, the file holds version 0", tc.name)
			}
		})
	}
}

// TestNoOldValueAfterInvalidation pins items 1, 2 and 3 without hooks: Calls
// run against Forgets and Clears, and a Call that starts after one returned
// must never get a version computed before it started.
func TestNoOldValueAfterInvalidation(t *testing.T) {
	const keys = 4
	for _, kind := range []string{"Forget", "Func.Clear", "Store.Clear"} {
		rounds := 3000
		if kind != "Forget" {
			rounds = 300 // each waits for a commit
		}
		t.Run(kind, func(t *testing.T) {
			s := openStore(t)
			var ver [keys]atomic.Int64
			f, err := memo.New(s, "n", func(_ context.Context, k int) (int64, error) {
				v := ver[k].Load()
				if k%2 == 0 {
					// Slow keys, whose computations span invalidations.
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				}
				return v, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var floor [keys]atomic.Int64 // set once an invalidation of version floor-1 returned
			var stop atomic.Bool
			var wg sync.WaitGroup
			var stale atomic.Int64
			for g := range 4 {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						k := (g + i) % keys
						want := floor[k].Load()
						v, err := f.Call(ctx, k)
						if err != nil {
							t.Error(err)
							return
						}
						if v < want {
							stale.Add(1)
						}
					}
				})
			}
			for r := range rounds {
				k := r % keys
				var err error
				switch kind {
				case "Forget":
					v := ver[k].Add(1)
					err = f.Forget(ctx, k)
					floor[k].Store(v)
				default:
					var vs [keys]int64
					for k := range keys {
						vs[k] = ver[k].Add(1)
					}
					if kind == "Func.Clear" {
						err = f.Clear(ctx)
					} else {
						err = s.Clear(ctx, "n")
					}
					for k := range keys {
						floor[k].Store(vs[k])
					}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			stop.Store(true)
			wg.Wait()
			if n := stale.Load(); n > 0 {
				t.Fatalf("%d calls started after %s returned got a value computed before it", n, kind)
			}
		})
	}
}

// TestCallAfterForgetDoesNotJoinOldFlight pins item 3: a Call made after
// Forget returned runs fn rather than sharing a computation that began
// before it.
func TestCallAfterForgetDoesNotJoinOldFlight(t *testing.T) {
	withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
		gate := make(chan struct{})
		entered := make(chan struct{}, 2)
		var ver atomic.Int64
		f, err := memo.New(s, "j", func(_ context.Context, _ int) (int64, error) {
			v := ver.Load()
			entered <- struct{}{}
			if v == 0 {
				<-gate
			}
			return v, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		first := make(chan int64)
		go func() { first <- mustCall(t, f, 1) }()
		<-entered
		ver.Add(1)
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		second := make(chan int64)
		go func() { second <- mustCall(t, f, 1) }()
		select {
		case v := <-second:
			if v != 1 {
				t.Fatalf("Call after Forget = %d, want 1", v)
			}
		case <-time.After(time.Second):
			close(gate)
			t.Fatalf("Call after Forget waited for the computation that began before it (got %d)", <-second)
		}
		close(gate)
		<-first
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("later Call = %d, want 1", v)
		}
	})
}

// TestForgetOfAnotherKeyDoesNotStarve pins item 4: Forgets of other keys do
// not stop a key's result from being kept.
func TestForgetOfAnotherKeyDoesNotStarve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithSweepInterval(time.Hour), store.WithoutControl())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f, err := memo.New(s, "slow", func(_ context.Context, x int) (int, error) {
			time.Sleep(20 * time.Millisecond)
			return x, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := f.Forget(ctx, 2); err != nil && ctx.Err() == nil {
					t.Error(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
		for range 10 {
			mustCall(t, f, 1)
		}
		cancel()
		wg.Wait()
		if i := f.Info(); i.Hits != 9 || i.Misses != 1 {
			t.Fatalf("Info = %v, want 9 hits and 1 miss", i)
		}
	})
}

// TestTTLAppliesToEntriesStoredBefore pins item 5: an entry stored with no
// TTL, or a longer one, expires by the TTL in force when it is read.
func TestTTLAppliesToEntriesStoredBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.db")
		open := func() *store.Store { return bubbleStoreAt(t, path) }
		s := open()
		var runs atomic.Int64
		f, err := memo.New(s, "f", counted(&runs))
		if err != nil {
			t.Fatal(err)
		}
		mustCall(t, f, 1)
		mustCall(t, f, 2)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open()
		defer s.Close()
		f, err = memo.New(s, "f", counted(&runs), memo.TTL(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mustCall(t, f, 2) // from the file, fresh by the new TTL; now in memory too
		if runs.Load() != 2 {
			t.Fatalf("runs = %d, want 2: an entry 20 ms old is fresh with a 50 ms TTL", runs.Load())
		}
		time.Sleep(40 * time.Millisecond)
		mustCall(t, f, 2) // memory: stored 60 ms ago
		if runs.Load() != 3 {
			t.Fatalf("runs = %d, want 3: the memory tier served an entry stored 60 ms ago with a 50 ms TTL", runs.Load())
		}
		mustCall(t, f, 1) // file: stored 60 ms ago
		if runs.Load() != 4 {
			t.Fatalf("runs = %d, want 4: the file served an entry stored 60 ms ago with a 50 ms TTL", runs.Load())
		}
	})
}

// zoned is a value holding times, as an API response might.
type zoned struct {
	At   time.Time
	Tags []string
}

// TestSameValueFromEitherTier pins item 6: the leader, a memory hit and a
// disk hit return equal values, though the value's time is not in UTC and
// its slice empty.
func TestSameValueFromEitherTier(t *testing.T) {
	s := openStore(t)
	at := time.Date(2024, 3, 1, 12, 0, 0, 5, time.FixedZone("CET", 3600))
	f, err := memo.New(s, "z", func(context.Context, int) (zoned, error) {
		return zoned{At: at, Tags: []string{}}, nil
	}, memo.MaxSize(1))
	if err != nil {
		t.Fatal(err)
	}
	computed := mustCall(t, f, 1)
	fromMemory := mustCall(t, f, 1)
	mustCall(t, f, 2) // evicts 1 from memory
	fromFile := mustCall(t, f, 1)
	if f.Info().DiskHits != 1 {
		t.Fatalf("Info = %v, want a disk hit", f.Info())
	}
	if !reflect.DeepEqual(computed, fromMemory) || !reflect.DeepEqual(fromMemory, fromFile) {
		t.Fatalf("values differ by tier:\ncomputed %#v\nmemory   %#v\nfile     %#v", computed, fromMemory, fromFile)
	}
	if !fromFile.At.Equal(at) {
		t.Fatalf("time %v, want the instant %v", fromFile.At, at)
	}
}

// TestPanicNilIsAPanic pins item 7: under GODEBUG=panicnil=1, panic(nil) in
// fn reaches the caller as a panic, not as a zero value and a nil error. It
// runs itself in a child process with that setting.
func TestPanicNilIsAPanic(t *testing.T) {
	if os.Getenv("MEMO_TEST_PANICNIL") == "1" {
		f, err := memo.New(nil, "p", func(context.Context, int) (int, error) { panic(nil) })
		if err != nil {
			t.Fatal(err)
		}
		returned := false
		func() {
			defer func() { recover() }()
			f.Call(context.Background(), 1)
			returned = true
		}()
		if returned {
			t.Fatal("Call returned normally after fn called panic(nil)")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicNilIsAPanic$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEMO_TEST_PANICNIL=1", "GODEBUG=panicnil=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with GODEBUG=panicnil=1: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}

// TestWaiterPanicKeepsLeaderStack pins the second half of item 7: a waiter
// re-panics with a *memo.PanicError holding fn's value and the stack of
// the goroutine where fn panicked.
func TestWaiterPanicKeepsLeaderStack(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	f, err := memo.New(nil, "p", explodingFn(entered, release))
	if err != nil {
		t.Fatal(err)
	}
	call := func(got chan<- any) {
		defer func() { got <- recover() }()
		f.Call(context.Background(), 1)
	}
	leader, waiter := make(chan any, 1), make(chan any, 1)
	go call(leader)
	<-entered
	go call(waiter)
	time.Sleep(10 * time.Millisecond) // let the waiter join the flight
	close(release)
	if r := <-leader; r != "kaboom" {
		t.Errorf("leader recovered %v, want fn's own value", r)
	}
	r := <-waiter
	pe, ok := r.(*memo.PanicError)
	if !ok {
		t.Fatalf("waiter recovered %T %v, want *memo.PanicError", r, r)
	}
	if pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "explodingFn") {
		t.Fatalf("PanicError value %v, stack:\n%s\nwant fn's value and a stack through explodingFn", pe.Value, pe.Stack)
	}
	if !strings.Contains(pe.Error(), "kaboom") {
		t.Errorf("Error() = %q", pe.Error())
	}
}

func explodingFn(entered, release chan struct{}) func(context.Context, int) (int, error) {
	return func(context.Context, int) (int, error) {
		close(entered)
		<-release
		panic("kaboom")
	}
}

// TestStoreClearResetsInfo pins item 12: clearing a namespace through the
// store (what memoctl clear does on a live store) resets the Func's Info,
// as cache_clear does.
func TestStoreClearResetsInfo(t *testing.T) {
	s := openStore(t)
	f, err := memo.New(s, "i", counted(new(atomic.Int64)))
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 1)
	mustCall(t, f, 1)
	if err := s.Clear(context.Background(), "i"); err != nil {
		t.Fatal(err)
	}
	if i := f.Info(); i != (memo.Info{MaxSize: memo.DefaultMaxSize}) {
		t.Fatalf("Info after Store.Clear = %v, want zeros", i)
	}
}
