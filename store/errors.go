package store

import "errors"

// Sentinel errors, for use with errors.Is.
var (
	// ErrLocked is returned by Open when another process (or another Store
	// in this process) holds the file and does not let go within the lock
	// timeout.
	ErrLocked = errors.New("store: file is locked by another process")

	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("store: closed")

	// ErrCorrupt is returned by Open for a file that is not a store: not a
	// bbolt file, a bbolt file of another program, an empty or truncated
	// file. Such a file is left untouched.
	ErrCorrupt = errors.New("store: file is not a valid store")

	// ErrUnavailable is returned by Put on a Redis store while the server
	// does not answer and the store leaves it alone (see the package
	// doc): the write was dropped. The outage itself is logged once.
	ErrUnavailable = errors.New("store: Redis server not answering")
)
