package redisstore

import (
	"context"
	"testing"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
)

// TestRedisHealsAfterDataLoss: after the server loses every key (FLUSHALL,
// a restart without persistence), the processes that keep running put the
// namespaces set, the meta hash and the format key back with what they
// send anyway, and Clear works meanwhile: a namespace's Clear finds it,
// and a Clear of all reaches entries written since the loss.
func TestRedisHealsAfterDataLoss(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL())
	ns := mtesting.OpenNS(t, s.Store, "fn")
	mtesting.Put(t, ns, "before", mtesting.Record("before", 1, 0, "v"))
	c := redistest.Client(t, srv.URL())
	ctx := context.Background()
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	// Clear works before anything was put back.
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	if err := ns.Clear(ctx); err != nil {
		t.Fatalf("the namespace's Clear after FLUSHALL: %v", err)
	}
	mtesting.WantMiss(t, ns, "k")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	if err := c.Del(ctx, s.rd.namespacesKey()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "k")

	// What the process sends anyway puts the control keys back.
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	mtesting.Lookup(t, ns, "k")
	nsOf(t, ns).d.Hits.Add(1) // something to push
	mtesting.Flush(t, s.Store)
	if !c.SIsMember(ctx, s.rd.namespacesKey(), "fn").Val() {
		t.Error("the namespaces set was not put back")
	}
	if v := c.HGet(ctx, nsOf(t, ns).metaKey, "version").Val(); v != "1" {
		t.Errorf("meta hash version = %q, want it put back as 1", v)
	}
	if v, _ := c.Get(ctx, s.rd.prefix+":format").Int(); v != RedisFormatVersion {
		t.Errorf("format key = %d, want it put back as %d", v, RedisFormatVersion)
	}
	if st := mtesting.NSStats(t, s.Store, "fn"); st.Version != "1" {
		t.Errorf("Stats after the loss: version %q, want 1", st.Version)
	}
}

// TestRedisClearWithoutNamespacesSet: a Clear of all reaches a namespace
// that the namespaces set lost (evicted under allkeys-lru, as no one reads
// it), also one claimed only by another process.
func TestRedisClearWithoutNamespacesSet(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a := openStore(t, url, WithPrefix(prefix))
	b := openStore(t, url, WithPrefix(prefix))
	b.rd.sub.Close() // the message is late: b learns from the server
	ns := mtesting.OpenNS(t, b.Store, "elsewhere")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	ctx := context.Background()
	if err := redistest.Client(t, url).Del(ctx, a.rd.namespacesKey(), nsOf(t, ns).metaKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "k")
}
