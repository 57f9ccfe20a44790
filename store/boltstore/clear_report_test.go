package boltstore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// slowPurgeTier is a testTier whose Purge (run by the follower's
// connection reader when the holder's push of a Clear arrives) waits
// until let is closed, once entered is closed: it widens the window
// between the holder's reset of the counters and the follower hearing of
// it, which is otherwise the push's latency.
type slowPurgeTier struct {
	testTier
	entered, let chan struct{}
	once         atomic.Bool
}

func (t *slowPurgeTier) Purge(cleared bool) func() {
	if cleared && t.once.CompareAndSwap(false, true) {
		close(t.entered)
		<-t.let
	}
	return t.testTier.Purge(cleared)
}

// TestClearDropsFollowerReportSentBeforeItHeard: a follower moves its
// report baseline past its unreported counts when it hears of a Clear
// (clearedCounts). A report sent after the holder reset the namespace's
// counters (the Clear's commit) and before the follower heard of it (its
// ticker, a scrape, a Flush) still carries the counts of calls made
// before the Clear, and the holder added them to the counters the Clear
// had just reset: Stats and the exporters showed, after Clear returned,
// hits no call made since. The holder marks the Clear as under way at
// each process before it commits (Invalidating); it now drops their
// counts meanwhile, as it drops their puts.
func TestClearDropsFollowerReportSentBeforeItHeard(t *testing.T) {
	ctx := context.Background()
	h, f := openSharedPair(t, filepath.Join(shortDir(t), "c.db"))
	if _, err := h.Namespace(ctx, "n", spec("1")); err != nil {
		t.Fatal(err)
	}
	fnAny, err := f.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	sn := fnAny.(*sharedNS)
	tier := &slowPurgeTier{entered: make(chan struct{}), let: make(chan struct{})}
	sn.Attach(tier)
	tier.Hits.Add(5) // calls made before the Clear, not yet reported

	cleared := make(chan error, 1)
	go func() { cleared <- h.Clear(ctx, "n") }()
	select {
	case <-tier.entered: // the holder committed the Clear and pushed it
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not hear of the Clear")
	}
	// The follower's ticker (or a scrape) reports now, before its
	// reader has carried the push out.
	_, cli, epoch := f.current()
	sn.sendCounts(cli, epoch)
	time.Sleep(100 * time.Millisecond) // the holder has read the report
	close(tier.let)
	if err := <-cleared; err != nil {
		t.Fatal(err)
	}

	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range st.Namespaces {
		if ns.Name == "n" && ns.Hits != 0 {
			t.Errorf("holder's Stats after Clear returned, no call made since: %d hits of namespace n, want 0 (the follower's calls made before the Clear, reported after the holder reset its counters)", ns.Hits)
		}
	}
}
