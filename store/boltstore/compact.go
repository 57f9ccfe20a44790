package boltstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds what one transaction copies while compacting.
const compactTxBytes = 64 << 20

// Compact rewrites the store file at path without its free pages: it
// copies the store into a temporary file beside it with bbolt's Compact,
// syncs it, and renames it over path, with path's permissions. It returns
// the file's sizes before and after. A path that is a symbolic link stays
// one: the file it leads to is compacted (see Resolve).
//
// Compact takes the store's lock file exclusively for the whole rewrite,
// so no process has the store open meanwhile and none opens the old file
// after the rename (see LockPath). A store held by a running process gives
// ErrLocked after lockTimeout.
func Compact(ctx context.Context, path string, lockTimeout time.Duration) (before, after int64, err error) {
	fail := func(err error) (int64, int64, error) {
		return 0, 0, &driver.OpError{Op: "compact", Path: path, Err: bare(err)}
	}
	path = Resolve(path) // a link stays a link, to the compacted file
	fi, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	if err := checkFile(path); err != nil {
		return fail(err)
	}
	lock, err := acquireLock(path, true, lockTimeout)
	if err != nil {
		return fail(err)
	}
	defer lock.release()

	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		return fail(err)
	}
	// Closed before the rename (Windows renames no file still open), and on
	// every return before it.
	srcOpen := true
	closeSrc := func() error {
		if !srcOpen {
			return nil
		}
		srcOpen = false
		return src.Close()
	}
	defer closeSrc()
	if err := src.View(checkFormat); err != nil {
		return fail(err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".compact-"+hex.EncodeToString(rnd[:]))
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{})
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	// The file keeps its permissions (bbolt made tmp 0600, less the umask).
	if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
		dst.Close()
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		dst.Close()
		return fail(err)
	}
	if err := bolt.Compact(dst, src, compactTxBytes); err != nil {
		dst.Close()
		return fail(err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		return fail(err)
	}
	nfi, err := os.Stat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := closeSrc(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fail(err)
	}
	return fi.Size(), nfi.Size(), nil
}
