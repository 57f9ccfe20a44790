package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// openCluster opens a store with redisstore.Open on a ClusterClient of
// the test cluster, under a fresh prefix, and closes both when the test
// ends.
func openCluster(t *testing.T, opts ...store.Option) (s *testStore, c *redis.ClusterClient, prefix string) {
	t.Helper()
	url := redistest.ClusterURL(t)
	prefix = redistest.Prefix(t, url)
	c = redistest.ClusterClient(t, url)
	var rd *redisStore
	st, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		d, err := open(c, false, describe(c), settings(o))
		rd = d
		if err == nil {
			opened.Store(t.Name(), append(openedBy(t.Name()), rd))
		}
		return d, err
	}, append([]store.Option{store.WithLogger(nil), WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", describe(c), err)
	}
	t.Cleanup(func() {
		st.Close()
		opened.Delete(t.Name())
	})
	return &testStore{st, rd}, c, prefix
}

// keysPerMaster returns how many keys under prefix each master of c
// holds, by address.
func keysPerMaster(t *testing.T, c *redis.ClusterClient, prefix string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	err := c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, globEscape(prefix)+":*").Result()
		mu.Lock()
		counts[m.Options().Addr] = len(keys)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestRedisCluster: redisstore.Open takes a ClusterClient. A namespace's
// entries spread over every master, not one slot; lookups, the lock and
// Clear work across slots; and the entries a Clear left are deleted on
// every master.
func TestRedisCluster(t *testing.T) {
	s, c, prefix := openCluster(t)
	ctx := context.Background()
	ns := mtesting.OpenNS(t, s.Store, "spread")
	const n = 300
	for i := range n {
		k := fmt.Sprint(i)
		mtesting.Put(t, ns, k, mtesting.Record(k, 1, 0, "v"+k))
	}
	for i := range n {
		k := fmt.Sprint(i)
		mtesting.WantValue(t, ns, k, "v"+k)
	}
	per := keysPerMaster(t, c, prefix)
	if len(per) < 3 {
		t.Fatalf("the cluster has %d masters, want 3", len(per))
	}
	for addr, k := range per {
		if k < n/10 {
			t.Errorf("master %s holds %d of %d entries: they do not spread (%v)", addr, k, n, per)
		}
	}
	// The lock and the second read of the key.
	ok, release, err := ns.Acquire(ctx, mtesting.Key("new"), func([]byte, codec.Header) error { return nil })
	if ok || err != nil {
		t.Fatalf("Acquire of a new key = %v, %v", ok, err)
	}
	other := openStoreOn(t, c, prefix)
	nsOther := mtesting.OpenNS(t, other.Store, "spread")
	tookLock := make(chan bool, 1)
	go func() {
		ok, rel, err := nsOther.Acquire(ctx, mtesting.Key("new"), func([]byte, codec.Header) error { return nil })
		rel()
		tookLock <- ok && err == nil
	}()
	time.Sleep(50 * time.Millisecond)
	mtesting.Put(t, ns, "new", mtesting.Record("new", 1, 0, "computed once"))
	release()
	if !<-tookLock {
		t.Error("the waiter did not get the holder's result")
	}
	mtesting.WantValue(t, nsOther, "new", "computed once")
	if err := s.Clear(ctx, "spread"); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "1")
	mtesting.WantMiss(t, nsOther, "2")
	mtesting.Flush(t, s.Store) // waits for the old entries' deletion
	for addr, k := range keysPerMaster(t, c, prefix) {
		// What is left are the control keys: format, gen, namespaces,
		// meta, counts, versions.
		if k > 8 {
			t.Errorf("master %s still holds %d keys under the prefix after Clear and Flush", addr, k)
		}
	}
	if err := s.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mtesting.Put(t, ns, "after", mtesting.Record("after", 1, 0, "v"))
	mtesting.WantValue(t, nsOther, "after", "v")
	st := mtesting.NSStats(t, s.Store, "spread")
	if st.Writes != 1 {
		t.Errorf("writes since the last Clear = %d, want 1", st.Writes)
	}
}

// openStoreOn opens another store on the cluster client c under prefix,
// as another process would.
func openStoreOn(t *testing.T, c *redis.ClusterClient, prefix string) *testStore {
	t.Helper()
	var rd *redisStore
	st, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		d, err := open(c, false, describe(c), settings(o))
		rd = d
		return d, err
	}, store.WithLogger(nil), WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testStore{st, rd}
}

// TestRedisClusterURL: a URL with addr= parameters opens the cluster; a
// node's URL without them says how to open the cluster.
func TestRedisClusterURL(t *testing.T) {
	url := redistest.ClusterURL(t)
	prefix := redistest.Prefix(t, url)
	s := openStore(t, url, WithPrefix(prefix))
	if _, ok := s.rd.rdb.(*redis.ClusterClient); !ok {
		t.Errorf("the store's client is a %T, want a *redis.ClusterClient", s.rd.rdb)
	}
	ns := mtesting.OpenNS(t, s.Store, "url")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	mtesting.WantValue(t, ns, "k", "v")
	node, _, _ := strings.Cut(url, "?")
	_, err := store.Open(node+"/0", store.WithLogger(nil), WithPrefix(prefix+"x"))
	if err == nil || !strings.Contains(err.Error(), "addr=") {
		t.Errorf("store.Open of one node's URL = %v, want an error that names addr=", err)
	}
}

// TestRedisRing: redisstore.Open takes a Ring, which shards keys over
// servers by the client: entries spread over both servers, and Clear's
// old entries are deleted on both.
func TestRedisRing(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
	t.Cleanup(func() { ring.Close() })
	prefix := redistest.Prefix(t, a.URL())
	redistest.Cleanup(t, b.URL(), prefix)
	s, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		return open(ring, false, describe(ring), settings(o))
	}, store.WithLogger(nil), WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := mtesting.OpenNS(t, s, "ring")
	const n = 100
	for i := range n {
		k := fmt.Sprint(i)
		mtesting.Put(t, ns, k, mtesting.Record(k, 1, 0, "v"+k))
		mtesting.WantValue(t, ns, k, "v"+k)
	}
	count := func(srv *redistest.Server) int {
		keys, err := redistest.Client(t, srv.URL()).Keys(context.Background(), globEscape(prefix)+":ring:*:d:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	if ka, kb := count(a), count(b); ka+kb != n || ka < n/10 || kb < n/10 {
		t.Errorf("entries on the two servers: %d and %d, want %d spread over both", ka, kb, n)
	}
	if err := s.Clear(context.Background(), "ring"); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "1")
	mtesting.Flush(t, s)
	if ka, kb := count(a), count(b); ka+kb != 0 {
		t.Errorf("entries left after Clear and Flush: %d and %d", ka, kb)
	}
}

// slowSet holds back, by d, every pipeline a node receives that writes an
// entry (a SET of a key with :d: in it).
type slowSet struct{ d time.Duration }

func (h slowSet) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h slowSet) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h slowSet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if k, ok := c.Args()[min(1, len(c.Args())-1)].(string); c.Name() == "set" && ok && strings.Contains(k, ":d:") {
				time.Sleep(h.d)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// TestRedisClusterLockHandover: the Put of a result writes the entry and
// releases the computation lock in one round trip; on a cluster, the two
// reach their node in that order even when the entry's write is slow, so
// a waiter that takes the released lock finds the entry, and does not
// compute the key again.
func TestRedisClusterLockHandover(t *testing.T) {
	holder, c, prefix := openCluster(t)
	err := c.ForEachMaster(context.Background(), func(_ context.Context, m *redis.Client) error {
		m.AddHook(slowSet{300 * time.Millisecond})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waiter := openStoreOn(t, redistest.ClusterClient(t, redistest.ClusterURL(t)), prefix)
	nsH, nsW := mtesting.OpenNS(t, holder.Store, "handover"), mtesting.OpenNS(t, waiter.Store, "handover")
	ctx := context.Background()
	accept := func([]byte, codec.Header) error { return nil }
	for i := range 5 {
		k := fmt.Sprint("k", i)
		ok, release, err := nsH.Acquire(ctx, mtesting.Key(k), accept)
		if ok || err != nil {
			t.Fatalf("holder's Acquire(%s) = %v, %v", k, ok, err)
		}
		type result struct {
			ok  bool
			err error
		}
		got := make(chan result, 1)
		go func() {
			ok, rel, err := nsW.Acquire(ctx, mtesting.Key(k), accept)
			rel()
			got <- result{ok, err}
		}()
		time.Sleep(20 * time.Millisecond) // the waiter polls the lock
		mtesting.Put(t, nsH, k, mtesting.Record(k, 1, 0, "computed once"))
		release()
		if r := <-got; !r.ok || r.err != nil {
			t.Fatalf("key %s: the waiter's Acquire = %v, %v: it took the lock the Put released before it found the entry, and would compute the key again", k, r.ok, r.err)
		}
	}
}
