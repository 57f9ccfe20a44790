package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
)

// TestRedisClearReachesOtherProcesses: a Clear in one process purges the
// memory tiers another has attached to the namespace.
func TestRedisClearReachesOtherProcesses(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a := openStore(t, url, WithPrefix(prefix))
	b := openStore(t, url, WithPrefix(prefix))
	mtesting.OpenNS(t, a.Store, "shared")
	tier := &mtesting.Tier{}
	mtesting.OpenNS(t, b.Store, "shared").Attach(tier)
	other := &mtesting.Tier{}
	mtesting.OpenNS(t, b.Store, "other").Attach(other)
	if err := a.Clear(context.Background(), "shared"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tier.Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other process's memory tier was not purged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if other.Purges.Load() != 0 {
		t.Error("a tier of another namespace was purged")
	}
	// a's own message, arriving after its Clear, does not drop what a
	// counted since; another store's does.
	a.rd.claims["shared"].d.Misses.Add(1)
	a.rd.onClear(a.rd.id + " shared")
	mtesting.Flush(t, a.Store)
	if st := mtesting.NSStats(t, a.Store, "shared"); st.Misses != 1 {
		t.Errorf("misses counted after a's own Clear = %d, want 1", st.Misses)
	}
	b.rd.claims["shared"].d.Misses.Add(1)
	b.rd.onClear(a.rd.id + " shared")
	mtesting.Flush(t, b.Store)
	if st := mtesting.NSStats(t, b.Store, "shared"); st.Misses != 1 {
		t.Errorf("misses after another's clear = %d, want 1 (a's, pushed before)", st.Misses)
	}
}

// TestRedisSubscriptionRestored: a clear published while a process's
// subscription was down never reaches it, so the process checks the
// generations when the subscription is restored, and purges the memory
// tiers of the namespaces cleared meanwhile.
func TestRedisSubscriptionRestored(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL())
	tier := &mtesting.Tier{}
	ns := mtesting.OpenNS(t, s.Store, "sub")
	ns.Attach(tier)
	time.Sleep(100 * time.Millisecond) // subscribed
	c := redistest.Client(t, srv.URL())
	ctx := context.Background()
	// A Clear whose message is lost, and the subscription goes.
	if err := c.Incr(ctx, nsOf(t, ns).genKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for tier.Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the memory tier was not purged when the subscription came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisClearStaysInItsDatabase: Pub/Sub is server-wide, so a Clear
// on database 0 must not purge the memory tiers of a tenant of database 1
// that uses the same prefix; a Clear on database 1 does.
func TestRedisClearStaysInItsDatabase(t *testing.T) {
	url0 := redistest.DB(t, redistest.URL(t), 0)
	url1 := redistest.DB(t, url0, 1)
	prefix := redistest.Prefix(t, url0)
	redistest.Cleanup(t, url1, prefix)
	a := openStore(t, url0, WithPrefix(prefix))
	b := openStore(t, url1, WithPrefix(prefix))
	c := openStore(t, url1, WithPrefix(prefix))
	mtesting.OpenNS(t, a.Store, "shared")
	mtesting.OpenNS(t, c.Store, "shared")
	tier := &mtesting.Tier{}
	mtesting.OpenNS(t, b.Store, "shared").Attach(tier)
	if err := a.Clear(context.Background(), "shared"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := tier.Purges.Load(); n != 0 {
		t.Fatalf("a Clear on database 0 purged a memory tier of database 1 (%d purges)", n)
	}
	if err := c.Clear(context.Background(), "shared"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tier.Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a Clear on database 1 did not purge the memory tier of database 1")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
