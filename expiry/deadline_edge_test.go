package expiry

import (
	"math"
	"testing"
	"time"
)

// TestDeadlinePast2262Saturates: the doc says "Deadlines past
// the year 2262 saturate rather than wrap". A now past 2262 (a clock
// given to store.WithClock, a time.Time read from anywhere) gives a
// deadline past 2262, but Deadline added the TTL to now.UnixNano(), which
// is undefined there and wraps: an hour after 2300-01-01 came out as a
// date in 1715, a negative expires-at.
func TestDeadlinePast2262Saturates(t *testing.T) {
	now := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	got := Deadline(now, time.Hour)
	if got != math.MaxInt64 {
		t.Fatalf("Deadline(%v, 1h) = %d (%v); want math.MaxInt64: a deadline past 2262 saturates", now, got, time.Unix(0, got).UTC())
	}
}

// TestDeadlinePositiveTTLNeverNever: a positive TTL must give an
// entry that expires. For a now one TTL before the epoch (a test clock
// started at time.Unix(-3600, 0), with TTL(time.Hour)), Deadline returned
// now+ttl = 0, which is Never: the entry never expired, silently.
func TestDeadlinePositiveTTLNeverNever(t *testing.T) {
	now := time.Unix(-3600, 0)
	if got := Deadline(now, time.Hour); got == Never {
		t.Fatalf("Deadline(%v, 1h) = %d = Never: an entry with a TTL of an hour never expires", now.UTC(), got)
	}
}
