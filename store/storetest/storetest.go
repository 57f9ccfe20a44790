// Package storetest is the conformance suite of memostore's backends:
// the store behaviours every backend shares, which memo relies on
// whichever backend is under it. A backend's tests run it, as gocloud's
// drivers run drivertest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB, opts ...store.Option) *store.Store {
//			... open a store of the backend at the test's place, with opts ...
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"

	"github.com/memostore/memostore/store/driver"

	"github.com/memostore/memostore/store"
)

// An Opener opens a store of the backend under test for the test tb,
// with opts (only options that apply to every backend), and closes it
// when tb ends. Every store that one test opens sees the same data: the
// same file reopened, or the same Redis prefix.
type Opener = func(tb testing.TB, opts ...store.Option) *store.Store

// Run runs the suite, each test in parallel, with stores that open opens.
func Run(t *testing.T, open Opener) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, open)
		})
	}
}

// testTier is a MemoryTier that counts what it is told to.
type testTier struct {
	hits, misses, diskHits                atomic.Int64
	refreshes, staleReturns, cachedErrors atomic.Int64
	saved                                 atomic.Int64
	purges                                atomic.Int64
}

func (t *testTier) Size() (int, int) { return 3, 10 }
func (t *testTier) Counts() (int64, int64, int64) {
	return t.hits.Load(), t.misses.Load(), t.diskHits.Load()
}
func (t *testTier) FreshnessCounts() (int64, int64, int64) {
	return t.refreshes.Load(), t.staleReturns.Load(), t.cachedErrors.Load()
}
func (t *testTier) Saved() int64      { return t.saved.Load() }
func (t *testTier) Purge(bool) func() { t.purges.Add(1); return func() {} }

type opener = Opener

var conformance = []struct {
	name string
	test func(*testing.T, opener)
}{
	{"RoundTrip", conformRoundTrip},
	{"Reopen", conformReopen},
	{"Delete", conformDelete},
	{"ClearNamespace", conformClear},
	{"ClearAll", conformClearAll},
	{"Expiry", conformExpiry},
	{"SpecChange", conformSpecChange},
	{"SecondClaim", conformSecondClaim},
	{"BadRecords", conformBadRecords},
	{"RecordOfAnotherKey", conformRecordOfAnotherKey},
	{"RefusedWrites", conformRefused},
	{"Counters", conformCounters},
	{"Closed", conformClosed},
	{"Acquire", conformAcquire},
}

func conformRoundTrip(t *testing.T, open opener) {
	clock := mtesting.NewFakeClock()
	s := open(t, store.WithClock(clock))
	ns := mtesting.OpenNS(t, s, "rt")
	exp := clock.Nanos() + int64(time.Hour)
	mtesting.Put(t, ns, "a", mtesting.Record("a", clock.Nanos(), exp, "alpha"))
	mtesting.WantValue(t, ns, "a", "alpha") // read-your-writes, before any mtesting.Flush
	if f := mtesting.Lookup(t, ns, "a"); f.ExpiresAt != exp {
		t.Errorf("expiresAt = %d, want %d", f.ExpiresAt, exp)
	}
	mtesting.WantMiss(t, ns, "b")
	mtesting.Put(t, ns, "a", mtesting.Record("a", clock.Nanos(), 0, "again"))
	mtesting.WantValue(t, ns, "a", "again")
	mtesting.Flush(t, s)
	if st := mtesting.NSStats(t, s, "rt"); st.Writes != 2 {
		t.Errorf("Writes = %d, want 2", st.Writes)
	}
}

func conformReopen(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "keep")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	mtesting.CloseStore(t, s)
	s = open(t)
	mtesting.WantValue(t, mtesting.OpenNS(t, s, "keep"), "k", "v")
}

func conformDelete(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "del")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	if err := ns.Delete(context.Background(), mtesting.Key("k")); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "k")
	mtesting.Flush(t, s)
	mtesting.WantMiss(t, ns, "k")
}

func conformClear(t *testing.T, open opener) {
	s := open(t)
	a, other := mtesting.OpenNS(t, s, "a"), mtesting.OpenNS(t, s, "a:b") // one's name a prefix of the other's
	tier := &testTier{}
	a.Attach(tier)
	for _, k := range []string{"1", "2", "3"} {
		mtesting.Put(t, a, k, mtesting.Record(k, 1, 0, "x"+k))
		mtesting.Put(t, other, k, mtesting.Record(k, 1, 0, "y"+k))
	}
	mtesting.Flush(t, s)
	if err := a.Clear(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"1", "2", "3"} {
		mtesting.WantMiss(t, a, k)
		mtesting.WantValue(t, other, k, "y"+k)
	}
	if tier.purges.Load() == 0 {
		t.Error("Clear did not purge the attached memory tier")
	}
	if st := mtesting.NSStats(t, s, "a"); st.Writes != 0 || st.Hits != 0 {
		t.Errorf("after Clear: %+v, want counters reset", st)
	}
	if err := s.Clear(context.Background(), "no-such"); err == nil {
		t.Error("Clear of a namespace that does not exist succeeded")
	}
}

func conformClearAll(t *testing.T, open opener) {
	s := open(t)
	x, y := mtesting.OpenNS(t, s, "x"), mtesting.OpenNS(t, s, "y")
	mtesting.Put(t, x, "k", mtesting.Record("k", 1, 0, "v"))
	mtesting.Put(t, y, "k", mtesting.Record("k", 1, 0, "v"))
	if err := s.Clear(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, x, "k")
	mtesting.WantMiss(t, y, "k")
	// The namespaces remain, with their specs.
	if st := mtesting.NSStats(t, s, "y"); st.Version != "1" {
		t.Errorf("after Clear: version %q, want 1", st.Version)
	}
}

func conformExpiry(t *testing.T, open opener) {
	clock := mtesting.NewFakeClock()
	s := open(t, store.WithClock(clock))
	ns := mtesting.OpenNS(t, s, "ttl")
	now := clock.Nanos()
	mtesting.Put(t, ns, "short", mtesting.Record("short", now, now+int64(time.Minute), "s"))
	mtesting.Put(t, ns, "long", mtesting.Record("long", now, now+int64(time.Hour), "l"))
	mtesting.Put(t, ns, "past", mtesting.Record("past", now-2, now-1, "p")) // expired when written
	mtesting.Flush(t, s)
	mtesting.WantValue(t, ns, "short", "s")
	mtesting.WantMiss(t, ns, "past")
	clock.Advance(2 * time.Minute)
	mtesting.WantMiss(t, ns, "short")
	mtesting.WantValue(t, ns, "long", "l")
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, ns, "short")
	mtesting.WantValue(t, ns, "long", "l")
}

func conformSpecChange(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNSSpec(t, s, "ver", mtesting.Spec("1"))
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "old"))
	mtesting.CloseStore(t, s)
	s = open(t)
	ns = mtesting.OpenNSSpec(t, s, "ver", mtesting.Spec("2"))
	mtesting.WantMiss(t, ns, "k")
	if st := mtesting.NSStats(t, s, "ver"); st.Version != "2" {
		t.Errorf("version = %q, want 2", st.Version)
	}
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "new"))
	mtesting.CloseStore(t, s)
	s = open(t)
	mtesting.WantValue(t, mtesting.OpenNSSpec(t, s, "ver", mtesting.Spec("2")), "k", "new")
}

func conformSecondClaim(t *testing.T, open opener) {
	s := open(t)
	mtesting.OpenNS(t, s, "once")
	if _, err := s.Namespace(context.Background(), "once", mtesting.Spec("1")); err == nil {
		t.Error("a second claim of one namespace succeeded")
	}
	if _, err := s.Namespace(context.Background(), "bad name!", mtesting.Spec("1")); err == nil {
		t.Error("an invalid name was accepted")
	}
}

func conformBadRecords(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "bad")
	// A mtesting.Record whose payload no longer matches its checksum.
	rec := mtesting.Record("crc", 1, 0, "v")
	rec[len(rec)-1] ^= 0xff
	mtesting.Put(t, ns, "crc", rec)
	// A mtesting.Record that passes its checksum but that decode rejects.
	mtesting.Put(t, ns, "type", mtesting.Record("type", 1, 0, "v"))
	mtesting.Flush(t, s)
	mtesting.WantMiss(t, ns, "crc")
	calls := 0
	ok, err := ns.Lookup(context.Background(), mtesting.Key("type"), func([]byte, codec.Header) error { calls++; return errors.New("not a V") })
	if ok || err != nil || calls != 1 {
		t.Errorf("Lookup of a rejected mtesting.Record = %v, %v (decode called %d times); want a miss", ok, err, calls)
	}
	mtesting.Flush(t, s)
	// Both were deleted: decode is not called again.
	ok, _ = ns.Lookup(context.Background(), mtesting.Key("type"), func([]byte, codec.Header) error { calls++; return nil })
	if ok || calls != 1 {
		t.Errorf("a rejected mtesting.Record was still there: ok=%v, decode called %d times", ok, calls)
	}
	if st := mtesting.NSStats(t, s, "bad"); st.DecodeErrors != 2 {
		t.Errorf("DecodeErrors = %d, want 2", st.DecodeErrors)
	}
}

// conformRecordOfAnotherKey stores the mtesting.Record made for "user-alice" under
// "user-alicd", as one flipped bit in a stored mtesting.Key would leave it: the
// record's checksum covers the mtesting.Key it was made for, so a Lookup of
// "user-alicd" misses (and counts a bad mtesting.Record) instead of answering with
// alice's value.
func conformRecordOfAnotherKey(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "moved")
	mtesting.Put(t, ns, "user-alicd", mtesting.Record("user-alice", 1, 0, "alice's value"))
	mtesting.Flush(t, s)
	mtesting.WantMiss(t, ns, "user-alicd")
	if st := mtesting.NSStats(t, s, "moved"); st.DecodeErrors != 1 {
		t.Errorf("DecodeErrors = %d, want 1", st.DecodeErrors)
	}
}

func conformRefused(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "refuse")
	ctx := context.Background()
	if err := ns.Put(ctx, nil, mtesting.Record("", 1, 0, "v")); err == nil {
		t.Error("Put with an empty mtesting.Key succeeded")
	}
	if err := ns.Put(ctx, mtesting.Key("k"), []byte("not a record")); err == nil {
		t.Error("Put of a mtesting.Record without a header succeeded")
	}
	if err := ns.Put(ctx, make([]byte, driver.MaxKeyBytes+1), mtesting.Record("", 1, 0, "v")); err == nil {
		t.Error("Put with an oversize mtesting.Key succeeded")
	}
	if st := mtesting.NSStats(t, s, "refuse"); st.WriteErrors != 3 {
		t.Errorf("WriteErrors = %d, want 3", st.WriteErrors)
	}
	mtesting.WantMiss(t, ns, "k")
}

func conformCounters(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "count")
	tier := &testTier{}
	tier.hits.Store(100) // counted before Attach: not the store's
	tier.refreshes.Store(50)
	tier.saved.Store(int64(time.Hour))
	ns.Attach(tier)
	tier.saved.Add(int64(1500 * time.Millisecond))
	tier.refreshes.Add(4)
	tier.staleReturns.Add(3)
	tier.cachedErrors.Add(2)
	tier.hits.Add(5)
	tier.misses.Add(2)
	tier.diskHits.Add(1)
	tier.hits.Add(1) // a disk hit
	tier.diskHits.Add(1)
	tier.misses.Add(1)
	want := func(s *store.Store, live bool) {
		t.Helper()
		st := mtesting.NSStats(t, s, "count")
		if st.Hits != 6 || st.Misses != 3 || st.DiskHits != 2 {
			t.Errorf("hits=%d misses=%d diskhits=%d, want 6 3 2", st.Hits, st.Misses, st.DiskHits)
		}
		if st.Refreshes != 4 || st.StaleReturns != 3 || st.CachedErrors != 2 {
			t.Errorf("refreshes=%d stale_returns=%d cached_errors=%d, want 4 3 2", st.Refreshes, st.StaleReturns, st.CachedErrors)
		}
		if st.Saved != 1500*time.Millisecond {
			t.Errorf("saved = %v, want 1.5s", st.Saved)
		}
		if live && (st.MemSize != 3 || st.MemMax != 10 || !st.Claimed) {
			t.Errorf("memory tier %d/%d claimed=%v, want 3/10 true", st.MemSize, st.MemMax, st.Claimed)
		}
	}
	want(s, true) // unsaved counts included
	mtesting.Flush(t, s)
	want(s, true)
	mtesting.CloseStore(t, s)
	want(open(t), false) // persisted
}

func conformClosed(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "closed")
	first := s.Close()
	if err := s.Close(); !errors.Is(err, first) && err != first {
		t.Errorf("second Close = %v, want the first's %v", err, first)
	}
	ctx := context.Background()
	if _, err := ns.Lookup(context.Background(), mtesting.Key("k"), func([]byte, codec.Header) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Lookup after Close: %v, want store.ErrClosed", err)
	}
	if err := ns.Put(ctx, mtesting.Key("k"), mtesting.Record("k", 1, 0, "v")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put after Close: %v, want store.ErrClosed", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Flush after Close: %v, want store.ErrClosed", err)
	}
	if err := s.Clear(ctx, ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Clear after Close: %v, want store.ErrClosed", err)
	}
	if _, err := s.Namespace(ctx, "other", mtesting.Spec("1")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("store.Namespace after Close: %v, want store.ErrClosed", err)
	}
}

// conformAcquire: a caller alone on a mtesting.Key gets to compute it at once.
func conformAcquire(t *testing.T, open opener) {
	s := open(t)
	ns := mtesting.OpenNS(t, s, "acq")
	start := time.Now()
	ok, release, err := ns.Acquire(context.Background(), mtesting.Key("k"), func([]byte, codec.Header) error { return nil })
	if err != nil || ok || release == nil {
		t.Fatalf("Acquire = %v, %v, %v; want to compute", ok, release != nil, err)
	}
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	release()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Acquire on a free mtesting.Key took %v", d)
	}
}
