//go:build unix

package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
)

// TestOpenFIFODoesNotHang: a named pipe is not a store file, and
// Open must say so at once, as it does for a directory. It blocked for
// ever, in the os.Open of checkFile (boltstore/format.go), which waits
// for a writer on the pipe; WithLockTimeout did not bound it.
// store.Compact on the same path hung the same way.
func TestOpenFIFODoesNotHang(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cache.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	type result struct {
		s   *store.Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := store.Open(fifo, store.WithLogger(nil), store.WithLockTimeout(100*time.Millisecond))
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.s != nil {
			r.s.Close()
			t.Fatal("Open of a FIFO succeeded")
		}
		if r.err == nil {
			t.Fatal("Open of a FIFO returned no store and no error")
		}
		return
	case <-time.After(3 * time.Second):
	}
	// Let the blocked Open go: a writer that comes and goes ends its wait.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	select {
	case r := <-done:
		if r.s != nil {
			r.s.Close()
		}
	case <-time.After(time.Second):
	}
	t.Fatal("store.Open of a FIFO did not return within 3 s (blocked opening the pipe); want an error such as \"not a regular file\"")
}

// TestOpenRecoverLeavesDeviceAlone: a device node is not a
// corrupt store file. Open of one said "file is not a valid store: the
// file is empty" (a character device has size 0), and WithRecover then
// renamed the device node to NAME.corrupt-... and put a fresh store file
// in its place: Open("/dev/null", WithRecover()) run as root would have
// moved /dev/null. A directory is refused as "not a store file" and never
// moved; so is a device now.
func TestOpenRecoverLeavesDeviceAlone(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "cache.db")
	// A character device 1:3, as /dev/null.
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
		t.Skipf("mknod (needs root): %v", err)
	}
	s, err := store.Open(dev, store.WithLogger(nil), store.WithRecover(), store.WithoutControl())
	if s != nil {
		s.Close()
	}
	fi, serr := os.Lstat(dev)
	moved := serr != nil || fi.Mode()&os.ModeDevice == 0
	if moved {
		matches, _ := filepath.Glob(dev + ".corrupt-*")
		t.Errorf("Open(device, WithRecover()) = %v: the device node was moved aside (now %v) and replaced by a store file", err, matches)
	}
	if err == nil {
		t.Fatal("Open of a character device succeeded; want an error that it is not a regular file")
	}
	if errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Open of a character device = %v; it is not a corrupt store but no file at all", err)
	}
}
