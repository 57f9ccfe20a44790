package boltstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/expiry"
)

func TestLookupExpired(t *testing.T) {
	for _, committed := range []bool{false, true} {
		t.Run(map[bool]string{false: "queued", true: "committed"}[committed], func(t *testing.T) {
			clock := newFakeClock()
			s := openStore(t, tempPath(t), WithClock(clock))
			ns := openNS(t, s, "n")
			now := clock.Nanos()
			exp := now + int64(10*time.Second)
			put(t, ns, "ttl", record("ttl", now, exp, "v"))
			put(t, ns, "forever", record("forever", now, 0, "v"))
			var resume func()
			if committed {
				flush(t, s)
			} else {
				resume = holdWriter(t, s)
			}
			clock.Set(time.Unix(0, exp-1))
			if f := lookup(t, ns, "ttl"); !f.OK || f.ExpiresAt != exp {
				t.Fatalf("1ns before expiry: %+v, want found with expiresAt %d", f, exp)
			}
			clock.Set(time.Unix(0, exp)) // an entry expires at the instant expiresAt
			wantMiss(t, ns, "ttl")
			clock.Advance(24 * time.Hour)
			wantMiss(t, ns, "ttl")
			wantValue(t, ns, "forever", "v")
			if resume != nil {
				resume()
			}
			flush(t, s)
			// A miss for expiry is not a decode error, and the entry waits
			// for the sweeper.
			st := nsStats(t, s, "n")
			if st.DecodeErrors != 0 || st.Entries != 2 || st.Expirations != 0 {
				t.Errorf("stats = %+v, want 2 entries, no decode errors or expirations", st)
			}
		})
	}
}

func TestSweep(t *testing.T) {
	path := tempPath(t)
	clock := newFakeClock()
	s := openStore(t, path, WithClock(clock), WithSweepInterval(0))
	a := openNS(t, s, "a")
	b := openNS(t, s, "b")
	now := clock.Nanos()
	sec := int64(time.Second)
	put(t, a, "a1", record("a1", now, now+1*sec, "v"))
	put(t, a, "a2", record("a2", now, now+2*sec, "v"))
	put(t, a, "a3", record("a3", now, now+3*sec, "v"))
	put(t, a, "a-forever", record("a-forever", now, 0, "v"))
	put(t, b, "b1", record("b1", now, now+1*sec, "v"))
	put(t, b, "b5", record("b5", now, now+5*sec, "v"))
	put(t, b, "b-forever", record("b-forever", now, 0, "v"))
	ctx := context.Background()

	sweep := func(want int) {
		t.Helper()
		n, err := s.Sweep(ctx)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if n != want {
			t.Fatalf("Sweep at +%v removed %d, want %d", time.Duration(clock.Nanos()-now), n, want)
		}
	}
	sweep(0)
	clock.Advance(2 * time.Second) // a1, a2 and b1 expire at or before now
	sweep(3)
	sweep(0)
	wantMiss(t, a, "a1")
	wantMiss(t, a, "a2")
	wantMiss(t, b, "b1")
	wantValue(t, a, "a3", "v")
	wantValue(t, b, "b5", "v")
	if st := nsStats(t, s, "a"); st.Entries != 2 || st.Expirations != 2 {
		t.Errorf("a: Entries = %d, Expirations = %d; want 2, 2", st.Entries, st.Expirations)
	}
	if st := nsStats(t, s, "b"); st.Entries != 2 || st.Expirations != 1 {
		t.Errorf("b: Entries = %d, Expirations = %d; want 2, 1", st.Entries, st.Expirations)
	}

	clock.Advance(100 * 365 * 24 * time.Hour)
	sweep(2)
	wantValue(t, a, "a-forever", "v")
	wantValue(t, b, "b-forever", "v")
	st := s.stats()
	if st.Entries != 2 || st.Bytes != int64(len(key("a-forever"))+len(key("b-forever"))+2*len(record("", now, 0, "v"))) {
		t.Errorf("after sweeping: Entries = %d, Bytes = %d", st.Entries, st.Bytes)
	}
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	if got := nsStats(t, ro, "a"); got.Expirations != 3 || got.Entries != 1 {
		t.Errorf("reopened: a = %+v, want 3 expirations, 1 entry", got)
	}
}

// TestSweepRewritten: an entry rewritten with another expiry is swept by
// its new expiry, not its old one.
func TestSweepRewritten(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0))
	ns := openNS(t, s, "n")
	now := clock.Nanos()
	put(t, ns, "later", record("later", now, now+1e9, "v1"))
	put(t, ns, "never", record("never", now, now+1e9, "v1"))
	flush(t, s)
	put(t, ns, "later", record("later", now, now+10e9, "v2"))
	put(t, ns, "never", record("never", now, 0, "v2"))
	clock.Advance(5 * time.Second)
	if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v; want 0", n, err)
	}
	wantValue(t, ns, "later", "v2")
	wantValue(t, ns, "never", "v2")
	clock.Advance(5 * time.Second)
	if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	wantMiss(t, ns, "later")
	wantValue(t, ns, "never", "v2")
}

// TestSweepBatches sweeps more expired entries than one batch holds: one
// Sweep call removes them all.
func TestSweepBatches(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0))
	a := openNS(t, s, "a")
	b := openNS(t, s, "b")
	now := clock.Nanos()
	const expiring = 2*sweepBatch + 345
	for i := range expiring {
		ns := a
		if i%3 == 0 {
			ns = b
		}
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), now, now+int64(i+1), "x"))
	}
	for i := range 10 {
		put(t, a, fmt.Sprint("live", i), record(fmt.Sprint("live", i), now, now+int64(time.Hour), "x"))
		put(t, b, fmt.Sprint("forever", i), record(fmt.Sprint("forever", i), now, 0, "x"))
	}
	flush(t, s)
	txBefore := lastTxID(t, s)
	clock.Advance(time.Minute)
	n, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != expiring {
		t.Errorf("Sweep = %d, want %d", n, expiring)
	}
	if commits := lastTxID(t, s) - txBefore; commits < expiring/sweepBatch {
		t.Errorf("Sweep of %d entries took %d commits, want batches of at most %d", expiring, commits, sweepBatch)
	}
	st := s.stats()
	if st.Entries != 20 {
		t.Errorf("Entries = %d, want 20", st.Entries)
	}
	var exps int64
	for _, ns := range st.Namespaces {
		exps += ns.Expirations
	}
	if exps != expiring {
		t.Errorf("Expirations = %d, want %d", exps, expiring)
	}
	wantValue(t, a, "live3", "x")
	wantValue(t, b, "forever7", "x")
	wantMiss(t, a, "1")
}

// TestBackgroundSweeper runs the sweeper on synctest's clock: two fake
// minutes pass in no time.
func TestBackgroundSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The control endpoint's socket I/O would keep the bubble's clock
		// from moving.
		s := openStore(t, tempPath(t), WithSweepInterval(time.Minute), WithoutControl())
		ns := openNS(t, s, "n")
		now := s.Now()
		for i := range 10 {
			put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), now, now+int64(30*time.Second), "v"))
		}
		put(t, ns, "forever", record("forever", now, 0, "v"))
		put(t, ns, "later", record("later", now, now+int64(time.Hour), "v"))
		flush(t, s)
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if st := s.stats(); st.Entries != 12 {
			t.Fatalf("before the first sweep: Entries = %d, want 12", st.Entries)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		flush(t, s)
		st := nsStats(t, s, "n")
		if st.Entries != 2 || st.Expirations != 10 {
			t.Errorf("after the sweeper ran: Entries = %d, Expirations = %d; want 2, 10", st.Entries, st.Expirations)
		}
		wantValue(t, ns, "forever", "v")
		wantValue(t, ns, "later", "v")
		closeStore(t, s)
	})
}

func TestBackgroundSweeperOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithoutControl())
		ns := openNS(t, s, "n")
		put(t, ns, "k", record("k", clock.Nanos(), clock.Nanos()+1, "v"))
		flush(t, s) // stored before it expires
		clock.Advance(time.Hour)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		flush(t, s)
		if st := nsStats(t, s, "n"); st.Entries != 1 || st.Expirations != 0 {
			t.Errorf("with the sweeper off: %+v, want the entry still there", st)
		}
		wantMiss(t, ns, "k")
		closeStore(t, s)
	})
}

// TestMaxBytes writes well over the limit into two namespaces, in one
// commit: the total stays within the limit, and with no use known the
// store keeps what it would have kept had the entries come one commit
// each (see TestEvictionFillsMainFirst).
func TestMaxBytes(t *testing.T) {
	clock := newFakeClock()
	rec := record("", 0, 0, strings.Repeat("v", 100))
	entry := int64(len(key("000")) + len(rec))
	limit := 20*entry + entry/2
	s := openStore(t, tempPath(t), WithClock(clock), WithMaxBytes(limit))
	a := openNS(t, s, "a")
	b := openNS(t, s, "b")
	const n = 200
	resume := holdWriter(t, s)
	for i := range n {
		ns := a
		if i%2 == 1 {
			ns = b
		}
		put(t, ns, fmt.Sprintf("%03d", i), record(fmt.Sprintf("%03d", i), clock.Nanos()+int64(i), 0, strings.Repeat("v", 100)))
	}
	resume()
	flush(t, s)
	st := s.stats()
	if st.Bytes > limit || st.MaxBytes != limit {
		t.Errorf("Bytes = %d, MaxBytes = %d; want at most %d", st.Bytes, st.MaxBytes, limit)
	}
	if st.Entries != 20 {
		t.Errorf("Entries = %d, want 20", st.Entries)
	}
	var evictions int64
	for _, ns := range st.Namespaces {
		evictions += ns.Evictions
	}
	if evictions != n-20 {
		t.Errorf("Evictions = %d, want %d", evictions, n-20)
	}
	// With no use known, main keeps the first stored (its share, filled
	// before any duel) and the window the newest; each entry between was
	// a candidate that tied with main's victim and lost. Whichever
	// namespace they are in.
	first := 0
	for i := range n {
		ns := a
		if i%2 == 1 {
			ns = b
		}
		k := fmt.Sprintf("%03d", i)
		f := lookup(t, ns, k)
		switch {
		case i < 20 && f.OK:
			first++
		case i < n-20 && f.OK:
			t.Errorf("entry %s found: neither among the first stored nor the newest", k)
		case i >= n-3 && !f.OK:
			t.Errorf("entry %s, among the newest, not found", k)
		}
	}
	if first < 10 {
		t.Errorf("%d of the first 20 stored kept, want main's share (16) or about", first)
	}
}

// TestMaxBytesStoredAtOrder: eviction follows stored-at, not the order of
// writes.
func TestMaxBytesStoredAtOrder(t *testing.T) {
	rec := record("", 0, 0, "value")
	entry := int64(len(key("k0")) + len(rec))
	s := openStore(t, tempPath(t), WithMaxBytes(5*entry))
	ns := openNS(t, s, "n")
	for _, at := range []int64{30, 10, 50, 20, 40} {
		put(t, ns, fmt.Sprint("k", at/10), record(fmt.Sprint("k", at/10), at, 0, "value"))
	}
	flush(t, s)
	if st := nsStats(t, s, "n"); st.Entries != 5 || st.Evictions != 0 {
		t.Fatalf("at the limit: %+v, want 5 entries, no evictions", st)
	}
	// k7, stored long ago, goes first, then the oldest of the rest. (The
	// hand sweeps in stored-at order: an entry put behind it waits for
	// its next sweep, so k7 is put first.)
	put(t, ns, "k7", record("k7", 5, 0, "value"))
	put(t, ns, "k6", record("k6", 60, 0, "value"))
	flush(t, s)
	for k, want := range map[string]bool{"k1": false, "k2": true, "k3": true, "k4": true, "k5": true, "k6": true, "k7": false} {
		if f := lookup(t, ns, k); f.OK != want {
			t.Errorf("%s found = %v, want %v", k, f.OK, want)
		}
	}
	if st := nsStats(t, s, "n"); st.Entries != 5 || st.Evictions != 2 || st.Bytes != 5*entry {
		t.Errorf("stats = %+v, want 5 entries, 2 evictions", st)
	}
}

// TestMaxBytesBurst writes many more entries than one eviction batch
// removes, as fast as it can: once Flush returns the store is within its
// limit.
func TestMaxBytesBurst(t *testing.T) {
	rec := record("", 0, 0, "v")
	entry := int64(len(key("00000")) + len(rec))
	limit := 100 * entry
	s := openStore(t, tempPath(t), WithMaxBytes(limit))
	ns := openNS(t, s, "n")
	resume := holdWriter(t, s) // so that one commit takes the whole burst
	const n = 5 * evictBatch
	for i := range n {
		put(t, ns, fmt.Sprintf("%05d", i), record(fmt.Sprintf("%05d", i), int64(i+1), 0, "v"))
	}
	resume()
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.Bytes > limit || st.Entries != 100 || st.Evictions != n-100 {
		t.Errorf("after Flush: Bytes = %d (limit %d), Entries = %d, Evictions = %d; want 100 entries, %d evictions",
			st.Bytes, limit, st.Entries, st.Evictions, n-100)
	}
	wantValue(t, ns, fmt.Sprintf("%05d", n-1), "v")
	wantMiss(t, ns, "00000")
}

// TestMaxBytesOneLargeEntry: an entry larger than the limit on its own is
// evicted, and evicts everything before it.
func TestMaxBytesOneLargeEntry(t *testing.T) {
	s := openStore(t, tempPath(t), WithMaxBytes(1000))
	ns := openNS(t, s, "n")
	put(t, ns, "small", record("small", 1, 0, "v"))
	put(t, ns, "large", record("large", 2, 0, strings.Repeat("x", 2000)))
	flush(t, s)
	if st := nsStats(t, s, "n"); st.Entries != 0 || st.Bytes != 0 || st.Evictions != 2 {
		t.Errorf("stats = %+v, want everything evicted", st)
	}
}

// TestMaxBytesLargeEntryEvictsMany: one large entry that needs many more
// evictions than one batch makes still leaves the store within its limit
// once Flush returns.
func TestMaxBytesLargeEntryEvictsMany(t *testing.T) {
	rec := record("", 0, 0, "v")
	entry := int64(len(key("00000")) + len(rec))
	const small = 3 * evictBatch
	limit := small * entry
	s := openStore(t, tempPath(t), WithMaxBytes(limit))
	ns := openNS(t, s, "n")
	for i := range small {
		put(t, ns, fmt.Sprintf("%05d", i), record(fmt.Sprintf("%05d", i), int64(i+1), 0, "v"))
	}
	flush(t, s)
	if st := nsStats(t, s, "n"); st.Entries != small || st.Evictions != 0 {
		t.Fatalf("at the limit: Entries = %d, Evictions = %d; want %d, 0", st.Entries, st.Evictions, small)
	}
	large := record("large", small+1, 0, strings.Repeat("x", int(limit/2)))
	put(t, ns, "large", large)
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.Bytes > limit {
		t.Errorf("after Flush: Bytes = %d, over the limit of %d (Entries = %d, Evictions = %d)", st.Bytes, limit, st.Entries, st.Evictions)
	}
	wantValue(t, ns, "large", strings.Repeat("x", int(limit/2)))
	wantMiss(t, ns, "00000")
}

// TestSweepDropsOrphanIndexKey: an expiry index key whose entry is gone
// (a damaged file: a flipped bit in the key part of an index key, say)
// must be dropped as stale. The sweep's lookup through its cursor (seek)
// returned the record of the next key for a missing one, so the sweep
// counted a decode error and an expiration and took the other entry's
// size off Entries and Bytes, while that entry stayed in the file (found
// by a review; the counters are saved, so the wrong counts stayed too).
func TestSweepDropsOrphanIndexKey(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	now := time.Now().UnixNano()

	s, err := openWith(path, quiet(), WithSweepInterval(0), WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	ns := openNS(t, s, "n")
	put(t, ns, "b", record("b", now, now+int64(time.Hour), "live"))
	flush(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An orphan expiry index key: entry "a" (which sorts before "b") does
	// not exist, and its index time is long past.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("e/n")).Put(expiry.AppendIndexKey(nil, 1, key("a")), nil)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = openWith(path, quiet(), WithSweepInterval(0), WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ns = openNS(t, s, "n")
	wantValue(t, ns, "b", "live") // the entry is still there
	st := nsStats(t, s, "n")
	if n != 0 || st.Entries != 1 || st.Expirations != 0 || st.DecodeErrors != 0 || st.Bytes <= 0 {
		t.Errorf("after sweeping an orphan index key: Sweep = %d, Entries %d, Bytes %d, Expirations %d, DecodeErrors %d; want 0, 1, >0, 0, 0",
			n, st.Entries, st.Bytes, st.Expirations, st.DecodeErrors)
	}
}
