package boltstore

import (
	"fmt"
	"strings"
	"testing"
)

// TestWindowBytesSameIndexKeyTwoNamespaces: two namespaces may
// hold entries under one age index key (the same key, stored at the same
// nanosecond: two functions memoizing the same int keys, or any clock
// coarser than a nanosecond). When the window's oldest entry joins main,
// leaveWindow moves the window's start b past its index key, which takes
// both entries out of the window; it took only one entry's bytes off
// winBytes. The other's were never taken off: removing it later (a sweep,
// a Delete, eviction) finds it outside the window. winBytes then counted
// bytes the window did not hold, for good, and the window held less than
// its share from then on.
func TestWindowBytesSameIndexKeyTwoNamespaces(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(100*evictEntry()))
	a, b := openNS(t, s, "a"), openNS(t, s, "b")
	v := strings.Repeat("v", 100)
	clock.Advance(1)
	at := clock.Nanos()
	// The same key, stored at the same time, in both namespaces.
	put(t, a, "k00000", record("k00000", at, 0, v))
	put(t, b, "k00000", record("k00000", at, 0, v))
	// Then more than the window's share (20 entries): the oldest join main.
	for i := 1; i <= 25; i++ {
		clock.Advance(1)
		k := fmt.Sprintf("k%05d", i)
		put(t, a, k, record(k, clock.Nanos(), 0, v))
	}
	flush(t, s)
	if st := s.stats(); st.Entries != 27 {
		t.Fatalf("Entries = %d, want 27 (nothing evicted under the bound)", st.Entries)
	}
	if real, counted := realWindow(t, s); real != counted {
		t.Errorf("window holds %d bytes (%d entries), winBytes counts %d (%d entries)",
			real, real/evictEntry(), counted, counted/evictEntry())
	}
}
