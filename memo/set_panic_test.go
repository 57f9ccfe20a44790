package memo_test

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestSetPanicInTTLFuncDoesNotWedgeKey: a TTLFunc that panics in Set
// unwinds Set; before Set became a flight its invalidation was released by
// a defer. Now the flight that Set put in the map is never finished, and
// every later Call of the key waits for it forever.
func TestSetPanicInTTLFuncDoesNotWedgeKey(t *testing.T) {
	f, err := memo.New[int, int](nil, "p", func(_ context.Context, k int) (int, error) { return k, nil },
		memo.TTLFunc(func(_ int, v int) time.Duration {
			if v == 666 {
				panic("bad value")
			}
			return time.Hour
		}))
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = f.Set(context.Background(), 1, 666)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := f.Call(ctx, 1)
	if err != nil || v != 1 {
		t.Fatalf("Call(1) after a Set whose TTLFunc panicked = %v, %v; want 1, nil (the key is wedged)", v, err)
	}
}
