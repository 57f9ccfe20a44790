package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// Every opener of a store takes PATH.lock before it opens PATH, and holds it
// while the store is open: exclusively to write (the holder's PID is
// written in it), shared to read. bbolt also locks PATH itself, but a lock
// on PATH follows its inode: a process waiting for it while Compact renames
// a new file into place would wake up holding the old, deleted file. The
// lock file is never renamed, so whoever gets it next opens the file that
// is at PATH then.

// LockPath returns the path of the lock file of the store at path.
func LockPath(path string) string { return path + ".lock" }

// Resolve returns the path a store reached at path is kept under: if path
// is a symbolic link, the file it leads to, so that the lock file, the
// control endpoint and Compact's rename are those of the file itself,
// whatever link a process reaches it through. Open, OpenShared and Compact
// resolve their path so; memoctl does too. Any other path, and a link
// that does not resolve, is returned as is.
func Resolve(path string) string {
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return path
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// lockPoll is how often a waiting opener retries the lock.
const lockPoll = 10 * time.Millisecond

type lockFile struct{ f *os.File }

// acquireLock takes the lock file of path, waiting up to timeout. It fails
// with ErrLocked, naming the holder's PID when the file records one.
func acquireLock(path string, exclusive bool, timeout time.Duration) (*lockFile, error) {
	lp := LockPath(path)
	flags := os.O_RDWR | os.O_CREATE
	if !exclusive {
		// A reader makes nothing: without a lock file no writer has the
		// store open (writers create it), and bbolt's shared lock on the
		// file still keeps a writer out.
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(lp, flags|lockOpenFlags, 0o600)
	if !exclusive && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", bare(err))
	}
	deadline := time.Now().Add(timeout)
	for {
		locked, err := tryLock(f, exclusive)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if locked {
			break
		}
		if time.Now().After(deadline) {
			f.Close()
			if pid, ok := HolderPID(path); ok && processExists(pid) {
				return nil, fmt.Errorf("%w (pid %d holds its lock file; waited %v)", driver.ErrLocked, pid, timeout)
			}
			return nil, fmt.Errorf("%w (waited %v)", driver.ErrLocked, timeout)
		}
		time.Sleep(lockPoll)
	}
	if exclusive {
		// Record the holder for memoctl's messages; a failure here costs
		// only the PID in an error message.
		if f.Truncate(0) == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
	}
	return &lockFile{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a waiter
// lock a file that a newcomer then recreates beside it.
func (l *lockFile) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close() // closing the descriptor drops the lock
}

// HolderPID returns the PID that the lock file of the store at path says
// holds it for writing. The answer may be stale: the lock is the truth,
// the PID only helps a person find the process.
func HolderPID(path string) (int, bool) {
	b, err := os.ReadFile(LockPath(path))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}
