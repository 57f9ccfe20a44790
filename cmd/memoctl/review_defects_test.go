package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestLiveKeysKeepBigInts: keys through a live holder must print the same
// key as keys offline. A 64-bit integer key above 2^53 was rounded by the
// JSON round trip (2^53+1 printed as 2^53; found by a review).
func TestLiveKeysKeepBigInts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	h := startHolder(t, path, "control")
	const big = "9007199254740993" // 2^53 + 1
	if got := h.call(t, 9007199254740993); got != "ran" {
		t.Fatalf("call: %s", got)
	}
	out, errOut, code := runCmd(t, "keys", "--namespace", "double", path)
	if code != 0 {
		t.Fatalf("keys: exit %d %s", code, errOut)
	}
	if !strings.Contains(out, `"key":`+big+`,`) {
		t.Fatalf("live keys printed %q, want key %s", out, big)
	}
}

// TestCheckFixUnrepairedExitsNonZero: check --fix must not exit 0 when a
// problem it found is left unrepaired (a bucket of no namespace): check
// exits 0 only when all is well. It did (found by a review).
func TestCheckFixUnrepairedExitsNonZero(t *testing.T) {
	path := makeStore(t, 3)
	damage(t, path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("d/ghost"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	out, _, code := runCmd(t, "check", "--fix", path)
	out2, _, code2 := runCmd(t, "check", path)
	if code2 != 0 && code == 0 {
		t.Fatalf("check --fix exited 0:\n%s\nbut a check after it still fails (exit %d):\n%s", out, code2, out2)
	}
}

// TestMemMaxMixedBounds: the memory-tier bound info shows for a namespace
// used by two processes, one bounded (16) and one unbounded (-1), is
// unbounded; it was their sum, 15 (found by a review).
func TestMemMaxMixedBounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	h := startHolder(t, path, "control")
	h.call(t, 1)
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Role() != store.RoleFollower {
		t.Fatalf("role %v", s.Role())
	}
	double, err := memo.New(s, "double", func(_ context.Context, x int) (int, error) { return 2 * x, nil }, memo.MaxSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	double.Call(context.Background(), 2)
	var ns namespaceJSON
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ns = liveInfo(t, path).Namespaces[0]
		if ns.MemSize == 2 {
			break
		}
	}
	if ns.MemSize != 2 {
		t.Fatalf("memory sizes never reported: %+v", ns)
	}
	if ns.MemMax >= 0 {
		t.Fatalf("memory bound of a namespace with an unbounded tier: %d (%s), want unbounded", ns.MemMax, maxSize(ns.MemMax))
	}
}

// TestClearGraceWithoutStale: --grace applies only with --stale; without
// it, clear must refuse it. It ignored it and cleared every namespace of
// the file (found by a review).
func TestClearGraceWithoutStale(t *testing.T) {
	path := makeStore(t, 3)
	out, _, code := runCmd(t, "clear", "--grace", "1h", path)
	if code != 2 {
		t.Fatalf("clear --grace 1h (no --stale): exit %d, %q; want a usage error (2)", code, out)
	}
}
