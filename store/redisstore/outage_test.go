package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

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
	ok, release, err := ns.Acquire(ctx, mtesting.Key("x"), func([]byte, codec.Header) error { return nil })
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
	lock := nsOf(t, ns).lockKey(mtesting.Key("x"))
	if c.Exists(ctx, lock).Val() != 0 {
		t.Error("the lock outlived a failed Put and its release")
	}
}

// TestRedisFrozenServer: while the server accepts and never answers,
// nothing that did not reach it (a store.Stats refused by the breaker, a Flush
// with nothing to push) is taken for an answer: the memory tiers are
// kept. Once it answers again, an idle process notices by itself (the
// counter loop probes it) and purges them once, as a clear was missed
// (the generations tell).
func TestRedisFrozenServer(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond))
	tier := &mtesting.Tier{}
	ns := mtesting.OpenNS(t, s.Store, "frozen")
	ns.Attach(tier)
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
	// A Clear whose message this process missed.
	if err := redistest.Client(t, srv.URL()).Incr(ctx, nsOf(t, ns).genKey).Err(); err != nil {
		t.Fatal(err)
	}
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

// TestRedisSlowReplyKeepsMemoryTiers: a reply slower than the timeout
// opens the breaker, but when the server answers again the memory tiers
// are purged only if a clear happened meanwhile (the generations tell).
func TestRedisSlowReplyKeepsMemoryTiers(t *testing.T) {
	for _, cleared := range []bool{false, true} {
		s, url, _ := openRedisStore(t, WithTimeout(100*time.Millisecond))
		ns := mtesting.OpenNS(t, s.Store, "slow")
		tier := &mtesting.Tier{}
		ns.Attach(tier)
		mtesting.WantMiss(t, ns, "k")
		done := stall(t, url, 700*time.Millisecond)
		mtesting.Lookup(t, ns, "k") // times out
		if !s.rd.brk.Down() {
			t.Fatal("a timed-out lookup did not open the breaker")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if cleared { // a Clear whose message this process missed
			other := openStore(t, url, WithPrefix(s.rd.prefix))
			other.rd.sub.Close()
			if err := other.Clear(context.Background(), "slow"); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.rd.brk.Down() {
			if time.Now().After(deadline) {
				t.Fatal("the breaker did not close")
			}
			mtesting.Lookup(t, ns, "k")
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		if got := tier.Purges.Load() > 0; got != cleared {
			t.Errorf("clear meanwhile %v: memory tier purged %v", cleared, got)
		}
	}
}

// TestRedisPoolWaitIsNoOutage: callers that find every connection busy
// miss, but the server is not taken for down: no breaker, no outage
// logged, no memory tier purged.
func TestRedisPoolWaitIsNoOutage(t *testing.T) {
	url := redistest.URL(t)
	logOpt, logs := captureLog()
	s := openStore(t, url+"?pool_size=1", WithPrefix(redistest.Prefix(t, url)), WithTimeout(100*time.Millisecond), logOpt)
	ns := mtesting.OpenNS(t, s.Store, "pool")
	tier := &mtesting.Tier{}
	ns.Attach(tier)
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		s.rd.rdb.BLPop(context.Background(), time.Second, s.rd.prefix+":nothing")
	}()
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { mtesting.Lookup(t, ns, "k") })
	}
	wg.Wait()
	<-busy
	if s.rd.brk.Down() {
		t.Error("waiting for a connection opened the breaker")
	}
	if strings.Contains(logs.String(), "not answering") {
		t.Errorf("waiting for a connection was logged as an outage: %s", logs)
	}
	mtesting.WantMiss(t, ns, "k")
	if tier.Purges.Load() != 0 {
		t.Error("the memory tier was purged")
	}
}
