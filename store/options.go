package store

import (
	"log/slog"
	"time"

	"github.com/memostore/memostore/expiry"
)

// Defaults for the options below.
const (
	// DefaultLockTimeout is how long Open waits for a file that another
	// process holds before it returns ErrLocked.
	DefaultLockTimeout = time.Second

	// DefaultSweepInterval is how often expired entries are swept.
	DefaultSweepInterval = expiry.DefaultSweepInterval

	// DefaultQueueBytes bounds the records waiting to be written behind:
	// 4 MiB, about 3,800 records of 1 KB, nearly two of the writer's
	// largest commits. It is memory a program holds between commits, on
	// top of what its caches keep.
	DefaultQueueBytes = 4 << 20

	// MaxRecordBytes is the largest record the store persists. Larger
	// values are still returned and kept in memory, but not written; the
	// write is counted as a write error and logged.
	MaxRecordBytes = 64 << 20

	// DefaultPrefix starts the name of every Redis key a store writes.
	DefaultPrefix = "memo"

	// DefaultTimeout bounds each exchange with a Redis server: dialing,
	// reading and writing.
	DefaultTimeout = 500 * time.Millisecond

	// DefaultLockTTL is how long a Redis computation lock lives unless
	// its holder releases it first: how long the others wait for a
	// process that died while computing.
	DefaultLockTTL = 10 * time.Second

	// DefaultLockWait bounds how long a caller waits for another process
	// to compute a key before it computes it itself.
	DefaultLockWait = 10 * time.Second

	// counterInterval is how often a Redis store adds the counts it
	// gathered (hits, misses, ...) to the server's counters.
	counterInterval = time.Second

	// batchDelay is how long the writer lets writes gather before it
	// commits them in one transaction, unless batchEntries arrive first or
	// a caller waits (Flush, WithSyncWrites, Clear, Sweep).
	batchDelay   = 10 * time.Millisecond
	batchEntries = 1000

	// sweepBatch and evictBatch bound the entries one transaction removes,
	// so that no sweep or eviction holds the writer for long.
	sweepBatch = 1000
	evictBatch = 1000
)

// An Option configures Open.
type Option func(*options)

type options struct {
	lockTimeout   time.Duration
	sweepInterval time.Duration
	maxBytes      int64
	queueBytes    int64
	syncWrites    bool
	readOnly      bool
	control       bool
	recover       bool
	logger        *slog.Logger
	clock         expiry.Clock

	// Redis only.
	prefix   string
	timeout  time.Duration
	lockTTL  time.Duration
	lockWait time.Duration
}

func defaultOptions() options {
	return options{
		lockTimeout:   DefaultLockTimeout,
		sweepInterval: DefaultSweepInterval,
		queueBytes:    DefaultQueueBytes,
		control:       true,
		logger:        slog.Default(),
		clock:         expiry.SystemClock{},
		timeout:       DefaultTimeout,
		lockTTL:       DefaultLockTTL,
		lockWait:      DefaultLockWait,
	}
}

// WithLockTimeout sets how long Open waits for a file held by another
// process before it gives up with ErrLocked. The default is
// DefaultLockTimeout. A timeout of zero or less means DefaultLockTimeout:
// Open never waits forever.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			d = DefaultLockTimeout
		}
		o.lockTimeout = d
	}
}

// WithSweepInterval sets how often the background sweeper deletes expired
// entries. The default is DefaultSweepInterval; zero or less turns the
// background sweeper off (Sweep still works on demand).
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweepInterval = d }
}

// WithMaxBytes bounds the bytes of stored entries (keys plus records, as
// Stats reports them; the file itself is larger by bbolt's pages and the
// indexes). When a write takes the total over n, the least recently stored
// entries are evicted until it fits. Zero, the default, means no bound.
func WithMaxBytes(n int64) Option {
	return func(o *options) { o.maxBytes = max(n, 0) }
}

// WithQueueBytes bounds the bytes of records waiting to be written behind.
// A write that would exceed it waits for the writer (backpressure). The
// default is DefaultQueueBytes.
func WithQueueBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.queueBytes = n
		}
	}
}

// WithSyncWrites makes every write durable before the call that made it
// returns, instead of writing behind. Concurrent writers still share
// commits.
func WithSyncWrites() Option {
	return func(o *options) { o.syncWrites = true }
}

// WithReadOnly opens an existing file for reading only, under a shared
// lock: several read-only Stores may have one file open at once, but not
// beside a writer. Nothing is written and no goroutine is started.
func WithReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

// WithLogger sets where the store reports what it does on its own: dropped
// namespaces, write failures, records that no longer decode. The default is
// slog.Default(); a nil logger discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.logger = l
	}
}

// WithClock sets the clock that stamps and expires entries. The default is
// the system clock.
func WithClock(c expiry.Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithoutControl turns off the control endpoint, the Unix socket PATH.ctl
// through which memoctl inspects and clears a store while this process
// holds it (see ControlPath). It is on by default for stores opened for
// writing, on Linux, macOS and FreeBSD. Elsewhere (Windows) it is always
// off: the socket's server could not check that a client runs as the same
// user.
func WithoutControl() Option {
	return func(o *options) { o.control = false }
}

// WithRecover makes Open recover from a corrupt file (one that would give
// ErrCorrupt) by renaming it to NAME.corrupt-TIMESTAMP beside it, logging
// where it went, and starting a fresh store at the path. Nothing is
// deleted. It is off by default: Open then fails with ErrCorrupt and leaves
// the file as it is. A file of a newer format is never moved.
func WithRecover() Option {
	return func(o *options) { o.recover = true }
}

// WithPrefix sets the first part of every Redis key the store writes, so
// that several stores can share one Redis database. Without it, the
// prefix is the URL's prefix parameter (redis://host:6379/0?prefix=app),
// or else DefaultPrefix. An empty prefix means no choice. File stores
// ignore it.
func WithPrefix(p string) Option {
	return func(o *options) { o.prefix = p }
}

// WithTimeout bounds each exchange with a Redis server (dial, read,
// write): a slow or unreachable server costs a caller at most about this
// long before it carries on without the server. The default is
// DefaultTimeout; zero or less means the default. File stores ignore it.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithLockTTL sets how long a Redis computation lock (see
// Namespace.Acquire) lives unless released: set it above the time the
// memoized function takes, or a second process may start computing the
// same key. It is also how long others wait for a holder that died. The
// default is DefaultLockTTL; zero or less means the default.
func WithLockTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lockTTL = d
		}
	}
}

// WithLockWait bounds how long a caller waits for another process to
// compute a key before it computes the key itself. The default is
// DefaultLockWait; zero or less means the default.
func WithLockWait(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lockWait = d
		}
	}
}
