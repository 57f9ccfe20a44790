package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/internal/mtesting"
	bolt "go.etcd.io/bbolt"
)

// staleRecord is a record of k whose TTL ends at staleAt and which is kept
// past it, stale, until expiresAt.
func staleRecord(k string, storedAt, staleAt, expiresAt int64) []byte {
	m := codec.Meta{StoredAt: storedAt, ExpiresAt: expiresAt, Grace: time.Duration(expiresAt - staleAt)}
	return m.Record(key(k), codec.AppendString(nil, "v"))
}

// TestInspectCountsStale: Inspect counts the entries past their TTL and
// before their end (kept for StaleWhileRevalidate or StaleIfError), from
// the stale index; replacing, deleting, sweeping and clearing keep the
// index right, and Check finds nothing wrong with it.
func TestInspectCountsStale(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0))
	ns := openNS(t, s, "n")
	ctx := context.Background()
	now := clock.Nanos()
	sec := int64(time.Second)
	put(t, ns, "a", staleRecord("a", now, now+1*sec, now+10*sec))
	put(t, ns, "b", staleRecord("b", now, now+2*sec, now+3*sec))
	put(t, ns, "c", staleRecord("c", now, now+2*sec, now+20*sec))
	put(t, ns, "plain", record("plain", now, now+2*sec, "v")) // no grace: never stale
	put(t, ns, "forever", record("forever", now, 0, "v"))
	stale := func(want int64) {
		t.Helper()
		mtesting.Flush(t, s)
		st, err := s.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Namespaces[0].Stale; got != want {
			t.Errorf("at +%v: Stale = %d, want %d", time.Duration(clock.Nanos()-now), got, want)
		}
		rep, err := s.Check(ctx, false, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("Check: %v, %v", err, rep.Problems)
		}
	}
	stale(0)
	clock.Advance(1500 * time.Millisecond)
	stale(1) // a
	clock.Advance(time.Second)
	stale(3)                                                                                   // a, b, c; plain has expired
	put(t, ns, "c", staleRecord("c", clock.Nanos(), clock.Nanos()+2*sec, clock.Nanos()+3*sec)) // fresh again
	stale(2)
	clock.Advance(time.Second) // b expires, unswept
	stale(1)
	if n, err := s.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want b and plain", n, err)
	}
	stale(1)
	if err := ns.Delete(ctx, key("a")); err != nil {
		t.Fatal(err)
	}
	stale(0)
	clock.Advance(time.Second)
	stale(1) // c, stored again, from the instant its TTL ends
	if err := s.Clear(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	stale(0)
	put(t, ns, "d", staleRecord("d", clock.Nanos(), clock.Nanos(), clock.Nanos()+sec))
	stale(1)
}

// TestCheckFindsMissingStaleKey: a record with a grace whose stale index
// key is gone is a problem Check reports, and a stale index key without
// its record is one it repairs.
func TestCheckFindsMissingStaleKey(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0))
	ns := openNS(t, s, "n")
	ctx := context.Background()
	now := clock.Nanos()
	put(t, ns, "a", staleRecord("a", now, now+int64(time.Second), now+int64(time.Hour)))
	mtesting.Flush(t, s)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("s/n")).Delete(expiry.AppendIndexKey(nil, now+int64(time.Second), key("a")))
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(ctx, false, nil)
	if err != nil || rep.OK() {
		t.Fatalf("Check = %v, %v; want the missing stale key found", rep, err)
	}
}
