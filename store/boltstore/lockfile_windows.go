package boltstore

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockOpenFlags are added to the flags the lock file is opened with; the
// Unix ones (no symlinks, close on exec) have no equivalent to ask for
// here: Go opens files non-inheritable on Windows anyway.
const lockOpenFlags = 0

// lockRange is the one byte locked, far past the end of the file, as
// bbolt does: LockFileEx locks are mandatory, and a lock on the PID
// written at the start would keep HolderPID from reading it.
const lockRange = ^uint32(0)

// tryLock takes a LockFileEx lock on f, shared or exclusive, without
// waiting. It returns false, nil if another handle holds a conflicting
// lock.
func tryLock(f *os.File, exclusive bool) (bool, error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := &windows.Overlapped{Offset: lockRange, OffsetHigh: lockRange}
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION), errors.Is(err, windows.ERROR_IO_PENDING):
		return false, nil
	}
	return false, err
}

// processExists reports whether a process with this PID exists.
func processExists(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Access denied means a process is there, owned by someone else.
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	windows.CloseHandle(h)
	return true
}
