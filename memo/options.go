package memo

import (
	"time"

	"github.com/memostore/memostore/codec"
)

// DefaultMaxSize is the memory tier's bound when MaxSize is not given: 128
// entries, as functools.lru_cache.
const DefaultMaxSize = 128

// An Option configures New.
type Option func(*config)

type config struct {
	maxSize    int
	maxSizeSet bool
	maxBytes   int64
	policy     EvictionPolicy

	ttl      time.Duration
	ttlSet   bool
	ttlFunc  any // func(K, V) time.Duration, checked by New
	errorTTL time.Duration
	version  string

	refreshAfter, swr, sie time.Duration
	refreshTimeout         time.Duration
}

// MaxSize bounds the memory tier to n entries, evicting the least recently
// used. As with functools.lru_cache's maxsize, 0 turns the memory tier off
// (every call goes to the disk tier, or to fn without a store) and a
// negative n means unbounded. The default is DefaultMaxSize.
func MaxSize(n int) Option {
	return func(c *config) { c.maxSize, c.maxSizeSet = n, true }
}

// TTL makes entries expire d after they are stored: from then on they are
// misses in both tiers, and the store's sweeper deletes them from the file.
// Zero, the default, means entries never expire; New refuses a negative d.
func TTL(d time.Duration) Option {
	return func(c *config) { c.ttl, c.ttlSet = d, true }
}

// TTLFunc gives each entry its own TTL, computed from its key and value
// when it is stored: 0 means it never expires, and a negative TTL means the
// value is returned but not cached. As with TTL, an entry expires by the
// TTL fn gives it now, even if it was stored with another (fn is called
// again for entries read from the store). New returns an error if K and V
// are not the Func's types, if fn is nil, or if TTL is given too.
func TTLFunc[K comparable, V any](fn func(K, V) time.Duration) Option {
	return func(c *config) { c.ttlFunc = fn }
}

// ErrorTTL caches fn's errors in memory for d: calls for the key within d
// return the same error without running fn (Info.CachedErrors counts
// them). Errors are not written to the store, so other processes sharing
// it, and this one after a restart, run fn again. An error that comes with
// the calling context's own end is never cached. Forget and Clear drop
// cached errors too. Zero, the default, caches no error; New refuses a
// negative d.
func ErrorTTL(d time.Duration) Option {
	return func(c *config) { c.errorTTL = d }
}

// Version sets the version of the memoized function. It is part of the
// namespace's identity: when it changes (because fn now computes something
// else), New drops the entries stored under the old version. The default
// is "".
func Version(v string) Option {
	return func(c *config) { c.version = v }
}

// RefreshAfter refreshes entries older than d ahead of their expiry: a
// call that finds one returns it at once, and one background refresh per
// key runs fn and replaces it (calls that miss meanwhile wait for it). A
// refresh runs with its own context, bounded by RefreshTimeout, never the
// context of the call that started it; if it fails, the old value stays
// and the key's next refresh waits, from 1 s doubling up to 5 minutes.
// Background refreshes belong to the Func: Close (or Store.Close) stops
// them. On a store that several processes share (a file's holder and
// its followers, or Redis), a key is refreshed by one process at a time:
// the others serve what they have, and take the refreshed value from the
// store once their own back-off ends, without running fn. Zero, the
// default, refreshes nothing ahead; New refuses a negative d.
func RefreshAfter(d time.Duration) Option {
	return func(c *config) { c.refreshAfter = d }
}

// StaleWhileRevalidate returns an entry up to d past its TTL at once, from
// either tier, while one background refresh (as for RefreshAfter) replaces
// it. Entries are kept in both tiers until d past their TTL for it.
// Info.StaleReturns counts the stale values returned. It needs TTL or
// TTLFunc. A d over codec.MaxGrace (about 49.7 days, what a stored record
// holds) counts as codec.MaxGrace; New refuses a negative d.
func StaleWhileRevalidate(d time.Duration) Option {
	return func(c *config) { c.swr = min(d, codec.MaxGrace) }
}

// StaleIfError returns an entry up to d past its TTL, from either tier,
// when fn fails for its key, instead of fn's error (Info.StaleReturns
// counts it; the call is still a miss). Entries are kept in both tiers
// until d past their TTL for it. It needs TTL or TTLFunc. A d over
// codec.MaxGrace (about 49.7 days, what a stored record holds) counts as
// codec.MaxGrace; New refuses a negative d. On a store that processes share, one of them recomputes
// an entry past its TTL while the others wait for its result, as for a
// missing key; if its fn fails, the next one runs fn in turn.
func StaleIfError(d time.Duration) Option {
	return func(c *config) { c.sie = min(d, codec.MaxGrace) }
}

// RefreshTimeout bounds each background refresh (see RefreshAfter); the
// default, and 0, is DefaultRefreshTimeout. New refuses a negative d.
func RefreshTimeout(d time.Duration) Option {
	return func(c *config) { c.refreshTimeout = d }
}

// MaxBytes bounds the memory tier to n bytes of encoded values (as the
// store would hold them; the Go values in memory take more), evicting as
// the policy says. Alone, it is the only bound (MaxSize's default does not
// apply); with MaxSize, both hold. A value larger than n is returned but
// not kept in memory, and so is a value that cannot be encoded (too deep,
// or holding a cycle: see codec.ErrTooDeep), which has no size to count.
// Without a store, values are encoded to be measured, so V must be
// storable (see codec.CheckValue). Zero, the default, means
// no byte bound. With MaxSize(0), which turns the tier off, New fails.
func MaxBytes(n int64) Option {
	return func(c *config) { c.maxBytes = n }
}

// Policy sets the memory tier's eviction policy: LRU (the default) or
// WTinyLFU. Under WTinyLFU, MaxSize and MaxBytes cannot both be given.
func Policy(p EvictionPolicy) Option {
	return func(c *config) { c.policy = p }
}
