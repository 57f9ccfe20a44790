package boltstore_test

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/storetest"
)

// TestConformance runs the conformance suite on files: the stores one
// test opens are one file, reopened.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	var places sync.Map // test name → path
	storetest.Run(t, func(tb testing.TB, opts ...store.Option) *store.Store {
		tb.Helper()
		p, _ := places.LoadOrStore(tb.Name(), filepath.Join(dir, strconv.Itoa(len(tb.Name()))+"-"+filepath.Base(tb.Name())+".db"))
		path := p.(string)
		base := []store.Option{store.WithLogger(nil), store.WithLockTimeout(100 * time.Millisecond), store.WithSweepInterval(0)}
		s, err := store.Open(path, append(base, opts...)...)
		if err != nil {
			tb.Fatalf("Open(%s): %v", path, err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConformanceFollower runs the conformance suite on followers: each
// test's file is held by a store that the test does not see, opened
// first, and every store the test opens follows it.
func TestConformanceFollower(t *testing.T) {
	dir := shortTempDir(t)
	var holders sync.Map // path → *store.Store
	storetest.Run(t, func(tb testing.TB, opts ...store.Option) *store.Store {
		tb.Helper()
		path := filepath.Join(dir, strconv.Itoa(len(tb.Name()))+"-"+filepath.Base(tb.Name())+".db")
		base := []store.Option{store.WithLogger(nil), store.WithLockTimeout(time.Second), store.WithSweepInterval(0)}
		if _, held := holders.Load(path); !held {
			// With the test's options (its clock: the holder sweeps by
			// its own), as a process beside it on the machine would be.
			h, err := store.Open(path, append(base, opts...)...)
			if err != nil {
				tb.Fatalf("Open(%s) for the holder: %v", path, err)
			}
			holders.Store(path, h)
			t.Cleanup(func() { h.Close() })
		}
		s, err := store.Open(path, append(base, opts...)...)
		if err != nil {
			tb.Fatalf("Open(%s): %v", path, err)
		}
		if s.Role() != store.RoleFollower {
			tb.Fatalf("Open(%s) beside a holder: %v, want a follower", path, s.Role())
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

// shortTempDir returns a new directory with a short path (control
// sockets must fit in 108 bytes), removed when the test ends.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "conf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
