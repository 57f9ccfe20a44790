package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
)

// TestInspectCountsStaleLongGrace: an entry kept for a stale window longer
// than the record's grace field holds (2^32-1 ms, about 49.7 days; say
// memo.StaleIfError(90 days)) is stale from the end of its TTL, as codec
// promises ("an entry is never counted fresh after its TTL"). The grace
// saturates, so the record's StaleAt lands 40 days after the TTL's end:
// Inspect (memoctl info's STALE) counts the entry fresh meanwhile.
func TestInspectCountsStaleLongGrace(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0))
	ns := openNS(t, s, "n")
	now := clock.Nanos()
	ttlEnd := now + int64(time.Hour)
	end := ttlEnd + int64(90*24*time.Hour)
	put(t, ns, "k", staleRecord("k", now, ttlEnd, end))
	mtesting.Flush(t, s)
	clock.Advance(2 * time.Hour) // past the TTL, well within the stale window
	st, err := s.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Namespaces[0].Stale; got != 1 {
		f := lookup(t, ns, "k")
		t.Errorf("1h past its TTL, 90 days of grace: Stale = %d, want 1 (the record says its TTL ended at +%v, not +1h)",
			got, time.Duration(f.Header.StaleAt()-now))
	}
}
