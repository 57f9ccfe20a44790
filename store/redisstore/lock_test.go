package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

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
	accept := func([]byte, codec.Header) error { return nil }
	locked := func(ns *store.Namespace, k string) bool {
		c := redistest.Client(t, url)
		return c.Exists(ctx, nsOf(t, ns).lockKey(mtesting.Key(k))).Val() == 1
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
	accept := func([]byte, codec.Header) error { return nil }

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

// TestRedisCloseReleasesLocks: a computation cut short by Close leaves no
// lock for other processes to wait on.
func TestRedisCloseReleasesLocks(t *testing.T) {
	s, url, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "closing")
	if ok, _, err := ns.Acquire(context.Background(), mtesting.Key("k"), func([]byte, codec.Header) error { return nil }); ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	lock := nsOf(t, ns).lockKey(mtesting.Key("k"))
	c := redistest.Client(t, url)
	if c.Exists(context.Background(), lock).Val() != 1 {
		t.Fatal("no lock taken")
	}
	mtesting.CloseStore(t, s.Store)
	if c.Exists(context.Background(), lock).Val() != 0 {
		t.Error("Close left the lock of a computation it cut short")
	}
}

// TestRedisAcquireReleaseNeverNil: the backend's Acquire returns a
// release that is never nil, as the driver promises, also when it finds
// the key stored.
func TestRedisAcquireReleaseNeverNil(t *testing.T) {
	s, _, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "nn")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	found, release, err := nsOf(t, ns).Acquire(context.Background(), mtesting.Key("k"), func([]byte, codec.Header) error { return nil })
	if !found || err != nil || release == nil {
		t.Errorf("Acquire of a stored key = %v, %v with a nil release: %v; want found, with a release", found, err, release == nil)
	}
}

// TestRedisTinyLockTTL: a lock TTL under a millisecond counts as one (the
// server's unit). A TTL of a nanosecond made the renewal's ticker panic
// (a third of it is 0), and one under a millisecond made the renewal a
// PEXPIRE of 0, which deletes the lock (found by a review).
func TestRedisTinyLockTTL(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	for _, ttl := range []time.Duration{time.Nanosecond, 500 * time.Microsecond} {
		s := openStore(t, url, WithPrefix(prefix), WithLockTTL(ttl))
		if got := s.rd.opts.lockTTL; got != time.Millisecond {
			t.Errorf("WithLockTTL(%v): lock TTL %v, want 1ms", ttl, got)
		}
		ns := mtesting.OpenNS(t, s.Store, "tiny")
		ok, release, err := ns.Acquire(context.Background(), mtesting.Key("k"), func([]byte, codec.Header) error { return nil })
		if ok || err != nil {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		time.Sleep(5 * time.Millisecond) // renewals run
		release()
	}
}
