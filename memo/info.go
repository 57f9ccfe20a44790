package memo

import (
	"fmt"
	"time"
)

// Info reports a Func's statistics in this process, as
// functools.lru_cache's cache_info() does, plus the disk tier.
type Info struct {
	// Hits counts calls answered without running fn: from the memory
	// tier, from the file, or by sharing another call's computation.
	Hits int64
	// Misses counts calls that ran fn, and calls that shared a computation
	// that failed.
	Misses int64
	// DiskHits counts the part of Hits served from the file.
	DiskHits int64
	// MaxSize is the memory tier's bound (see MaxSize); -1 means unbounded.
	MaxSize int
	// CurrSize is the number of entries in the memory tier.
	CurrSize int
	// MaxBytes is the memory tier's bound in bytes of encoded values (see
	// MaxBytes); 0 means none.
	MaxBytes int64
	// CurrBytes is the bytes of encoded values in the memory tier, counted
	// when MaxBytes is set.
	CurrBytes int64
	// Refreshes counts the runs of fn by Refresh and by background
	// refreshes (RefreshAfter, StaleWhileRevalidate).
	Refreshes int64
	// CachedErrors counts calls that met an error cached by ErrorTTL,
	// without running fn: answered with it, or with a stale value by
	// StaleIfError. They are neither hits nor misses, so that Hits +
	// Misses + CachedErrors counts the calls answered.
	CachedErrors int64
	// StaleReturns counts calls answered with a value past its TTL, by
	// StaleWhileRevalidate (hits) or StaleIfError (misses whose fn failed,
	// or cached errors), including the calls that waited for another's
	// answer.
	StaleReturns int64
	// Saved is the computation time that the hits saved: for each hit
	// served from a tier, how long fn took to compute the value it
	// returned (measured when it ran, and stored with it; the time of
	// a stored value is kept in whole microseconds). A call that waited
	// for another call's computation saved nothing. Values stored by an
	// earlier release, and by Set, count nothing.
	Saved time.Duration
}

// String formats i as Python prints a CacheInfo, with the disk hits added:
// CacheInfo(hits=28, misses=31, maxsize=32, currsize=31, diskhits=0).
func (i Info) String() string {
	return fmt.Sprintf("CacheInfo(hits=%d, misses=%d, maxsize=%d, currsize=%d, diskhits=%d)",
		i.Hits, i.Misses, i.MaxSize, i.CurrSize, i.DiskHits)
}
