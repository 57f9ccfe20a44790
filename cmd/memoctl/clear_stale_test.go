package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestRedisClearStale: clear --stale deletes at once the entries of a
// version no process has used for the grace period, and keeps those of
// the version in use, on one server and on every master of a cluster.
func TestRedisClearStale(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{
		"server": redistest.URL, "cluster": redistest.ClusterURL,
	} {
		t.Run(name, func(t *testing.T) { testRedisClearStale(t, url(t)) })
	}
}

func testRedisClearStale(t *testing.T, base string) {
	prefix := redistest.Prefix(t, base)
	url := redistest.WithPrefix(t, base, prefix)
	ctx := context.Background()
	fill := func(version string, n int) *store.Store {
		s, err := store.Open(url, store.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f, err := memo.New(s, "fn", func(_ context.Context, k int) (int, error) { return 2 * k, nil }, memo.Version(version))
		if err != nil {
			t.Fatal(err)
		}
		for k := range n {
			if _, err := f.Call(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := redistest.UniversalClient(t, base)
	entries := func(fp string) int {
		return len(redistest.Keys(t, base, prefix+":fn:"+fp+":*"))
	}
	if err := fill("1", 5).Close(); err != nil {
		t.Fatal(err)
	}
	versions := c.HKeys(ctx, prefix+":fn:versions").Val()
	if len(versions) != 1 {
		t.Fatalf("versions hash %v, want version 1 alone", versions)
	}
	v1 := versions[0]
	fill("2", 3) // in use
	// Version 1 was last used two days ago.
	if err := c.HSet(ctx, prefix+":fn:versions", v1, time.Now().Add(-48*time.Hour).UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "clear", "--stale", url)
	if code != 0 {
		t.Fatalf("clear --stale: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "5 keys") {
		t.Errorf("clear --stale said %q, want 5 keys deleted", out)
	}
	if n := entries(v1); n != 0 {
		t.Errorf("%d entries of version 1 left, want none", n)
	}
	var left int
	for _, fp := range c.HKeys(ctx, prefix+":fn:versions").Val() {
		left += entries(fp)
	}
	if left != 3 {
		t.Errorf("%d entries of version 2 left, want 3", left)
	}
	if _, _, code := runCmd(t, "clear", "--stale", "--grace", "1h", url); code != 0 {
		t.Errorf("clear --stale --grace 1h: exit %d", code)
	}
	if _, errOut, code := runCmd(t, "clear", "--stale", "--namespace", "fn", url); code == 0 {
		t.Errorf("clear --stale --namespace succeeded: %s", errOut)
	}
}
