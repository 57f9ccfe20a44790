package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store/boltstore"
	"github.com/memostore/memostore/store/driver"
)

// Defaults of the file options below.
const (
	// DefaultLockTimeout is how long Open waits for a file that another
	// process holds before it returns ErrLocked.
	DefaultLockTimeout = boltstore.DefaultLockTimeout

	// DefaultSweepInterval is how often expired entries are swept.
	DefaultSweepInterval = boltstore.DefaultSweepInterval

	// DefaultQueueBytes bounds the records waiting to be written behind:
	// 4 MiB, about 3,800 records of 1 KB, nearly two of the writer's
	// largest commits. It is memory a program holds between commits, on
	// top of what its caches keep.
	DefaultQueueBytes = boltstore.DefaultQueueBytes
)

// An Option configures Open. Some apply to every backend (WithLogger,
// WithClock, WithReadOnly), some to files only (the others here), some to
// one registered backend only (such as redisstore.WithPrefix): Open
// refuses an option that does not apply to the backend it opens.
type Option struct {
	name    string // the option's name, for errors
	backend string // "" for every backend, "bbolt", or a registered backend's name
	file    func(*boltstore.Options)
	own     func(settings any)
	err     error // a value Open refuses
}

// options are the settings Open gathers: the common ones inside the
// file's, and the options of other backends, in order.
type options struct {
	boltstore.Options
	given []Option
}

func gather(opts []Option) options {
	o := options{Options: boltstore.DefaultOptions()}
	o.Logger = slog.Default()
	o.Clock = expiry.SystemClock{}
	for _, opt := range opts {
		switch {
		case opt.file != nil:
			opt.file(&o.Options)
		case opt.own != nil:
			o.Own = append(o.Own, opt.own)
		}
		o.given = append(o.given, opt)
	}
	return o
}

// check refuses the options that do not apply to backend.
func (o *options) check(backend string) error {
	for _, opt := range o.given {
		if opt.err != nil {
			return fmt.Errorf("%s: %w", opt.name, opt.err)
		}
		if opt.backend != "" && opt.backend != backend {
			return fmt.Errorf("%s applies to %s stores only, not to %s", opt.name, backendTitle(opt.backend), backendTitle(backend))
		}
	}
	return nil
}

// backendTitle names a backend in messages.
func backendTitle(backend string) string {
	switch backend {
	case "bbolt":
		return "file"
	case "redis":
		return "Redis"
	}
	return backend
}

func commonOption(name string, f func(*driver.Options)) Option {
	return Option{name: name, file: func(o *boltstore.Options) { f(&o.Options) }}
}

func fileOption(name string, f func(*boltstore.Options)) Option {
	return Option{name: name, backend: "bbolt", file: f}
}

// BackendOption returns an Option of the backend registered as backend
// (see Register), for the backend's package to offer (as
// redisstore.WithPrefix): Open passes apply to the backend in
// driver.Options.Own, and refuses the option for any other backend. name
// names the option in that error.
func BackendOption(backend, name string, apply func(settings any)) Option {
	return Option{name: name, backend: backend, own: apply}
}

// WithLockTimeout sets how long Open waits for a file held by another
// process before it gives up with ErrLocked. The default is
// DefaultLockTimeout. A timeout of zero or less means DefaultLockTimeout:
// Open never waits forever. Files only.
func WithLockTimeout(d time.Duration) Option {
	return fileOption("WithLockTimeout", func(o *boltstore.Options) {
		if d <= 0 {
			d = DefaultLockTimeout
		}
		o.LockTimeout = d
	})
}

// WithSweepInterval sets how often the background sweeper deletes expired
// entries. The default is DefaultSweepInterval; zero or less turns the
// background sweeper off (Sweep still works on demand). Files only: Redis
// expires entries by itself.
func WithSweepInterval(d time.Duration) Option {
	return fileOption("WithSweepInterval", func(o *boltstore.Options) { o.SweepInterval = d })
}

// WithMaxBytes bounds the bytes of stored entries (keys plus records, as
// Stats reports them; the file itself is larger by bbolt's pages and the
// indexes). When a write takes the total over n, entries are evicted until
// it fits, chosen by use: W-TinyLFU over the file's order of storing, with
// use noted in memory by lookups and by the memory tier's hits (see
// Namespace.NoteUse), so that a hit writes nothing (see the README's
// Eviction section). What it knows of use is saved in the file by Close,
// and every minute while it changes, and read back after the next Open.
// Zero, the default, means no bound; Open refuses a negative n. A file
// that another process holds is bounded by that process's n: Open of it
// with another n > 0 fails, and with none follows the holder's. Files only.
func WithMaxBytes(n int64) Option {
	opt := fileOption("WithMaxBytes", func(o *boltstore.Options) { o.MaxBytes = max(n, 0) })
	if n < 0 {
		opt.err = fmt.Errorf("%d bytes: want 0 (no bound) or more", n)
	}
	return opt
}

// WithQueueBytes bounds the bytes of records waiting to be written behind.
// A write that would exceed it waits for the writer (backpressure). The
// default is DefaultQueueBytes; Open refuses n of zero or less. Files only.
func WithQueueBytes(n int64) Option {
	opt := fileOption("WithQueueBytes", func(o *boltstore.Options) {
		if n > 0 {
			o.QueueBytes = n
		}
	})
	if n <= 0 {
		opt.err = fmt.Errorf("%d bytes: want more than 0", n)
	}
	return opt
}

// WithSyncWrites makes every write durable before the call that made it
// returns, instead of writing behind. Concurrent writers still share
// commits. Files only: Redis writes are never queued.
func WithSyncWrites() Option {
	return fileOption("WithSyncWrites", func(o *boltstore.Options) { o.SyncWrites = true })
}

// WithReadOnly opens an existing store for reading only. A file is opened
// under a shared lock: several read-only Stores may have one file open at
// once, but not beside a writer. Nothing is written and no goroutine is
// started.
func WithReadOnly() Option {
	return commonOption("WithReadOnly", func(o *driver.Options) { o.ReadOnly = true })
}

// WithLogger sets where the store reports what it does on its own: dropped
// namespaces, write failures, records that no longer decode. The default is
// slog.Default(); a nil logger discards.
func WithLogger(l *slog.Logger) Option {
	return commonOption("WithLogger", func(o *driver.Options) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.Logger = l
	})
}

// WithClock sets the clock that stamps and expires entries. The default is
// the system clock. A follower's lookups are judged by its own clock; the
// holder's sweeper by the holder's.
func WithClock(c expiry.Clock) Option {
	return commonOption("WithClock", func(o *driver.Options) {
		if c != nil {
			o.Clock = c
		}
	})
}

// WithoutControl turns off the control endpoint, the Unix socket PATH.ctl
// through which other processes use a store while this process holds it
// (followers, and memoctl). It is on by default for files opened for
// writing, on Linux, macOS and FreeBSD. Elsewhere (Windows) it is always
// off: the socket's server could not check that a client runs as the same
// user. Without it the process holds the file alone, as WithExclusive
// does. Files only.
func WithoutControl() Option {
	return fileOption("WithoutControl", func(o *boltstore.Options) { o.Control = false })
}

// WithExclusive makes Open hold the file alone, as it did before files
// were shared: if another process holds it, Open waits WithLockTimeout
// and fails with ErrLocked instead of following that process. The
// control endpoint still serves memoctl. Files only.
func WithExclusive() Option {
	return fileOption("WithExclusive", func(o *boltstore.Options) { o.Exclusive = true })
}

// WithRecover makes Open recover from a corrupt file (one that would give
// ErrCorrupt) by renaming it to NAME.corrupt-TIMESTAMP beside it, logging
// where it went, and starting a fresh store at the path. Nothing is
// deleted. It is off by default: Open then fails with ErrCorrupt and leaves
// the file as it is. A file of a newer format is never moved. Files only.
func WithRecover() Option {
	return fileOption("WithRecover", func(o *boltstore.Options) { o.Recover = true })
}
