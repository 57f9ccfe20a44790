//go:build !linux

package memostore_test

import "testing"

// mountTmpfs would mount a small tmpfs (see mount_linux_test.go); there is
// none here.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	t.Skip("skipping: a small tmpfs needs Linux (store/fault_test.go tests failing commits without it)")
	return ""
}
