package redisstore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/redistest"
)

// redisStore opens a Redis store under a fresh prefix, with opts.
func openRedisStore(t *testing.T, opts ...store.Option) (s *testStore, url, prefix string) {
	t.Helper()
	url = redistest.URL(t)
	prefix = redistest.Prefix(t, url)
	return openStore(t, url, append([]store.Option{WithPrefix(prefix)}, opts...)...), url, prefix
}

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

// TestRedisNewerFormat: a prefix written by a newer version is refused.
func TestRedisNewerFormat(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	redistest.Client(t, url).Set(context.Background(), prefix+":format", RedisFormatVersion+1, 0)
	_, err := store.Open(url, WithPrefix(prefix), store.WithLogger(nil))
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("store.Open = %v, want store.ErrCorrupt naming a newer format", err)
	}
	// One "store: open URL: " prefix, not repeated by the sentinel's own.
	prefixed := "store: open " + redactURL(url) + ": "
	if rest, ok := strings.CutPrefix(err.Error(), prefixed); !ok || strings.HasPrefix(rest, "store: ") || strings.Contains(rest, ": store: ") {
		t.Errorf("store.Open = %q, want one %q prefix", err, prefixed)
	}
}

// TestRedisOpenErrors: an unreachable server and a bad URL fail store.Open
// with a clear error, within the timeout.
func TestRedisOpenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = store.Open("redis://user:secret@"+addr+"/0", store.WithLogger(nil), WithTimeout(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Errorf("store.Open of a closed port = %v, want cannot reach Redis", err)
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("store.Open took %v", d)
	}
	if _, err := store.Open("redis://127.0.0.1:notaport/0", store.WithLogger(nil)); err == nil {
		t.Error("store.Open of a bad URL succeeded")
	}
	if _, err := store.Open(redistest.URL(t), store.WithLogger(nil), WithPrefix("a:b")); err == nil || !strings.Contains(err.Error(), "':'") {
		t.Errorf("store.Open with a prefix holding ':' = %v, want refused", err)
	}
}

// TestRedisReadOnly: a read-only store (memoctl info) writes nothing, not
// even the format key, and refuses to claim or clear.
func TestRedisReadOnly(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	s := openStore(t, url, WithPrefix(prefix), store.WithReadOnly())
	if n := redistest.Client(t, url).Exists(context.Background(), prefix+":format").Val(); n != 0 {
		t.Error("a read-only store.Open wrote the format key")
	}
	if _, err := s.Namespace(context.Background(), "x", mtesting.Spec("1")); err == nil {
		t.Error("a read-only store claimed a namespace")
	}
	if err := s.Clear(context.Background(), ""); err == nil {
		t.Error("a read-only store cleared")
	}
}

// TestRedisAcquire plays two processes (two Stores) on one key: the
// second waits for the first's result; a holder that dies leaves a lock
// that expires; a waiter gives up after WithLockWait.
func TestRedisAcquire(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	open := func(opts ...store.Option) *store.Namespace {
		s := openStore(t, url, append([]store.Option{WithPrefix(prefix)}, opts...)...)
		return mtesting.OpenNS(t, s.Store, "acq")
	}
	a := open(WithLockTTL(300 * time.Millisecond))
	b := open(WithLockWait(5 * time.Second))
	ctx := context.Background()
	accept := func([]byte, int64, int64) error { return nil }
	locked := func(ns *store.Namespace, k string) bool {
		c := redistest.Client(t, url)
		return c.Exists(ctx, nsOf(t, ns).lock+string(mtesting.Key(k))).Val() == 1
	}

	// a computes k1; b waits and gets a's result.
	ok, release, err := a.Acquire(ctx, mtesting.Key("k1"), accept)
	if ok || err != nil {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	if !locked(a, "k1") {
		t.Fatal("a holds no lock on k1")
	}
	done := make(chan error)
	go func(release func()) {
		time.Sleep(100 * time.Millisecond)
		err := a.Put(ctx, mtesting.Key("k1"), mtesting.Record("k1", 1, 0, "from a")) // releases the lock too
		release()
		done <- err
	}(release)
	start := time.Now()
	ok, _, err = b.Acquire(ctx, mtesting.Key("k1"), accept)
	if !ok || err != nil {
		t.Fatalf("b.Acquire = %v, %v; want a's result", ok, err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("b did not wait for a: %v", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mtesting.WantValue(t, b, "k1", "from a")
	if locked(a, "k1") {
		t.Error("the lock on k1 outlived the Put of its result")
	}

	// a dies holding k2's lock: b takes over once it expires. (A process
	// that dies stops renewing its locks: here a's renewals are stopped.)
	if ok, _, _ := a.Acquire(ctx, mtesting.Key("k2"), accept); ok {
		t.Fatal("k2 found")
	}
	nsOf(t, a).s.cancel()
	start = time.Now()
	ok, release, err = b.Acquire(ctx, mtesting.Key("k2"), accept)
	if ok || err != nil || release == nil {
		t.Fatalf("b.Acquire(k2) = %v, %v", ok, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("b took over after %v, want after the lock's 300ms TTL", d)
	}
	release() // without a Put: the computation failed
	if locked(b, "k2") {
		t.Error("release left the lock on k2")
	}

	// A waiter gives up after its wait bound, and a cancelled one at once.
	c := open(WithLockWait(150 * time.Millisecond))
	if ok, _, _ := b.Acquire(ctx, mtesting.Key("k3"), accept); ok {
		t.Fatal("k3 found")
	}
	start = time.Now()
	ok, release, err = c.Acquire(ctx, mtesting.Key("k3"), accept)
	if ok || err != nil || release == nil {
		t.Fatalf("c.Acquire(k3) = %v, %v", ok, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("c gave up after %v, want about 150ms", d)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := a.Acquire(cctx, mtesting.Key("k3"), accept); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with an ending ctx = %v", err)
	}
}

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

// TestRedisOutage stops the server under a store: lookups miss and writes
// are dropped, each within the timeout, and counted; once the server is
// back, writes resume by themselves.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	logOpt, logs := captureLog()
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond), logOpt)
	ns := mtesting.OpenNS(t, s.Store, "out")
	mtesting.Put(t, ns, "before", mtesting.Record("before", 1, 0, "v"))
	mtesting.WantValue(t, ns, "before", "v")

	srv.Stop()
	ctx := context.Background()
	for i := range 20 {
		start := time.Now()
		if f := mtesting.Lookup(t, ns, "before"); f.OK {
			t.Fatal("found an entry on a stopped server")
		}
		if err := ns.Put(ctx, mtesting.Key("during"), mtesting.Record("during", 1, 0, "v")); err == nil {
			t.Fatal("Put on a stopped server succeeded")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("call %d took %v with the server down", i, d)
		}
	}
	// Once the breaker is open, a write is dropped without trying.
	if err := ns.Put(ctx, mtesting.Key("during"), mtesting.Record("during", 1, 0, "v")); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Put during the outage = %v, want store.ErrUnavailable", err)
	}
	st := mtesting.NSStats(t, s.Store, "out")
	if st.ReadErrors == 0 || st.WriteErrors == 0 {
		t.Errorf("read errors %d, write errors %d; want both counted", st.ReadErrors, st.WriteErrors)
	}
	if !strings.Contains(logs.String(), "not answering") {
		t.Errorf("the outage was not logged: %s", logs)
	}

	srv.Restart() // empty: no persistence
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := ns.Put(ctx, mtesting.Key("after"), mtesting.Record("after", 1, 0, "back")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume once the server was back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mtesting.WantValue(t, ns, "after", "back")
	if err := s.Flush(ctx); err != nil {
		t.Errorf("Flush once the server is back: %v", err)
	}
}

// roundTrips counts the exchanges a go-redis client has with its server:
// one per command sent alone, one per pipeline.
type roundTrips struct {
	n    atomic.Int64
	cmds atomic.Int64
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
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

// TestRedisSlowServer pauses the server (CLIENT PAUSE): a slow server
// costs each operation at most about WithTimeout, after which the store
// carries on without it; when the pause ends, it is used again.
func TestRedisSlowServer(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond))
	ns := mtesting.OpenNS(t, s.Store, "slow")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	ctx := context.Background()
	if err := redistest.Client(t, srv.URL()).Do(ctx, "CLIENT", "PAUSE", 2000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 10 {
		mtesting.Lookup(t, ns, "k")
		ns.Put(ctx, mtesting.Key("k2"), mtesting.Record("k2", 1, 0, "v"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 lookups and puts took %v while the server was paused, want each bounded by the 100ms timeout", d)
	}
	if st := mtesting.NSStats(t, s.Store, "slow"); st.ReadErrors == 0 {
		t.Errorf("no read errors counted while the server was paused: %+v", st)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !mtesting.Lookup(t, ns, "k").OK {
		if time.Now().After(deadline) {
			t.Fatal("the store did not use the server again after the pause")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stall blocks the server for d with a busy script, as a slow server
// would, and returns when the script has begun.
func stall(t *testing.T, url string, d time.Duration) (done <-chan error) {
	t.Helper()
	c := redistest.Client(t, url)
	ch := make(chan error, 1)
	const busy = `local s = redis.call('TIME') local start = s[1] * 1000000 + s[2]
while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) then break end end
return 1`
	go func() { ch <- c.Eval(context.Background(), busy, nil, d.Microseconds()).Err() }()
	time.Sleep(50 * time.Millisecond)
	return ch
}

// TestRedisStalledServer: a write to a stalled server fails within the
// timeout and is not sent twice (go-redis would re-send it after the
// timeout, counting it twice); the caller's own cancelled context neither
// trips the breaker nor leaves its computation lock behind.
func TestRedisStalledServer(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond))
	ns := mtesting.OpenNS(t, s.Store, "stall")
	ctx := context.Background()
	done := stall(t, srv.URL(), 600*time.Millisecond)
	start := time.Now()
	if err := ns.Put(ctx, mtesting.Key("k"), mtesting.Record("k", 1, 0, "v")); err == nil {
		t.Error("Put to a stalled server succeeded")
	}
	if d := time.Since(start); d > 350*time.Millisecond {
		t.Errorf("Put took %v with a 100ms timeout", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, srv.URL())
	if n, _ := c.HGet(ctx, nsOf(t, ns).countKey, "writes").Int(); n > 1 {
		t.Errorf("one Put counted %d writes: the pipeline was sent again", n)
	}

	// The server answers again (after the breaker's back-off).
	deadline := time.Now().Add(5 * time.Second)
	for ns.Put(ctx, mtesting.Key("k"), mtesting.Record("k", 1, 0, "v")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not use the server again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := mtesting.NSStats(t, s.Store, "stall").ReadErrors
	ok, release, err := ns.Acquire(ctx, mtesting.Key("x"), func([]byte, int64, int64) error { return nil })
	if ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ns.Put(cancelled, mtesting.Key("x"), mtesting.Record("x", 1, 0, "v")); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	mtesting.WantMiss(t, ns, "x") // from the server, not skipped
	if st := mtesting.NSStats(t, s.Store, "stall"); st.ReadErrors != before {
		t.Errorf("a caller's cancelled context took the server out: %d read errors, want %d", st.ReadErrors, before)
	}
	release()
	lock := nsOf(t, ns).lock + string(mtesting.Key("x"))
	if c.Exists(ctx, lock).Val() != 0 {
		t.Error("the lock outlived a failed Put and its release")
	}
}

// TestRedisFrozenServer: while the server accepts and never answers,
// nothing that did not reach it (a store.Stats refused by the breaker, a Flush
// with nothing to push) is taken for an answer: the memory tiers are
// kept. Once it answers again, an idle process notices by itself (the
// counter loop probes it) and purges them once, as clears may have been
// missed.
func TestRedisFrozenServer(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond))
	tier := &mtesting.Tier{}
	mtesting.OpenNS(t, s.Store, "frozen").Attach(tier)
	ctx := context.Background()
	srv.Freeze()
	if _, err := s.StatsContext(ctx); err == nil { // opens the breaker
		t.Fatal("store.Stats of a frozen server succeeded")
	}
	for range 5 {
		if err := s.Flush(ctx); err != nil {
			t.Errorf("Flush with nothing to push = %v", err)
		}
		s.Stats()
		time.Sleep(60 * time.Millisecond)
	}
	if n := tier.Purges.Load(); n != 0 {
		t.Fatalf("the memory tier was purged %d times while the server was frozen", n)
	}
	srv.Thaw()
	deadline := time.Now().Add(15 * time.Second)
	for tier.Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle store did not notice that the server was back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := tier.Purges.Load(); n != 1 {
		t.Errorf("purged %d times when the server came back, want once", n)
	}
}

// TestRedisSubscriptionRestored: a clear published while a process's
// subscription was down never reaches it, so the process purges its
// memory tiers when the subscription is restored.
func TestRedisSubscriptionRestored(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL())
	tier := &mtesting.Tier{}
	mtesting.OpenNS(t, s.Store, "sub").Attach(tier)
	time.Sleep(100 * time.Millisecond) // subscribed
	if err := redistest.Client(t, srv.URL()).Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
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

// TestRedisCloseReleasesLocks: a computation cut short by Close leaves no
// lock for other processes to wait on.
func TestRedisCloseReleasesLocks(t *testing.T) {
	s, url, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "closing")
	if ok, _, err := ns.Acquire(context.Background(), mtesting.Key("k"), func([]byte, int64, int64) error { return nil }); ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	lock := nsOf(t, ns).lock + string(mtesting.Key("k"))
	c := redistest.Client(t, url)
	if c.Exists(context.Background(), lock).Val() != 1 {
		t.Fatal("no lock taken")
	}
	mtesting.CloseStore(t, s.Store)
	if c.Exists(context.Background(), lock).Val() != 0 {
		t.Error("Close left the lock of a computation it cut short")
	}
}

// A testStore is a store.Store opened on Redis, with its backend.
type testStore struct {
	*store.Store
	rd *redisStore
}

// openStore opens url with opts (and a discarding logger, unless opts
// set one) and closes it when the test ends.
func openStore(tb testing.TB, url string, opts ...store.Option) *testStore {
	tb.Helper()
	var rd *redisStore
	s, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		d, err := openURL(url, o)
		if err != nil {
			return nil, err
		}
		rd = d.(*redisStore)
		opened.Store(tb.Name(), append(openedBy(tb.Name()), rd))
		return d, nil
	}, append([]store.Option{store.WithLogger(nil)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open(%s): %v", url, err)
	}
	tb.Cleanup(func() { s.Close() })
	return &testStore{s, rd}
}

// captureLog returns an option that logs into the returned buffer.
func captureLog() (store.Option, *mtesting.LogBuffer) {
	l, b := mtesting.CaptureLog()
	return store.WithLogger(l), b
}

// opened holds the Redis stores each test opened, by test name.
var opened sync.Map

func openedBy(test string) []*redisStore {
	v, _ := opened.Load(test)
	rds, _ := v.([]*redisStore)
	return rds
}

// nsOf returns the backend of ns, a namespace of a store the test t
// opened.
func nsOf(t *testing.T, ns *store.Namespace) *redisNS {
	t.Helper()
	for _, rd := range openedBy(t.Name()) {
		rd.mu.Lock()
		n := rd.claims[ns.Name()]
		rd.mu.Unlock()
		if n != nil {
			return n
		}
	}
	t.Fatalf("no Redis store of %s claims %q", t.Name(), ns.Name())
	return nil
}

// TestRedisLockRenewedWhileComputing: a computation longer than the lock's
// TTL keeps its lock (the holder renews it), and a waiter waits for the
// live holder past its own wait bound, instead of computing the key too.
func TestRedisLockRenewedWhileComputing(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	open := func(opts ...store.Option) *store.Namespace {
		s := openStore(t, url, append([]store.Option{WithPrefix(prefix), WithLockTTL(300 * time.Millisecond)}, opts...)...)
		return mtesting.OpenNS(t, s.Store, "renew")
	}
	a := open()
	b := open(WithLockWait(500 * time.Millisecond))
	ctx := context.Background()
	accept := func([]byte, int64, int64) error { return nil }

	ok, release, err := a.Acquire(ctx, mtesting.Key("k"), accept)
	if ok || err != nil {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	const computing = 1200 * time.Millisecond // four lock TTLs
	done := make(chan error)
	go func() {
		time.Sleep(computing)
		err := a.Put(ctx, mtesting.Key("k"), mtesting.Record("k", 1, 0, "from a"))
		release()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	ok, bRelease, err := b.Acquire(ctx, mtesting.Key("k"), accept)
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		bRelease()
		t.Fatalf("b took over the key after %v while a was still computing it (%v)", waited, computing)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
