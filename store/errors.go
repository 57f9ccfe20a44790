package store

import (
	"errors"
	"io/fs"
	"strings"
)

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

// An opError is the error of an operation (open, compact) on the store at
// path. Its text gives the package prefix, the operation and the path
// once, "store: open cache.db: file is not a valid store: ...": the
// prefix of a sentinel it wraps is not repeated, and the errors below it
// do not name the path again.
type opError struct {
	op, path string
	err      error
}

func (e *opError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "store: ")
	if e.path == "" {
		return "store: " + e.op + ": " + msg
	}
	return "store: " + e.op + " " + e.path + ": " + msg
}

func (e *opError) Unwrap() error { return e.err }

// bare returns the cause of a *fs.PathError, whose text would name the
// path a second time inside an opError; other errors are returned as
// they are. The cause still matches fs.ErrNotExist, fs.ErrPermission and
// the like.
func bare(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
