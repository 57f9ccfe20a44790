package store

import "github.com/memostore/memostore/store/driver"

// Sentinel errors, for use with errors.Is. They keep their identity
// through memoctl's control socket: an error a holder sent back matches
// them too.
var (
	// ErrLocked is returned by Open when another process (or another Store
	// in this process) holds the file and does not let go within the lock
	// timeout.
	ErrLocked = driver.ErrLocked

	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = driver.ErrClosed

	// ErrCorrupt is returned by Open for a file that is not a store: not a
	// bbolt file, a bbolt file of another program, an empty or truncated
	// file. Such a file is left untouched.
	ErrCorrupt = driver.ErrCorrupt

	// ErrUnavailable is returned by Put on a Redis store while the server
	// does not answer and the store leaves it alone, or refuses writes (out
	// of memory, say), and by a follower's Put while no holder answers for
	// its file: the write was dropped. The outage, or the run of refused
	// writes, is logged once.
	ErrUnavailable = driver.ErrUnavailable

	// ErrUnsupported is returned by the operations that exist for one
	// backend only, such as Compact on Redis. It is errors.ErrUnsupported.
	ErrUnsupported = driver.ErrUnsupported
)
