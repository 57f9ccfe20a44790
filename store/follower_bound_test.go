package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
)

// TestFollowerByteBound: the byte bound of a shared file is its holder's,
// whose writer evicts. A process that opens the file with another bound
// cannot keep it: Open refuses it (it followed, and its WithMaxBytes was
// silently dropped: its writes took the file to many times its bound). A
// process with no bound, or the same one, follows; one with no bound
// keeps the holder's once it takes the file over.
func TestFollowerByteBound(t *testing.T) {
	dir, err := os.MkdirTemp("", "fb") // short: the control socket's path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.db")
	const bound = 1 << 20
	holder, err := store.Open(path, store.WithLogger(nil), store.WithMaxBytes(bound))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []int64{10_000, 2 * bound} {
		f, err := store.Open(path, store.WithLogger(nil), store.WithMaxBytes(other), store.WithLockTimeout(time.Second))
		if err == nil {
			f.Close()
			t.Fatalf("Open WithMaxBytes(%d) of a file held WithMaxBytes(%d) succeeded (role %v); want it refused", other, bound, f.Role())
		}
		if !strings.Contains(err.Error(), "WithMaxBytes") {
			t.Errorf("refusal does not name the option: %v", err)
		}
	}
	same, err := store.Open(path, store.WithLogger(nil), store.WithMaxBytes(bound))
	if err != nil {
		t.Fatalf("Open with the holder's bound: %v", err)
	}
	defer same.Close()
	unbounded, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatalf("Open with no bound: %v", err)
	}
	defer unbounded.Close()
	if same.Role() != store.RoleFollower || unbounded.Role() != store.RoleFollower {
		t.Fatalf("roles %v, %v; want followers", same.Role(), unbounded.Role())
	}
	// The holder goes; the follower with no bound takes over, with the
	// file's.
	if err := same.Close(); err != nil {
		t.Fatal(err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for unbounded.Role() != store.RoleHolder && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := unbounded.Role(); r != store.RoleHolder {
		t.Fatalf("role %v after the holder closed; want holder", r)
	}
	if st := unbounded.Stats(); st.MaxBytes != bound {
		t.Errorf("after the takeover: MaxBytes %d, want the file's %d", st.MaxBytes, bound)
	}
}

// TestFollowThroughSymlink: a process that opens a held file through a
// symbolic link follows its holder, whose control endpoint is beside the
// file the link leads to (see boltstore.Resolve); it dialled LINK.ctl and
// waited the lock timeout for ErrLocked.
func TestFollowThroughSymlink(t *testing.T) {
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.db")
	holder, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	link := filepath.Join(dir, "l.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	f, err := store.Open(link, store.WithLogger(nil), store.WithLockTimeout(time.Second))
	if err != nil {
		t.Fatalf("Open through a link to a held file: %v", err)
	}
	defer f.Close()
	if f.Role() != store.RoleFollower {
		t.Errorf("role %v through a link; want follower", f.Role())
	}
}
