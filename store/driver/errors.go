package driver

import (
	"errors"
	"strings"
)

// Sentinel errors, for use with errors.Is; package store re-exports them
// (store.ErrLocked is ErrLocked).
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
	// does not answer and the store leaves it alone, or refuses writes (out
	// of memory, say), and by a follower's Put while no holder answers for
	// its file: the write was dropped. The outage, or the run of refused
	// writes, is logged once.
	ErrUnavailable = errors.New("store: server not answering")

	// ErrUnsupported is returned by the operations that exist for some
	// backends only, such as Compact on Redis. It is
	// errors.ErrUnsupported.
	ErrUnsupported = errors.ErrUnsupported
)

// An OpError is the error of an operation (open, compact) on the store at
// Path. Its text gives the package prefix, the operation and the path
// once, "store: open cache.db: file is not a valid store: ...": the
// prefix of a sentinel it wraps is not repeated, and the errors below it
// do not name the path again.
type OpError struct {
	Op, Path string
	Err      error
}

func (e *OpError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), "store: ")
	if e.Path == "" {
		return "store: " + e.Op + ": " + msg
	}
	return "store: " + e.Op + " " + e.Path + ": " + msg
}

func (e *OpError) Unwrap() error { return e.Err }
