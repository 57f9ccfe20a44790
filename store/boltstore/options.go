package boltstore

import (
	"time"

	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store/driver"
)

// Defaults of the Options fields (store re-exports them).
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
)

const (
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

// Options configure Open; store's file options (store.WithMaxBytes, ...)
// set them. See those options for what each field does.
type Options struct {
	driver.Options
	LockTimeout   time.Duration // > 0
	SweepInterval time.Duration // <= 0: no background sweeper
	MaxBytes      int64         // 0: no bound
	QueueBytes    int64         // > 0
	SyncWrites    bool
	Control       bool // serve the control endpoint (where peer credentials exist)
	Exclusive     bool // hold the file alone: no following (see OpenShared)
	Recover       bool
}

// DefaultOptions returns the defaults of the file-only fields; the
// driver.Options are left for the caller to fill in.
func DefaultOptions() Options {
	return Options{
		LockTimeout:   DefaultLockTimeout,
		SweepInterval: DefaultSweepInterval,
		QueueBytes:    DefaultQueueBytes,
		Control:       true,
	}
}
