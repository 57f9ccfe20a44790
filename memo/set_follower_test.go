package memo_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestFollowerSetUncacheableDuringForgetDoesNotStall: Set of a value its
// TTLFunc says not to cache deletes the key in the store. Set now does so
// inside its flight's keep, holding the flight's mu; on a follower the
// delete is a call to the holder whose reply the connection's read loop
// must read. If the holder pushes an invalidation of the key meanwhile (a
// Forget or Clear in another process), the read loop runs ForgetKey, which
// waits for that same mu: the reply is never read, the holder disconnects
// the follower after a second, and Set hangs until the call's one-minute
// limit. Before Set became a flight, its delete ran under no flight's mu.
func TestFollowerSetUncacheableDuringForgetDoesNotStall(t *testing.T) {
	dir, err := os.MkdirTemp("", "memo")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "c.db")
	holder, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	follower, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if follower.Role() != store.RoleFollower {
		t.Fatalf("role %v", follower.Role())
	}
	ttl := memo.TTLFunc(func(_ int, v int) time.Duration {
		if v < 0 {
			return -1 // do not cache
		}
		return time.Hour
	})
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	hf, err := memo.New(holder, "n", fn, ttl)
	if err != nil {
		t.Fatal(err)
	}
	ff, err := memo.New(follower, "n", fn, ttl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCall(t, ff, 1)

	stop := make(chan struct{})
	var sets atomic.Int64
	setDone := make(chan struct{})
	go func() {
		defer close(setDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = ff.Set(ctx, 1, -1)
			sets.Add(1)
		}
	}()
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = hf.Forget(ctx, 1)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	last, lastChange := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if n := sets.Load(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 1500*time.Millisecond {
			close(stop)
			// The stores are left open: closing waits for the stalled Set.
			t.Fatalf("the follower's Set(1, uncacheable) has not returned for %v (after %d Sets) while the holder forgets key 1: deadlocked with the push of the Forget",
				time.Since(lastChange).Round(time.Millisecond), n)
		}
	}
	close(stop)
	select {
	case <-setDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower's Set did not return")
	}
	follower.Close()
	holder.Close()
}
