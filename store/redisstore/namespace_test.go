package redisstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisLayout checks the keys a Redis store writes: the record under
// PREFIX:NAMESPACE:VERSION:d:KEY with a native TTL, the namespace's meta
// and counts hashes, the format key.
func TestRedisLayout(t *testing.T) {
	clock := mtesting.NewFakeClock()
	s, url, prefix := openRedisStore(t, store.WithClock(clock))
	c := redistest.Client(t, url)
	ctx := context.Background()
	ns := mtesting.OpenNS(t, s.Store, "lay:out")
	rec := mtesting.Record("k", clock.Nanos(), clock.Nanos()+int64(time.Hour), "v")
	mtesting.Put(t, ns, "k", rec)
	ver := fingerprint(mtesting.Spec("1"))
	dataKey := prefix + ":lay%3Aout:" + ver + ":d:" + string(mtesting.Key("k"))
	got, err := c.Get(ctx, dataKey).Bytes()
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("GET %q = %x, %v; want the record %x", dataKey, got, err, rec)
	}
	if ttl := c.PTTL(ctx, dataKey).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL = %v, want about 1h", ttl)
	}
	mtesting.Put(t, ns, "forever", mtesting.Record("forever", clock.Nanos(), 0, "v"))
	if ttl := c.PTTL(ctx, prefix+":lay%3Aout:"+ver+":d:"+string(mtesting.Key("forever"))).Val(); ttl != -1 {
		t.Errorf("PTTL of an entry without TTL = %v, want none (-1)", ttl)
	}
	meta := c.HGetAll(ctx, prefix+":lay%3Aout:meta").Val()
	if meta["version"] != "1" || meta["key_type"] != "int64" || meta["value_type"] != "string" || meta["fingerprint"] != ver {
		t.Errorf("meta hash = %v", meta)
	}
	if n, _ := c.HGet(ctx, prefix+":lay%3Aout:counts", "writes").Int(); n != 2 {
		t.Errorf("counts hash writes = %d, want 2 (written with each record)", n)
	}
	if v, _ := c.Get(ctx, prefix+":format").Int(); v != RedisFormatVersion {
		t.Errorf("format key = %d, want %d", v, RedisFormatVersion)
	}
	if !c.SIsMember(ctx, prefix+":namespaces", "lay:out").Val() {
		t.Error("the namespace is not in the namespaces set")
	}
}

// TestRedisTTL checks that Redis itself removes an expired entry.
func TestRedisTTL(t *testing.T) {
	s, url, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "ttl")
	now := time.Now().UnixNano()
	mtesting.Put(t, ns, "k", mtesting.Record("k", now, now+int64(150*time.Millisecond), "v"))
	mtesting.WantValue(t, ns, "k", "v")
	c := redistest.Client(t, url)
	dataKey := nsOf(t, ns).data + string(mtesting.Key("k"))
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(context.Background(), dataKey).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not expire the entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mtesting.WantMiss(t, ns, "k")
}

// TestRedisRoundTrips counts what a memo miss costs on Redis: the lookup,
// the lock with a second read of the key, and the write of the record with
// its counter and the lock's release: one round trip each. A hit is one.
func TestRedisRoundTrips(t *testing.T) {
	s, _, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "rtt")
	rt := &roundTrips{}
	s.rd.rdb.AddHook(rt)
	ctx := context.Background()
	accept := func([]byte, int64, int64) error { return nil }
	step := func(what string, want int64, f func()) {
		t.Helper()
		before := rt.n.Load()
		f()
		if got := rt.n.Load() - before; got != want {
			t.Errorf("%s: %d round trips, want %d", what, got, want)
		}
	}
	step("lookup (miss)", 1, func() { mtesting.WantMiss(t, ns, "k") })
	var release func()
	step("acquire", 1, func() {
		var ok bool
		var err error
		if ok, release, err = ns.Acquire(ctx, mtesting.Key("k"), accept); ok || err != nil {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
	})
	before := rt.cmds.Load()
	step("put (record, counter, lock release)", 1, func() { mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v")) })
	if got := rt.cmds.Load() - before; got != 3 {
		t.Errorf("the put's pipeline held %d commands, want 3", got)
	}
	step("release after put", 0, release)
	step("lookup (hit)", 1, func() { mtesting.WantValue(t, ns, "k", "v") })
	if n := redistest.Client(t, redistest.URL(t)).Exists(ctx, nsOf(t, ns).lock+string(mtesting.Key("k"))).Val(); n != 0 {
		t.Error("the lock outlived the put")
	}
}
