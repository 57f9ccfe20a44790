package memostore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// stressKey is the key type of the stress test's second function: a
// struct key takes the codec's reflective path.
type stressKey struct {
	A int
	B string
}

type stressVal struct {
	Sum   int
	Parts []string
}

func stressSquare(k int) int { return k*k + 7 }

func stressJoin(k stressKey) stressVal {
	return stressVal{Sum: k.A + len(k.B), Parts: []string{k.B, strings.Repeat("p", k.A%50)}}
}

// TestStress runs 32 goroutines against one store and three memoized
// functions for a few seconds: Calls on hot and cold keys, Forget, Clear,
// Sweep, Flush and Stats, with every value checked against the pure
// function. Then Close, with more calls racing it. Afterwards the file
// passes Check, Close is idempotent, every store call returns ErrClosed,
// and no goroutine is left.
func TestStress(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	d := 3 * time.Second
	if *long {
		d = 30 * time.Second
	}
	path := filepath.Join(t.TempDir(), "stress.db")
	s, err := store.Open(path, store.WithLogger(nil), store.WithSweepInterval(50*time.Millisecond),
		store.WithMaxBytes(256<<10), store.WithQueueBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	square, err := memo.New(s, "square", func(_ context.Context, k int) (int, error) {
		runs.Add(1)
		return stressSquare(k), nil
	}, memo.MaxSize(32))
	if err != nil {
		t.Fatal(err)
	}
	join, err := memo.New(s, "join", func(_ context.Context, k stressKey) (stressVal, error) {
		runs.Add(1)
		return stressJoin(k), nil
	}, memo.MaxSize(8), memo.TTL(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// A memory-tier-less function: every call reaches the file.
	disk, err := memo.New(s, "disk", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		return fmt.Sprint("d", k), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	var (
		closing atomic.Bool // Close has begun: store calls may fail with ErrClosed
		stop    atomic.Bool
		ops     atomic.Int64
		wg      sync.WaitGroup
	)
	// storeErr fails the test for an error that is not ErrClosed after Close.
	storeErr := func(what string, err error) {
		if err == nil || closing.Load() && errors.Is(err, store.ErrClosed) {
			return
		}
		t.Errorf("%s: %v", what, err)
	}
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for !stop.Load() {
				ops.Add(1)
				switch n := r.IntN(1000); {
				case n < 400: // hot keys
					k := r.IntN(16)
					if v, err := square.Call(ctx, k); err != nil || v != stressSquare(k) {
						t.Errorf("square.Call(%d) = %d, %v; want %d", k, v, err, stressSquare(k))
					}
				case n < 600: // cold keys
					k := r.IntN(20000)
					if v, err := square.Call(ctx, k); err != nil || v != stressSquare(k) {
						t.Errorf("square.Call(%d) = %d, %v; want %d", k, v, err, stressSquare(k))
					}
				case n < 750:
					k := stressKey{A: r.IntN(64), B: fmt.Sprint("b", r.IntN(8))}
					v, err := join.Call(ctx, k)
					if want := stressJoin(k); err != nil || v.Sum != want.Sum || len(v.Parts) != 2 || v.Parts[0] != want.Parts[0] || v.Parts[1] != want.Parts[1] {
						t.Errorf("join.Call(%v) = %v, %v; want %v", k, v, err, want)
					}
				case n < 900:
					k := r.IntN(64)
					if v, err := disk.Call(ctx, k); err != nil || v != fmt.Sprint("d", k) {
						t.Errorf("disk.Call(%d) = %q, %v", k, v, err)
					}
				case n < 940:
					storeErr("square.Forget", square.Forget(ctx, r.IntN(16)))
				case n < 960:
					storeErr("disk.Forget", disk.Forget(ctx, r.IntN(64)))
				case n < 965:
					storeErr("join.Clear", join.Clear(ctx))
				case n < 967:
					storeErr("square.Clear", square.Clear(ctx))
				case n < 968:
					storeErr("Store.Clear", s.Clear(ctx, "disk"))
				case n < 975:
					_, err := s.Sweep(ctx)
					storeErr("Sweep", err)
				case n < 985:
					storeErr("Flush", s.Flush(ctx))
				default:
					st := s.Stats()
					if st.Entries < 0 || st.Bytes < 0 || st.QueuedBytes < 0 || st.QueuedBytes > 64<<10 {
						t.Errorf("Stats: entries %d, bytes %d, queued bytes %d", st.Entries, st.Bytes, st.QueuedBytes)
					}
					for _, ns := range st.Namespaces {
						if ns.Entries < 0 || ns.Bytes < 0 || ns.Hits < 0 || ns.Misses < 0 {
							t.Errorf("Stats of %q: %+v", ns.Name, ns)
						}
					}
				}
			}
		})
	}
	time.Sleep(d)

	// Quiesce, and the counters must agree with the data.
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("Check after the stress: %s", strings.Join(rep.Problems, "\n"))
	}
	if st := s.Stats(); st.Bytes > 256<<10 {
		t.Errorf("after Flush, %d bytes stored, over WithMaxBytes(%d)", st.Bytes, 256<<10)
	}

	// Close while calls are still coming: they keep their values, and
	// store calls fail only with ErrClosed.
	stop.Store(false)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := (g*7919 + i) % 20000
				if v, err := square.Call(ctx, k); err != nil || v != stressSquare(k) {
					t.Errorf("square.Call(%d) during Close = %d, %v", k, v, err)
				}
				storeErr("Forget during Close", disk.Forget(ctx, i%64))
				storeErr("Flush during Close", s.Flush(ctx))
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	closing.Store(true)
	first := s.Close()
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if first != nil {
		t.Fatalf("Close: %v", first)
	}
	var closes sync.WaitGroup
	for range 4 {
		closes.Go(func() {
			if err := s.Close(); err != first {
				t.Errorf("Close again = %v, want the first Close's %v", err, first)
			}
		})
	}
	closes.Wait()

	after := map[string]error{
		"Flush":         s.Flush(ctx),
		"Clear":         s.Clear(ctx, ""),
		"square.Clear":  square.Clear(ctx),
		"square.Forget": square.Forget(ctx, 1),
	}
	_, after["Sweep"] = s.Sweep(ctx)
	_, after["Check"] = s.Check(ctx, false, nil)
	_, after["Inspect"] = s.Inspect(ctx)
	_, after["memo.New"] = memo.New(s, "late", func(_ context.Context, k int) (int, error) { return k, nil })
	for what, err := range after {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", what, err)
		}
	}
	// A closed store never fails a Call.
	if v, err := square.Call(ctx, 123457); err != nil || v != stressSquare(123457) {
		t.Errorf("Call after Close = %d, %v", v, err)
	}
	t.Logf("%d operations, %d runs of the functions", ops.Load(), runs.Load())

	// And the file is whole.
	ro, err := store.Open(path, store.WithReadOnly(), store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rep, err := ro.Check(ctx, false, nil); err != nil || !rep.OK() {
		t.Fatalf("Check after Close: %v %v", err, rep.Problems)
	}
}
