package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

// stalls runs op and reports whether it has not returned within d.
func stalls(op func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { defer close(done); op() }()
	select {
	case <-done:
		return false
	case <-time.After(d):
		return true
	}
}

// TestRedisSetAfterUnheardClearDoesNotDeadlock: memo's Set of a value its
// TTLFunc says not to cache deletes the key inside its flight's keep,
// holding the flight's mu. Delete now reads the generations and, on
// hearing of a Clear this process missed, purges the memory tiers
// (learn -> purge -> Func.purge -> flights.clear), which invalidates every
// flight of the Func, Set's own included: invalidate locks the mu that
// the same goroutine holds. Set never returns, and the key is wedged.
func TestRedisSetAfterUnheardClearDoesNotDeadlock(t *testing.T) {
	url, ctx := "", context.Background()
	a, url, prefix := openRedisStore(t)
	b := openStore(t, url, WithPrefix(prefix))
	b.rd.sub.Close() // b hears no Clear by message
	f, err := memo.New(b.Store, "fg", func(_ context.Context, k int) (int, error) { return k, nil },
		memo.TTLFunc(func(_ int, v int) time.Duration {
			if v < 0 {
				return -1 // not to be cached
			}
			return time.Hour
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Clear(ctx, "fg"); err != nil {
		t.Fatal(err)
	}
	if stalls(func() { _ = f.Set(ctx, 1, -1) }, 3*time.Second) {
		t.Fatal("Set(1, uncacheable) after a Clear this process did not hear of has not returned in 3s: the purge its Delete started waits for Set's own flight")
	}
}

// TestRedisExpiredPutAfterUnheardClearDoesNotDeadlock: the same through
// Put: a record expired already at Put is now deleted (Put calls Delete),
// and the Put runs inside a flight's keep. A Clear by another process
// while fn runs (its message missed), and a TTL that has run out when the
// result is stored: the Call never returns.
func TestRedisExpiredPutAfterUnheardClearDoesNotDeadlock(t *testing.T) {
	url, ctx := "", context.Background()
	a, url, prefix := openRedisStore(t)
	b := openStore(t, url, WithPrefix(prefix))
	b.rd.sub.Close()
	f, err := memo.New(b.Store, "fg", func(ctx context.Context, k int) (int, error) {
		if err := a.Clear(ctx, "fg"); err != nil {
			t.Error(err)
		}
		return k, nil
	}, memo.TTL(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if stalls(func() { _, _ = f.Call(ctx, 1) }, 3*time.Second) {
		t.Fatal("Call(1), whose result had expired when stored, after a Clear this process did not hear of, has not returned in 3s: the purge of Put's Delete waits for the Call's own flight")
	}
}
