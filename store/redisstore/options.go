package redisstore

import (
	"math"
	"time"

	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// Defaults of the options below.
const (
	// DefaultPrefix starts the name of every Redis key a store writes.
	DefaultPrefix = "memo"

	// DefaultTimeout bounds each exchange with a Redis server: dialing,
	// reading and writing.
	DefaultTimeout = 500 * time.Millisecond

	// DefaultLockTTL is how long a computation lock lives unless its
	// holder releases it first: how long the others wait for a process
	// that died while computing.
	DefaultLockTTL = 10 * time.Second

	// DefaultLockWait bounds how long a caller waits for another process
	// to compute a key before it computes it itself.
	DefaultLockWait = 10 * time.Second

	// countsInterval is how often a store adds the counts it gathered
	// (hits, misses, ...) to the server's counters.
	countsInterval = time.Second

	// DefaultVersionGrace is how long the entries of a version of a
	// namespace that no process uses are kept (see WithVersionGrace).
	DefaultVersionGrace = 24 * time.Hour
)

// config is what Open and the options here set, besides the common
// options of package store.
type config struct {
	driver.Options
	prefix   string
	timeout  time.Duration
	lockTTL  time.Duration
	lockWait time.Duration
	grace    time.Duration
}

// settings applies o's Redis options to the defaults.
func settings(o driver.Options) config {
	c := config{Options: o, timeout: DefaultTimeout, lockTTL: DefaultLockTTL, lockWait: DefaultLockWait, grace: DefaultVersionGrace}
	for _, apply := range o.Own {
		apply(&c)
	}
	return c
}

func option(name string, f func(*config)) store.Option {
	return store.BackendOption(backend, "redisstore."+name, func(c any) { f(c.(*config)) })
}

// WithPrefix sets the first part of every Redis key the store writes, so
// that several stores can share one Redis database. Without it, the
// prefix is the URL's prefix parameter (redis://host:6379/0?prefix=app),
// or else DefaultPrefix. An empty prefix means no choice.
func WithPrefix(p string) store.Option {
	return option("WithPrefix", func(c *config) { c.prefix = p })
}

// WithTimeout bounds each exchange with a Redis server (dial, read,
// write): a slow or unreachable server costs a caller at most about this
// long before it carries on without the server. The default is
// DefaultTimeout; zero or less means the default. A URL's dial_timeout,
// read_timeout, write_timeout or pool_timeout wins for that step of an
// exchange, within the caller's context. For a client given to
// Open, the client's own timeouts bound its exchanges, and this one the
// store's waits around them.
func WithTimeout(d time.Duration) store.Option {
	return option("WithTimeout", func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithLockTTL sets how long a computation lock (see
// store.Namespace.Acquire) lives unless renewed or released. Its holder
// renews it every third of the TTL while the function runs, so a function
// may take longer than the TTL; the TTL is how long others wait for a
// holder that died. The default is DefaultLockTTL; zero or less means the
// default, and less than a millisecond (the server's unit) a millisecond.
func WithLockTTL(d time.Duration) store.Option {
	return option("WithLockTTL", func(c *config) {
		if d > 0 {
			c.lockTTL = max(d, time.Millisecond)
		}
	})
}

// WithLockWait bounds how long a caller waits for another process to
// compute a key before it computes the key itself, counted from the last
// time the other process was seen renewing its lock: a live holder is
// waited for, up to 10 times WithLockWait in all. The default is
// DefaultLockWait; zero or less means the default.
func WithLockWait(d time.Duration) store.Option {
	return option("WithLockWait", func(c *config) {
		if d > 0 {
			c.lockWait = d
		}
	})
}

// WithVersionGrace sets how long the entries of a version of a namespace
// are kept after the last process that used it stopped (a claim, or any
// count pushed, marks a version used). Versions coexist, so that a rolling
// deploy runs the old and the new side by side with their caches; the
// entries of a version unused for longer are deleted in the background.
// The default is DefaultVersionGrace; zero or less means the default.
func WithVersionGrace(d time.Duration) store.Option {
	return option("WithVersionGrace", func(c *config) {
		if d > 0 {
			c.grace = d
		}
	})
}

// times returns n times d, saturating at the longest Duration: a timeout
// or a wait given near that (WithTimeout(math.MaxInt64), to mean no
// bound) must not wrap to a negative one that ends at once.
func times(n int64, d time.Duration) time.Duration {
	if d > 0 && int64(d) > math.MaxInt64/n {
		return math.MaxInt64
	}
	return time.Duration(n) * d
}
