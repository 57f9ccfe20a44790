package memo

import "time"

// DefaultMaxSize is the memory tier's bound when MaxSize is not given: 128
// entries, as functools.lru_cache.
const DefaultMaxSize = 128

// An Option configures New.
type Option func(*config)

type config struct {
	maxSize int
	ttl     time.Duration
	version string
}

// MaxSize bounds the memory tier to n entries, evicting the least recently
// used. As with functools.lru_cache's maxsize, 0 turns the memory tier off
// (every call goes to the disk tier, or to fn without a store) and a
// negative n means unbounded. The default is DefaultMaxSize.
func MaxSize(n int) Option {
	return func(c *config) { c.maxSize = n }
}

// TTL makes entries expire d after they are stored: from then on they are
// misses in both tiers, and the store's sweeper deletes them from the file.
// Zero, the default, means entries never expire.
func TTL(d time.Duration) Option {
	return func(c *config) { c.ttl = max(d, 0) }
}

// Version sets the version of the memoized function. It is part of the
// namespace's identity: when it changes (because fn now computes something
// else), New drops the entries stored under the old version. The default
// is "".
func Version(v string) Option {
	return func(c *config) { c.version = v }
}
