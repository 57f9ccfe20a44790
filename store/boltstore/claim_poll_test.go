package boltstore_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/boltstore"
	"github.com/memostore/memostore/store/driver"
)

// TestExpiredKeyWaitNotesOneLookup: memo's claimExpired waits for another
// process's recomputation of an expired key kept for StaleIfError. It
// looked the key up again after each pause (2 ms, 4 ms, ... 100 ms) with
// Namespace.Lookup, and the file's eviction noted every one of those looks
// as a lookup of its own: a hit in the key's use count and the sketch,
// and one more lookup (and hit) in the climber's sample, which tunes the
// window. Acquire's looks after its first are not noted (one request, one
// lookup: TestAcquireNotesOneLookup). One Call of the follower, waiting
// about a second for the holder's computation, noted a dozen lookups: a
// key waited on weighed as a key used a dozen times, and the climber
// sampled a hit ratio the program never had. It now asks for the claim
// while it waits, and looks the key up once it has it.
func TestExpiredKeyWaitNotesOneLookup(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(shortTempDir(t), "w.db")
	var holder *boltstore.Shared
	a, err := store.OpenBackend("bbolt", func(d driver.Options) (driver.Store, error) {
		o := boltstore.DefaultOptions()
		o.Options = d
		o.MaxBytes = 1 << 20
		o.SweepInterval = 0
		sh, err := boltstore.OpenShared(path, o)
		holder = sh
		return sh, err
	}, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := store.Open(path, store.WithLogger(nil), store.WithMaxBytes(1<<20), store.WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Role() != store.RoleFollower || holder.Following() {
		t.Fatalf("roles: a following %v, b %v", holder.Following(), b.Role())
	}

	var slow atomic.Bool
	fn := func(context.Context, int) (int64, error) {
		if slow.Load() {
			time.Sleep(time.Second)
		}
		return time.Now().UnixNano(), nil
	}
	opts := []memo.Option{memo.MaxSize(0), memo.TTL(100 * time.Millisecond), memo.StaleIfError(time.Hour)}
	fa, err := memo.New(a, "sie", fn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := memo.New(b, "sie", fn, opts...)
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

	// The holder's process recomputes the key, for a second.
	slow.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := fa.Call(ctx, 1)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // it holds the key's claim
	before := boltstore.LookupsNoted(holder)
	if _, err := fb.Call(ctx, 1); err != nil { // waits for it
		t.Fatal(err)
	}
	after := boltstore.LookupsNoted(holder)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if before < 0 {
		t.Fatal("no eviction policy at the holder")
	}
	if i := fb.Info(); i.Hits != 1 || i.Misses != 0 {
		t.Fatalf("precondition: the follower's Call was not served the holder's result: %+v", i)
	}
	if n := after - before; n > 2 {
		t.Errorf("one Call of the follower, which waited for the holder's recomputation, was noted as %d lookups by the file's eviction, want 1 (2 at most): each look of claimExpired's wait counts as a use", n)
	}
}
