package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisLayout checks the keys a Redis store writes: the record under
// PREFIX:NAMESPACE:VERSION:GEN:d:{HASH}KEY with a native TTL (HASH the
// FNV-1a hash of KEY, the hash tag that puts it in its lock's slot), the
// namespace's meta and counts hashes, the format key.
func TestRedisLayout(t *testing.T) {
	clock := mtesting.NewFakeClock()
	s, url, prefix := openRedisStore(t, store.WithClock(clock))
	c := redistest.Client(t, url)
	ctx := context.Background()
	ns := mtesting.OpenNS(t, s.Store, "lay:out")
	rec := mtesting.Record("k", clock.Nanos(), clock.Nanos()+int64(time.Hour), "v")
	mtesting.Put(t, ns, "k", rec)
	ver := fingerprint(mtesting.Spec("1"))
	tag := func(k string) string {
		h := fnv.New32a()
		h.Write(mtesting.Key(k))
		return fmt.Sprintf("{%08x}", h.Sum32()) + string(mtesting.Key(k))
	}
	dataKey := prefix + ":lay%3Aout:" + ver + ":0.0:d:" + tag("k")
	got, err := c.Get(ctx, dataKey).Bytes()
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("GET %q = %x, %v; want the record %x", dataKey, got, err, rec)
	}
	if ttl := c.PTTL(ctx, dataKey).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL = %v, want about 1h", ttl)
	}
	mtesting.Put(t, ns, "forever", mtesting.Record("forever", clock.Nanos(), 0, "v"))
	if ttl := c.PTTL(ctx, prefix+":lay%3Aout:"+ver+":0.0:d:"+tag("forever")).Val(); ttl != -1 {
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
	dataKey := nsOf(t, ns).gens().entryKey(mtesting.Key("k"))
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
// On a cluster, a round trip is one pipeline that the client splits by
// node and sends every node at once: no node sees two exchanges in one
// step.
func TestRedisRoundTrips(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{
		"server": redistest.URL, "cluster": redistest.ClusterURL,
	} {
		t.Run(name, func(t *testing.T) { testRoundTrips(t, url(t)) })
	}
}

func testRoundTrips(t *testing.T, url string) {
	s := openStore(t, url, WithPrefix(redistest.Prefix(t, url)))
	ns := mtesting.OpenNS(t, s.Store, "rtt")
	ctx := context.Background()
	accept := func([]byte, codec.Header) error { return nil }
	// A miss first, uncounted: a new ClusterClient asks a node for the
	// commands' key positions (COMMAND) once, and dials its connections.
	mtesting.WantMiss(t, ns, "warm")
	if _, release, err := ns.Acquire(ctx, mtesting.Key("warm"), accept); err != nil {
		t.Fatal(err)
	} else {
		mtesting.Put(t, ns, "warm", mtesting.Record("warm", 1, 0, "v"))
		release()
	}
	rt := &roundTrips{}
	s.rd.rdb.AddHook(rt)
	var perNode []*roundTrips // on a cluster, each master's exchanges
	if c, ok := s.rd.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			r := &roundTrips{}
			m.AddHook(r)
			mu.Lock()
			perNode = append(perNode, r)
			mu.Unlock()
			return nil
		})
		if err != nil || len(perNode) != 3 {
			t.Fatalf("ForEachMaster: %d masters, %v; want 3", len(perNode), err)
		}
	}
	step := func(what string, want int64, f func()) {
		t.Helper()
		before := rt.n.Load()
		nodesBefore := make([]int64, len(perNode))
		for i, r := range perNode {
			nodesBefore[i] = r.n.Load()
		}
		f()
		if got := rt.n.Load() - before; got != want {
			t.Errorf("%s: %d round trips, want %d", what, got, want)
		}
		var sum int64
		for i, r := range perNode {
			got := r.n.Load() - nodesBefore[i]
			if got > want {
				t.Errorf("%s: a master had %d exchanges, want at most %d", what, got, want)
			}
			sum += got
		}
		if len(perNode) > 0 && want > 0 && sum == 0 {
			t.Errorf("%s: no master saw an exchange", what)
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
	step("put (record, counter, namespaces set, lock release)", 1, func() { mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v")) })
	if got := rt.cmds.Load() - before; got != 4 {
		t.Errorf("the put's pipeline held %d commands, want 4", got)
	}
	step("release after put", 0, release)
	step("lookup (hit)", 1, func() { mtesting.WantValue(t, ns, "k", "v") })
	if n := redistest.UniversalClient(t, url).Exists(ctx, nsOf(t, ns).lockKey(mtesting.Key("k"))).Val(); n != 0 {
		t.Error("the lock outlived the put")
	}
}

// A scanGate holds back every SCAN its client sends, alone or in a
// pipeline, until open is closed or the command's context ends.
type scanGate struct {
	open  chan struct{}
	once  sync.Once
	scans atomic.Int64 // SCANs held back or let through
}

// release opens the gate.
func (g *scanGate) release() { g.once.Do(func() { close(g.open) }) }

// gateScans adds a scanGate to the client of s, and opens it when the
// test ends.
func gateScans(t *testing.T, s *testStore) *scanGate {
	g := &scanGate{open: make(chan struct{})}
	s.rd.rdb.AddHook(g)
	t.Cleanup(g.release)
	return g
}

func (g *scanGate) wait(ctx context.Context, cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if c.Name() == "scan" {
			g.scans.Add(1)
			select {
			case <-g.open:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (g *scanGate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *scanGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := g.wait(ctx, cmd); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}
func (g *scanGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := g.wait(ctx, cmds...); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// oldVersion claims namespace name at version 1 in a store of its own on
// url under prefix, stores "k" there and n more keys, closes that store,
// and returns the prefix of version 1's keys.
func oldVersion(t *testing.T, url, prefix, name string, n int) (data string) {
	t.Helper()
	s := openStore(t, url, WithPrefix(prefix))
	ns := mtesting.OpenNS(t, s.Store, name)
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v1"))
	sp := s.rd.claimed1(name)
	data = sp.gens().data
	ctx := context.Background()
	_, err := redistest.Client(t, url).Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, data+strconv.Itoa(i), "old", 0)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mtesting.CloseStore(t, s.Store)
	return sp.verBase()
}

// claimWithin claims name at version on s, and fails the test if the
// claim takes more than a few seconds.
func claimWithin(t *testing.T, s *testStore, name, version string) *store.Namespace {
	t.Helper()
	type claimed struct {
		ns  *store.Namespace
		err error
	}
	done := make(chan claimed, 1)
	go func() {
		ns, err := s.Namespace(context.Background(), name, mtesting.Spec(version))
		done <- claimed{ns, err}
	}()
	select {
	case c := <-done:
		if c.err != nil {
			t.Fatal(c.err)
		}
		return c.ns
	case <-time.After(3 * time.Second):
		t.Fatalf("the claim of %q at version %s waited for the old version's keys to be deleted", name, version)
		return nil
	}
}

// keysLeft returns how many keys start with prefix.
func keysLeft(t *testing.T, url, prefix string) int {
	t.Helper()
	keys, err := redistest.Client(t, url).Keys(context.Background(), globEscape(prefix)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
