package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
)

// TestRedisDeleteHeedsBreaker: while the breaker keeps a frozen server
// out, lookups skip it at once; every Delete (Forget) still waited the
// whole WithTimeout on it (found by a review).
func TestRedisDeleteHeedsBreaker(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(300*time.Millisecond))
	ns := mtesting.OpenNS(t, s.Store, "del")
	ctx := context.Background()
	mtesting.WantMiss(t, ns, "warm")
	srv.Freeze()
	defer srv.Thaw()
	mtesting.WantMiss(t, ns, "k") // opens the breaker
	if !s.rd.brk.Down() {
		t.Fatal("breaker not open")
	}
	start := time.Now()
	mtesting.WantMiss(t, ns, "k")
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("a lookup with the breaker open took %v", d)
	}
	start = time.Now()
	_ = ns.Delete(ctx, mtesting.Key("k"))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a Delete with the breaker open took %v (the lookup took none)", d)
	}
}
