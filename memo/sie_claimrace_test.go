package memo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestExpiredKeyClaimedAtOnceLooksUpAgain: a process that read the
// expired record, and then took the claim at once because the process
// that recomputed the key had just stored its result and released the
// claim (between this one's read and its TryClaim), must look the key up
// again, as Acquire does ("claimed: unless the value arrived since the
// caller's miss"), and serve the fresh value. claimExpired looked it up
// again only if it had waited for the claim: fn ran twice for one expiry,
// and the second process overwrote the first's result. The follower's
// TTLFunc, which decode calls, holds its read of the expired record until
// the holder's process has recomputed and stored the key.
func TestExpiredKeyClaimedAtOnceLooksUpAgain(t *testing.T) {
	ctx := context.Background()
	a, b := openFilePair(t)

	var runs atomic.Int64
	fn := func(context.Context, int) (int64, error) {
		return runs.Add(1), nil
	}
	var gate atomic.Bool
	entered, let := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ttlB := func(int, int64) time.Duration {
		if gate.Load() {
			once.Do(func() {
				close(entered)
				<-let
			})
		}
		return 100 * time.Millisecond
	}
	fa, err := memo.New(a, "sie", fn, memo.MaxSize(0), memo.TTL(100*time.Millisecond), memo.StaleIfError(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := memo.New(b, "sie", fn, memo.MaxSize(0), memo.TTLFunc(ttlB), memo.StaleIfError(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fa.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the TTL, kept for StaleIfError
	runs.Store(0)

	gate.Store(true)
	type res struct {
		v   int64
		err error
	}
	done := make(chan res, 1)
	go func() {
		v, err := fb.Call(ctx, 1)
		done <- res{v, err}
	}()
	select {
	case <-entered: // the follower has read the expired record
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not read the record")
	}
	// Meanwhile the holder's process recomputes the key and stores it,
	// which ends its claim.
	va, err := fa.Call(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	gate.Store(false)
	close(let)
	var r res
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower's Call did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n := runs.Load(); n != 1 || r.v != va {
		t.Errorf("fn ran %d times for one expiry (want 1); the follower got %d, the holder's process %d: the follower took the claim the holder's process had just released and recomputed the key without looking it up again, though a fresh value was stored", n, r.v, va)
	}
}
