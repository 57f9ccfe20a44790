package memoprom_test

import (
	"context"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memoprom"
)

// TestClearResetsFollowerCounts: Store.Clear "resets a
// namespace's counters" (README, Monitoring) and Func.Info is reset with
// it. A follower's Calls made just before the Clear, not yet reported to
// the holder (it reports every second), must not be reported after it:
// they landed in the freshly reset counters, and the scrapes showed hits
// and misses for a namespace no call had used since it was cleared,
// disagreeing with Info (the follower's report baseline was not moved
// when the Clear emptied its tier). The same after the follower's own
// Func.Clear.
func TestClearResetsFollowerCounts(t *testing.T) {
	f, holder := openFollower(t)
	ctx := context.Background()
	sq, err := memo.New(f, "sq", func(_ context.Context, k int) (int, error) { return k * k, nil })
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // 1 miss, 4 memory hits, counted in the follower only
		if _, err := sq.Call(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := holder.Clear(ctx, "sq"); err != nil {
		t.Fatal(err)
	}
	if i := sq.Info(); i.Hits != 0 || i.Misses != 0 {
		t.Fatalf("Info after Clear: %v, want no hits or misses", i)
	}
	// The follower's scrape reports its counts to the holder first, as
	// its next tick would.
	got := scrape(t, memoprom.NewCollector(f))
	hits, misses := got["memostore_hits_total{sq}"], got["memostore_misses_total{sq}"]
	if hits != 0 || misses != 0 {
		t.Errorf("after Store.Clear and no call since: memostore_hits_total{sq} = %v, memostore_misses_total{sq} = %v, want 0 and 0 (Info: %v)",
			hits, misses, sq.Info())
	}
	got = scrape(t, memoprom.NewCollector(holder))
	if h, m := got["memostore_hits_total{sq}"], got["memostore_misses_total{sq}"]; h != 0 || m != 0 {
		t.Errorf("holder's scrape after the Clear: hits %v, misses %v, want 0 and 0", h, m)
	}

	// The same with the follower's own Func.Clear.
	for range 3 { // 1 miss, 2 memory hits
		if _, err := sq.Call(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := sq.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, memoprom.NewCollector(f))
	if h, m := got["memostore_hits_total{sq}"], got["memostore_misses_total{sq}"]; h != 0 || m != 0 {
		t.Errorf("after the follower's Func.Clear: hits %v, misses %v, want 0 and 0 (Info: %v)", h, m, sq.Info())
	}
}
