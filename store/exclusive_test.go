package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store"
)

// TestExclusiveRefusesFollowers: a file opened WithExclusive is held by
// one process alone: a second Open waits WithLockTimeout and fails with
// ErrLocked (README, package doc). It followed the exclusive holder, which
// served it as any other (found by a review). memoctl is still served.
func TestExclusiveRefusesFollowers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	a, err := store.Open(path, store.WithExclusive(), store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	b, err := store.Open(path, store.WithLogger(nil), store.WithLockTimeout(200*time.Millisecond))
	if err == nil {
		defer b.Close()
		t.Fatalf("second Open of a file held WithExclusive succeeded, role %v; want ErrLocked", b.Role())
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("second Open failed after %v, before its lock timeout", d)
	}
	c, err := control.Dial(context.Background(), path) // as memoctl does
	if err != nil {
		t.Fatalf("memoctl's connection to an exclusive holder: %v", err)
	}
	defer c.Close()
	if _, err := c.Stats(context.Background(), time.Second); err != nil {
		t.Errorf("Stats through an exclusive holder: %v", err)
	}
}
