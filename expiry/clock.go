package expiry

import (
	"math"
	"time"
)

// A Clock tells the time. Stores read it when they stamp and check entries;
// tests replace it (store.WithClock) or run under testing/synctest.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of time.Now.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Never is the expires-at of an entry that does not expire.
const Never int64 = 0

// Deadline returns the expires-at, in Unix nanoseconds, of an entry stored
// at now that lives for ttl. A ttl of zero or less means the entry never
// expires (Never). Deadlines past the year 2262 saturate rather than wrap.
func Deadline(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return Never
	}
	if now.After(maxTime) { // UnixNano is undefined there, and wraps
		return math.MaxInt64
	}
	if now.Before(minTime) {
		return math.MinInt64 + int64(ttl)
	}
	n := now.UnixNano()
	if n > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	if d := n + int64(ttl); d != Never {
		return d
	}
	return Never + 1 // a ttl that ends at the epoch: not Never, which never ends
}

// The times whose Unix nanoseconds an int64 holds.
var (
	maxTime = time.Unix(0, math.MaxInt64)
	minTime = time.Unix(0, math.MinInt64)
)

// Expired reports whether an entry with the given expires-at has expired at
// now (both Unix nanoseconds).
func Expired(expiresAt, now int64) bool {
	return expiresAt != Never && now >= expiresAt
}
