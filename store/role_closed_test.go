package store_test

import (
	"testing"

	"github.com/memostore/memostore/store"
)

// TestRoleAfterClose: a store file this process held, once
// closed, is held and followed by no one here. Its Role said
// RoleFollower, as if another process held the file and this one used it
// through that process (a store opened WithExclusive kept saying
// RoleHolder): a silent wrong value for a program that reports its role
// (examples/workers does). Role of a closed store is now the part it
// played when it closed.
func TestRoleAfterClose(t *testing.T) {
	s := openFile(t, tempPath(t))
	if got := s.Role(); got != store.RoleHolder {
		t.Fatalf("Role() of the only opener = %v, want holder", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.Role(); got == store.RoleFollower {
		t.Fatalf("Role() after Close = %v: no process holds the file for it to follow", got)
	}
}
