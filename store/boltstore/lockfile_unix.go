//go:build !windows

package boltstore

import (
	"errors"
	"os"
	"syscall"
)

// lockOpenFlags are added to the flags the lock file is opened with: a
// symlink planted at PATH.lock is refused, and the descriptor is not
// inherited by child processes (which would keep the lock held).
const lockOpenFlags = syscall.O_NOFOLLOW | syscall.O_CLOEXEC

// tryLock takes f's flock, shared or exclusive, without waiting. It
// returns false, nil if another open file holds a conflicting lock.
func tryLock(f *os.File, exclusive bool) (bool, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		return false, nil
	}
	return false, err
}

// processExists reports whether a process with this PID exists.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
