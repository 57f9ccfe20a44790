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
