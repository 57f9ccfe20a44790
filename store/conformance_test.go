package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
)

// A backendUnderTest opens stores of one backend for the conformance
// suite. Every store that one test opens sees the same data: the same file
// reopened, or the same Redis prefix.
type backendUnderTest struct {
	name string
	// place returns the location and options a test opens its stores
	// with; it skips the test (fails it, in CI) if the backend is absent.
	place func(tb testing.TB) (string, []Option)
}

// backends returns the backends the suite runs on.
func backends() []backendUnderTest {
	return []backendUnderTest{
		{"bbolt", func(tb testing.TB) (string, []Option) { return tempPath(tb), nil }},
		{"redis", func(tb testing.TB) (string, []Option) {
			url := redistest.URL(tb)
			return url, []Option{WithPrefix(redistest.Prefix(tb, url))}
		}},
	}
}

// opener returns a function that opens a store of b for the test t, the
// same one each time.
func (b backendUnderTest) opener(t *testing.T) func(tb testing.TB, opts ...Option) *Store {
	loc, base := b.place(t)
	return func(tb testing.TB, opts ...Option) *Store {
		tb.Helper()
		return openStore(tb, loc, append(append([]Option{}, base...), opts...)...)
	}
}

// testTier is a MemoryTier that counts what it is told to.
type testTier struct {
	hits, misses, diskHits atomic.Int64
	purges                 atomic.Int64
}

func (t *testTier) Size() (int, int) { return 3, 10 }
func (t *testTier) Counts() (int64, int64, int64) {
	return t.hits.Load(), t.misses.Load(), t.diskHits.Load()
}
func (t *testTier) Purge(bool) func() { t.purges.Add(1); return func() {} }

// opener opens a store of the backend under test; see backendUnderTest.
type opener = func(tb testing.TB, opts ...Option) *Store

// conformance is the suite: the store behaviours both backends share,
// which memo relies on whichever backend is under it.
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

// TestConformance runs the suite on both backends.
func TestConformance(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.test(t, b.opener(t))
				})
			}
		})
	}
}

func conformRoundTrip(t *testing.T, open opener) {
	clock := newFakeClock()
	s := open(t, WithClock(clock))
	ns := openNS(t, s, "rt")
	exp := clock.nanos() + int64(time.Hour)
	put(t, ns, "a", record("a", clock.nanos(), exp, "alpha"))
	wantValue(t, ns, "a", "alpha") // read-your-writes, before any flush
	if f := lookup(t, ns, "a"); f.expiresAt != exp {
		t.Errorf("expiresAt = %d, want %d", f.expiresAt, exp)
	}
	wantMiss(t, ns, "b")
	put(t, ns, "a", record("a", clock.nanos(), 0, "again"))
	wantValue(t, ns, "a", "again")
	flush(t, s)
	if st := nsStats(t, s, "rt"); st.Writes != 2 {
		t.Errorf("Writes = %d, want 2", st.Writes)
	}
}

func conformReopen(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "keep")
	put(t, ns, "k", record("k", 1, 0, "v"))
	closeStore(t, s)
	s = open(t)
	wantValue(t, openNS(t, s, "keep"), "k", "v")
}

func conformDelete(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "del")
	put(t, ns, "k", record("k", 1, 0, "v"))
	if err := ns.Delete(context.Background(), key("k")); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, ns, "k")
	flush(t, s)
	wantMiss(t, ns, "k")
}

func conformClear(t *testing.T, open opener) {
	s := open(t)
	a, other := openNS(t, s, "a"), openNS(t, s, "a:b") // one's name a prefix of the other's
	tier := &testTier{}
	a.Attach(tier)
	for _, k := range []string{"1", "2", "3"} {
		put(t, a, k, record(k, 1, 0, "x"+k))
		put(t, other, k, record(k, 1, 0, "y"+k))
	}
	flush(t, s)
	if err := a.Clear(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"1", "2", "3"} {
		wantMiss(t, a, k)
		wantValue(t, other, k, "y"+k)
	}
	if tier.purges.Load() == 0 {
		t.Error("Clear did not purge the attached memory tier")
	}
	if st := nsStats(t, s, "a"); st.Writes != 0 || st.Hits != 0 {
		t.Errorf("after Clear: %+v, want counters reset", st)
	}
	if err := s.Clear(context.Background(), "no-such"); err == nil {
		t.Error("Clear of a namespace that does not exist succeeded")
	}
}

func conformClearAll(t *testing.T, open opener) {
	s := open(t)
	x, y := openNS(t, s, "x"), openNS(t, s, "y")
	put(t, x, "k", record("k", 1, 0, "v"))
	put(t, y, "k", record("k", 1, 0, "v"))
	if err := s.Clear(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, x, "k")
	wantMiss(t, y, "k")
	// The namespaces remain, with their specs.
	if st := nsStats(t, s, "y"); st.Version != "1" {
		t.Errorf("after Clear: version %q, want 1", st.Version)
	}
}

func conformExpiry(t *testing.T, open opener) {
	clock := newFakeClock()
	s := open(t, WithClock(clock), WithSweepInterval(0))
	ns := openNS(t, s, "ttl")
	now := clock.nanos()
	put(t, ns, "short", record("short", now, now+int64(time.Minute), "s"))
	put(t, ns, "long", record("long", now, now+int64(time.Hour), "l"))
	put(t, ns, "past", record("past", now-2, now-1, "p")) // expired when written
	flush(t, s)
	wantValue(t, ns, "short", "s")
	wantMiss(t, ns, "past")
	clock.Advance(2 * time.Minute)
	wantMiss(t, ns, "short")
	wantValue(t, ns, "long", "l")
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, ns, "short")
	wantValue(t, ns, "long", "l")
}

func conformSpecChange(t *testing.T, open opener) {
	s := open(t)
	ns := openNSSpec(t, s, "ver", spec("1"))
	put(t, ns, "k", record("k", 1, 0, "old"))
	closeStore(t, s)
	s = open(t)
	ns = openNSSpec(t, s, "ver", spec("2"))
	wantMiss(t, ns, "k")
	if st := nsStats(t, s, "ver"); st.Version != "2" {
		t.Errorf("version = %q, want 2", st.Version)
	}
	put(t, ns, "k", record("k", 1, 0, "new"))
	closeStore(t, s)
	s = open(t)
	wantValue(t, openNSSpec(t, s, "ver", spec("2")), "k", "new")
}

func conformSecondClaim(t *testing.T, open opener) {
	s := open(t)
	openNS(t, s, "once")
	if _, err := s.Namespace(context.Background(), "once", spec("1")); err == nil {
		t.Error("a second claim of one namespace succeeded")
	}
	if _, err := s.Namespace(context.Background(), "bad name!", spec("1")); err == nil {
		t.Error("an invalid name was accepted")
	}
}

func conformBadRecords(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "bad")
	// A record whose payload no longer matches its checksum.
	rec := record("crc", 1, 0, "v")
	rec[len(rec)-1] ^= 0xff
	put(t, ns, "crc", rec)
	// A record that passes its checksum but that decode rejects.
	put(t, ns, "type", record("type", 1, 0, "v"))
	flush(t, s)
	wantMiss(t, ns, "crc")
	calls := 0
	ok, err := ns.Lookup(key("type"), func([]byte, int64, int64) error { calls++; return errors.New("not a V") })
	if ok || err != nil || calls != 1 {
		t.Errorf("Lookup of a rejected record = %v, %v (decode called %d times); want a miss", ok, err, calls)
	}
	flush(t, s)
	// Both were deleted: decode is not called again.
	ok, _ = ns.Lookup(key("type"), func([]byte, int64, int64) error { calls++; return nil })
	if ok || calls != 1 {
		t.Errorf("a rejected record was still there: ok=%v, decode called %d times", ok, calls)
	}
	if st := nsStats(t, s, "bad"); st.DecodeErrors != 2 {
		t.Errorf("DecodeErrors = %d, want 2", st.DecodeErrors)
	}
}

// conformRecordOfAnotherKey stores the record made for "user-alice" under
// "user-alicd", as one flipped bit in a stored key would leave it: the
// record's checksum covers the key it was made for, so a Lookup of
// "user-alicd" misses (and counts a bad record) instead of answering with
// alice's value.
func conformRecordOfAnotherKey(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "moved")
	put(t, ns, "user-alicd", record("user-alice", 1, 0, "alice's value"))
	flush(t, s)
	wantMiss(t, ns, "user-alicd")
	if st := nsStats(t, s, "moved"); st.DecodeErrors != 1 {
		t.Errorf("DecodeErrors = %d, want 1", st.DecodeErrors)
	}
}

func conformRefused(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "refuse")
	ctx := context.Background()
	if err := ns.Put(ctx, nil, record("", 1, 0, "v")); err == nil {
		t.Error("Put with an empty key succeeded")
	}
	if err := ns.Put(ctx, key("k"), []byte("not a record")); err == nil {
		t.Error("Put of a record without a header succeeded")
	}
	if err := ns.Put(ctx, make([]byte, maxKeyBytes+1), record("", 1, 0, "v")); err == nil {
		t.Error("Put with an oversize key succeeded")
	}
	if st := nsStats(t, s, "refuse"); st.WriteErrors != 3 {
		t.Errorf("WriteErrors = %d, want 3", st.WriteErrors)
	}
	wantMiss(t, ns, "k")
}

func conformCounters(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "count")
	tier := &testTier{}
	tier.hits.Store(100) // counted before Attach: not the store's
	ns.Attach(tier)
	tier.hits.Add(5)
	tier.misses.Add(2)
	tier.diskHits.Add(1)
	ns.CountHit(true)
	ns.CountMiss()
	want := func(s *Store, live bool) {
		t.Helper()
		st := nsStats(t, s, "count")
		if st.Hits != 6 || st.Misses != 3 || st.DiskHits != 2 {
			t.Errorf("hits=%d misses=%d diskhits=%d, want 6 3 2", st.Hits, st.Misses, st.DiskHits)
		}
		if live && (st.MemSize != 3 || st.MemMax != 10 || !st.Claimed) {
			t.Errorf("memory tier %d/%d claimed=%v, want 3/10 true", st.MemSize, st.MemMax, st.Claimed)
		}
	}
	want(s, true) // unsaved counts included
	flush(t, s)
	want(s, true)
	closeStore(t, s)
	want(open(t), false) // persisted
}

func conformClosed(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "closed")
	first := s.Close()
	if err := s.Close(); !errors.Is(err, first) && err != first {
		t.Errorf("second Close = %v, want the first's %v", err, first)
	}
	ctx := context.Background()
	if _, err := ns.Lookup(key("k"), func([]byte, int64, int64) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	if err := ns.Put(ctx, key("k"), record("k", 1, 0, "v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	if err := s.Clear(ctx, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Clear after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Namespace(ctx, "other", spec("1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Namespace after Close: %v, want ErrClosed", err)
	}
}

// conformAcquire: a caller alone on a key gets to compute it at once.
func conformAcquire(t *testing.T, open opener) {
	s := open(t)
	ns := openNS(t, s, "acq")
	start := time.Now()
	ok, release, err := ns.Acquire(context.Background(), key("k"), func([]byte, int64, int64) error { return nil })
	if err != nil || ok || release == nil {
		t.Fatalf("Acquire = %v, %v, %v; want to compute", ok, release != nil, err)
	}
	put(t, ns, "k", record("k", 1, 0, "v"))
	release()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Acquire on a free key took %v", d)
	}
}
