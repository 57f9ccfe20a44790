package memo_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// stepClock is a store clock that a test moves forward, and can arm once:
// the first Now after arm blocks until release.
type stepClock struct {
	mu      sync.Mutex
	off     time.Duration
	armed   bool
	paused  chan struct{}
	release chan struct{}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	armed, off := c.armed, c.off
	c.armed = false
	c.mu.Unlock()
	if armed {
		close(c.paused)
		<-c.release
	}
	return time.Now().Add(off)
}

// TestWTinyLFUExpiryKeepsNewerEntry: under WTinyLFU, a Call that finds k's
// entry past its TTL dropped k from the tier by key, not the entry it
// found. An entry stored for k in between (here by Set; equally by another
// Call's computation) was dropped with it, so the next Call missed the
// memory tier (found by a review). The LRU tier unlinks the node it found,
// under its lock, and keeps the newer entry.
func TestWTinyLFUExpiryKeepsNewerEntry(t *testing.T) {
	ctx := context.Background()
	clock := &stepClock{paused: make(chan struct{}), release: make(chan struct{})}
	s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithClock(clock), store.WithoutControl(), store.WithSweepInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var runs atomic.Int64
	f, err := memo.New(s, "tiny", counted(&runs), memo.Policy(memo.WTinyLFU), memo.TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, f, 1) // stored at 0, expires at 1 min
	clock.mu.Lock()
	clock.off = 2 * time.Minute // expired
	clock.armed = true          // the next Now: in the Call below, after its lookup found the expired entry
	clock.mu.Unlock()

	got := make(chan int, 1)
	go func() { got <- mustCall(t, f, 1) }()
	<-clock.paused
	if err := f.Set(ctx, 1, 42); err != nil { // fresh until 3 min
		t.Fatal(err)
	}
	if v, ok := f.Peek(ctx, 1); !ok || v != 42 {
		t.Fatalf("Peek after Set = %v, %v", v, ok)
	}
	close(clock.release)
	if v := <-got; v != 42 {
		t.Fatalf("concurrent Call = %d, want Set's 42", v)
	}
	if i := f.Info(); i.DiskHits != 0 || runs.Load() != 1 {
		t.Fatalf("Info = %+v, runs = %d: the Call after Set went past the memory tier (want DiskHits 0, runs 1)", i, runs.Load())
	}
}
