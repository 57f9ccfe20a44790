package memostore_test

import (
	"os"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory, for the
// test's life.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs needs root (store/fault_test.go tests failing commits without it)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs on %s: %v (store/fault_test.go tests failing commits without it)", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}
