package boltstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/store/driver"

	"go.uber.org/goleak"

	"github.com/memostore/memostore/codec"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// writer and sweeper must be stopped by Close.
func TestMain(m *testing.M) {
	if sock := os.Getenv(controlClientEnv); sock != "" {
		runControlClient(sock)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestOpenCreatesFile(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Open did not create %s: %v", path, err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
	st := s.stats()
	if st.Path != path || st.FormatVersion != FormatVersion || st.Entries != 0 || st.Bytes != 0 || len(st.Namespaces) != 0 {
		t.Errorf("driver.Stats of a new store = %+v", st)
	}
	if st.FileSize != fi.Size() || st.FileSize == 0 {
		t.Errorf("driver.Stats.FileSize = %d, file has %d bytes", st.FileSize, fi.Size())
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	closeStore(t, s)
	// The temporary file create builds the store in is gone; the lock
	// file stays by design.
	wantFiles(t, path, path, LockPath(path))
}

func TestOpenReopenKeepsData(t *testing.T) {
	path := tempPath(t)
	clock := newFakeClock()
	s := openStore(t, path, WithClock(clock))
	ns := openNS(t, s, "fib")
	exp := clock.Nanos() + int64(time.Hour)
	put(t, ns, "a", record("a", clock.Nanos(), 0, "alpha"))
	put(t, ns, "b", record("b", clock.Nanos(), exp, "beta"))
	closeStore(t, s)

	s = openStore(t, path, WithClock(clock))
	ns = openNS(t, s, "fib")
	wantValue(t, ns, "a", "alpha")
	wantValue(t, ns, "b", "beta")
	if f := lookup(t, ns, "b"); f.ExpiresAt != exp {
		t.Errorf("expiresAt after reopen = %d, want %d", f.ExpiresAt, exp)
	}
	if got := s.stats().Entries; got != 2 {
		t.Errorf("Entries after reopen = %d, want 2", got)
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	path := tempPath(t)
	s, err := openWith(path, WithReadOnly(), quiet())
	if err == nil {
		s.Close()
		t.Fatal("Open of a missing file WithReadOnly succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want one that wraps os.ErrNotExist", err)
	}
	if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("read-only Open created %s (stat: %v)", path, serr)
	}
}

func TestReadOnly(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "v"))
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	ctx := context.Background()
	if _, err := ro.Namespace(ctx, "n", spec("1")); err == nil {
		t.Error("Namespace on a read-only store succeeded")
	}
	if _, err := ro.Sweep(ctx); err == nil {
		t.Error("Sweep on a read-only store succeeded")
	}
	if err := ro.Clear(ctx, ""); err == nil {
		t.Error("Clear on a read-only store succeeded")
	}
	if err := ro.Flush(ctx); err != nil {
		t.Errorf("Flush on a read-only store: %v", err)
	}
	// Two readers share the file.
	ro2 := openStore(t, path, WithReadOnly())
	if got := ro2.stats().Entries; got != 1 {
		t.Errorf("second reader: Entries = %d, want 1", got)
	}
	closeStore(t, ro2)
	closeStore(t, ro)
}

func TestReadYourWrites(t *testing.T) {
	path := tempPath(t)
	clock := newFakeClock()
	s := openStore(t, path, WithClock(clock))
	ns := openNS(t, s, "n")
	exp := clock.Nanos() + int64(time.Minute)

	put(t, ns, "k", record("k", clock.Nanos(), exp, "v1"))
	f := lookup(t, ns, "k")
	if !f.OK || f.ExpiresAt != exp {
		t.Fatalf("Lookup right after Put = %+v, want found with expiresAt %d", f, exp)
	}
	wantValue(t, ns, "k", "v1")

	put(t, ns, "k", record("k", clock.Nanos(), 0, "v2"))
	wantValue(t, ns, "k", "v2")
	if f := lookup(t, ns, "k"); f.ExpiresAt != 0 {
		t.Errorf("expiresAt of a record without expiry = %d, want 0", f.ExpiresAt)
	}

	if err := ns.Delete(context.Background(), key("k")); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, ns, "k")

	put(t, ns, "k2", record("k2", clock.Nanos(), exp, "kept"))
	flush(t, s)
	if q := s.stats().Queued; q != 0 {
		t.Errorf("Queued after Flush = %d, want 0", q)
	}
	wantMiss(t, ns, "k")
	wantValue(t, ns, "k2", "kept")
	closeStore(t, s)

	s = openStore(t, path, WithClock(clock))
	ns = openNS(t, s, "n")
	wantMiss(t, ns, "k")
	wantValue(t, ns, "k2", "kept")
	if f := lookup(t, ns, "k2"); f.ExpiresAt != exp {
		t.Errorf("expiresAt after reopen = %d, want %d", f.ExpiresAt, exp)
	}
}

// TestReadYourWritesQueued holds the writer back, so that the reads are
// certain to come from the queue.
func TestReadYourWritesQueued(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	put(t, ns, "committed", record("committed", 1, 0, "old"))
	put(t, ns, "replaced", record("replaced", 1, 0, "old"))
	flush(t, s)
	resume := holdWriter(t, s)

	// A queued delete or put hides what the file holds.
	if err := ns.Delete(context.Background(), key("committed")); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, ns, "committed")
	put(t, ns, "replaced", record("replaced", 2, 0, "new"))
	wantValue(t, ns, "replaced", "new")

	put(t, ns, "k", record("k", 1, 0, "queued"))
	if q := s.stats().Queued; q == 0 {
		t.Fatal("Queued = 0 while the writer is held")
	}
	wantValue(t, ns, "k", "queued")
	if err := ns.Delete(context.Background(), key("k")); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, ns, "k")
	put(t, ns, "k", record("k", 2, 0, "again"))
	wantValue(t, ns, "k", "again")
	resume()
	flush(t, s)
	wantValue(t, ns, "k", "again")
	wantMiss(t, ns, "committed")
	wantValue(t, ns, "replaced", "new")
	if st := nsStats(t, s, "n"); st.Entries != 2 {
		t.Errorf("Entries = %d, want 2", st.Entries)
	}
}

func TestSyncWrites(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path, WithSyncWrites())
	if !s.opts.SyncWrites {
		t.Error("opts.SyncWrites = false")
	}
	ns := openNS(t, s, "n")
	for i := range 20 {
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), int64(i+1), 0, "v"))
		if st := s.stats(); st.Queued != 0 || st.Entries != int64(i+1) {
			t.Fatalf("after sync Put %d: Queued = %d, Entries = %d; want 0, %d", i, st.Queued, st.Entries, i+1)
		}
	}
	if err := ns.Delete(context.Background(), key("0")); err != nil {
		t.Fatal(err)
	}
	if st := s.stats(); st.Queued != 0 || st.Entries != 19 {
		t.Fatalf("after sync Delete: Queued = %d, Entries = %d; want 0, 19", st.Queued, st.Entries)
	}
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	if st := ro.stats(); st.Entries != 19 {
		t.Errorf("read-only reopen: Entries = %d, want 19", st.Entries)
	}
}

func TestCounters(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	ns := openNS(t, s, "n")
	other := openNS(t, s, "other")

	recA := record("a", 1, 0, "a")
	recB := record("b", 2, 0, "a much longer value than the first")
	recX := record("x", 1, 0, "a")
	put(t, ns, "a", recA)
	put(t, ns, "b", recB)
	put(t, other, "x", recX)
	for range 3 {
		countHit(ns, false)
	}
	countHit(ns, true)
	countHit(ns, true)
	countMiss(ns)
	flush(t, s)

	want := driver.NamespaceStats{Name: "n", Entries: 2, Bytes: int64(len(key("a")) + len(recA) + len(key("b")) + len(recB)),
		Hits: 5, DiskHits: 2, Misses: 1, Writes: 2}
	wantCounts(t, nsStats(t, s, "n"), want)
	if st := s.stats(); st.Entries != 3 || st.Bytes != want.Bytes+int64(len(key("x"))+len(recA)) {
		t.Errorf("store totals: Entries = %d, Bytes = %d", st.Entries, st.Bytes)
	}

	// Overwrite: still one entry, bytes follow the new record.
	recA2 := record("a", 3, 0, "a, rewritten at more length")
	put(t, ns, "a", recA2)
	flush(t, s)
	want.Bytes += int64(len(recA2) - len(recA))
	want.Writes++
	wantCounts(t, nsStats(t, s, "n"), want)

	// Delete, and delete of an absent key.
	if err := ns.Delete(context.Background(), key("b")); err != nil {
		t.Fatal(err)
	}
	if err := ns.Delete(context.Background(), key("absent")); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	want.Entries--
	want.Bytes -= int64(len(key("b")) + len(recB))
	wantCounts(t, nsStats(t, s, "n"), want)

	// Counted, not yet flushed: Stats includes it; Close writes it.
	countMiss(ns)
	want.Misses++
	wantCounts(t, nsStats(t, s, "n"), want)
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	wantCounts(t, nsStats(t, ro, "n"), want)
	if got := nsStats(t, ro, "other"); got.Entries != 1 || got.Writes != 1 {
		t.Errorf("other after reopen: %+v", got)
	}
	if nsStats(t, ro, "n").Claimed {
		t.Error("Claimed = true in a read-only store")
	}
}

// wantCounts compares the counters of got with want.
func wantCounts(tb testing.TB, got, want driver.NamespaceStats) {
	tb.Helper()
	type counts struct {
		Entries, Bytes, Hits, Misses, DiskHits, Expirations, Evictions, DecodeErrors, WriteErrors, Writes int64
	}
	c := func(n driver.NamespaceStats) counts {
		return counts{n.Entries, n.Bytes, n.Hits, n.Misses, n.DiskHits, n.Expirations, n.Evictions, n.DecodeErrors, n.WriteErrors, n.Writes}
	}
	if c(got) != c(want) {
		tb.Errorf("namespace %q counters:\n got %+v\nwant %+v", got.Name, c(got), c(want))
	}
}

// TestStatsHitsMonotonic checks that counts gathered in memory never
// vanish from Stats while the writer carries them to the file.
func TestStatsHitsMonotonic(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			countHit(ns, true)
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Flush: %v", err)
			}
		}
	}()
	var last int64
	for ctx.Err() == nil {
		h := nsStats(t, s, "n").Hits
		if h < last {
			t.Errorf("driver.Stats Hits went back from %d to %d", last, h)
			break
		}
		last = h
	}
	wg.Wait()
}

func TestClose(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	checks := map[string]error{
		"Put":             ns.Put(ctx, key("k"), record("k", 2, 0, "v")),
		"Delete":          ns.Delete(ctx, key("k")),
		"Flush":           s.Flush(ctx),
		"Clear":           s.Clear(ctx, ""),
		"Namespace.Clear": ns.Clear(ctx),
	}
	_, checks["Lookup"] = ns.Lookup(context.Background(), key("k"), func([]byte, codec.Header) error { return nil })
	_, checks["Sweep"] = s.Sweep(ctx)
	_, checks["Namespace"] = s.Namespace(ctx, "m", spec("1"))
	for name, err := range checks {
		if !errors.Is(err, driver.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want driver.ErrClosed", name, err)
		}
	}
	// Stats still describes the file.
	if st := s.stats(); st.Entries != 1 {
		t.Errorf("driver.Stats after Close: Entries = %d, want 1", st.Entries)
	}
}

func TestCloseConcurrent(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "v"))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Close() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
}

// TestConcurrent runs writers, readers, deleters, flushers and Stats
// against one store, then checks that the counters agree with the data.
func TestConcurrent(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	spaces := []*Namespace{openNS(t, s, "a"), openNS(t, s, "b")}
	const keys = 64
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; ctx.Err() == nil; i++ {
				ns := spaces[r.IntN(len(spaces))]
				k := key(fmt.Sprint(r.IntN(keys)))
				var err error
				switch op := r.IntN(20); {
				case op < 8:
					v := codec.AppendString(nil, fmt.Sprintf("g%d-%d", g, i))
					err = ns.Put(ctx, k, codec.NewRecord(k, int64(i+1), 0, v))
				case op < 15:
					_, err = ns.Lookup(context.Background(), k, func(p []byte, _ codec.Header) error {
						_, derr := codec.DecodeAny(p)
						return derr
					})
				case op < 18:
					err = ns.Delete(ctx, k)
				case op < 19:
					err = s.Flush(ctx)
				default:
					st := s.stats()
					if st.Entries < 0 || st.Bytes < 0 {
						t.Errorf("driver.Stats: Entries = %d, Bytes = %d", st.Entries, st.Bytes)
					}
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)

	var present, bytes int64
	for _, ns := range spaces {
		for i := range keys {
			k := key(fmt.Sprint(i))
			var n int
			ok, err := ns.Lookup(context.Background(), k, func(p []byte, _ codec.Header) error {
				n = codec.HeaderSize + len(p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				present++
				bytes += int64(len(k) + n)
			}
		}
	}
	st := s.stats()
	if st.Entries != present || st.Bytes != bytes {
		t.Errorf("after Flush: driver.Stats Entries = %d, Bytes = %d; Lookup finds %d entries of %d bytes", st.Entries, st.Bytes, present, bytes)
	}
	for _, n := range st.Namespaces {
		if n.DecodeErrors != 0 || n.WriteErrors != 0 {
			t.Errorf("namespace %q: DecodeErrors = %d, WriteErrors = %d", n.Name, n.DecodeErrors, n.WriteErrors)
		}
	}
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	if got := ro.stats(); got.Entries != present || got.Bytes != bytes {
		t.Errorf("after reopen: Entries = %d, Bytes = %d; want %d, %d", got.Entries, got.Bytes, present, bytes)
	}
}
