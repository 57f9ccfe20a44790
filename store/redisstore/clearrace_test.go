package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// keepOnPurgeTier is a memory tier whose Purge first lets one computation
// that began before the Clear keep its result, as memo's flights do: an
// invalidation waits for a keep (its Put) already in progress, so a keep
// that got in just before Purge completes its Put. That Put must go to
// the old generation, which no one reads.
type keepOnPurgeTier struct {
	mtesting.Tier
	put  func()
	done atomic.Bool
}

func (t *keepOnPurgeTier) Purge(cleared bool) func() {
	if t.done.CompareAndSwap(false, true) {
		t.put()
	}
	return t.Tier.Purge(cleared)
}

// clearRaceScene opens two stores, a and b, on a private server, with
// namespace "race" in each; b's has a keepOnPurgeTier whose purge keeps a
// result computed before the Clear ("pre-clear" under k). If lose, b's
// subscription is closed: it hears of no Clear by message.
func clearRaceScene(t *testing.T, lose bool) (a *testStore, nsA, nsB *store.Namespace, tier *keepOnPurgeTier) {
	t.Helper()
	srv := redistest.Start(t)
	a = openStore(t, srv.URL())
	b := openStore(t, srv.URL())
	if lose {
		b.rd.sub.Close()
	}
	nsA = mtesting.OpenNS(t, a.Store, "race")
	nsB = mtesting.OpenNS(t, b.Store, "race")
	rb := b.rd.claimed1("race")
	tier = &keepOnPurgeTier{}
	tier.put = func() {
		rb.Put(context.Background(), mtesting.Key("k"), mtesting.Record("k", 1, 0, "pre-clear"))
	}
	nsB.Attach(tier)
	return a, nsA, nsB, tier
}

// TestRedisClearMessagePurgesFirst: a process that hears of another's
// Clear must purge its memory tier before it takes the new generation, as
// the Clear's own process does. It took the generation first (found by a
// review), so a keep of a result computed before the Clear that came in
// between was written under the new generation, and served to every
// process after the Clear.
func TestRedisClearMessagePurgesFirst(t *testing.T) {
	a, nsA, nsB, tier := clearRaceScene(t, false)
	time.Sleep(100 * time.Millisecond) // b subscribed
	if err := a.Clear(context.Background(), "race"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tier.Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("b never heard of the Clear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mtesting.WantMiss(t, nsA, "k")
	mtesting.WantMiss(t, nsB, "k")
}

// TestRedisLookupOfClearPurgesFirst: the same, when a process learns of
// a Clear from a lookup (its message lost): learn raised the generation,
// then purged.
func TestRedisLookupOfClearPurgesFirst(t *testing.T) {
	a, nsA, nsB, tier := clearRaceScene(t, true)
	if err := a.Clear(context.Background(), "race"); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, nsB, "other") // b learns the Clear here
	if tier.Purges.Load() == 0 {
		t.Fatal("b's lookup did not purge")
	}
	mtesting.WantMiss(t, nsA, "k")
	mtesting.WantMiss(t, nsB, "k")
}

// TestRedisClearAfterGenerationLost: a server that lost a namespace's
// generation (a restart without persistence, FLUSHALL, an eviction) and
// is then cleared by a process that knew a lower one (memoctl, a process
// that claimed the namespace after the loss) gets a generation lower than
// the one a long-running process writes and reads under: that process
// never saw the Clear, and served what it stored before it, Clear after
// Clear (found by a review). The server's clock in milliseconds is now a
// floor for the generation a Clear sets.
func TestRedisClearAfterGenerationLost(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	b := openStore(t, srv.URL())
	nsB := mtesting.OpenNS(t, b.Store, "g")
	for range 3 {
		if err := nsB.Clear(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The server restarts empty (no persistence); b runs on.
	if err := redistest.Client(t, srv.URL()).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rb := b.rd.claimed1("g")
	if err := rb.Put(ctx, mtesting.Key("k"), mtesting.Record("k", 1, 0, "before the clear")); err != nil {
		t.Fatal(err)
	}
	// memoctl clear g, twice.
	c := openStore(t, srv.URL())
	for range 2 {
		if err := c.Clear(ctx, "g"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if f := mtesting.Lookup(t, rb, "k"); f.OK {
		t.Fatalf("after two Clears, b still reads %q (b's generation %d, the server's %d)",
			f.Payload, rb.gens().ns, mustInt(t, c, rb.genKey))
	}
}

func mustInt(t *testing.T, s *testStore, key string) int64 {
	v, _ := s.rd.rdb.Get(context.Background(), key).Int64()
	return v
}

// TestRedisReclaimsBounded: every reclamation started (one a Clear, one
// a namespace an hour) left its channel in s.reclaims until a Flush,
// which a program need never call: the slice grew for ever (found by a
// review).
func TestRedisReclaimsBounded(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s := openStore(t, srv.URL())
	mtesting.OpenNS(t, s.Store, "n")
	for range 200 {
		if err := s.Clear(ctx, "n"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the reclamations end
	s.rd.mu.Lock()
	n := len(s.rd.reclaims)
	s.rd.mu.Unlock()
	if n > 10 {
		t.Fatalf("%d reclamations, all ended, still held in s.reclaims", n)
	}
}
