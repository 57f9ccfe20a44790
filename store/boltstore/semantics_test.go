package boltstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store"
)

// TestStatsAfterClose: "Every other method returns ErrClosed
// after [Close]" (store.Store.Close). StatsContext of a closed Redis
// store, and of a closed shared file store, returns ErrClosed; a file
// opened WithExclusive (or WithoutControl, or WithReadOnly: a
// boltstore.Store not behind Shared) returns its stats and nil.
func TestStatsAfterClose(t *testing.T) {
	for name, opt := range map[string]store.Option{
		"exclusive": store.WithExclusive(), "without-control": store.WithoutControl(),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithLogger(nil), opt)
			if err != nil {
				t.Fatal(err)
			}
			mtesting.OpenNS(t, s, "n")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.StatsContext(context.Background()); !errors.Is(err, store.ErrClosed) {
				t.Errorf("StatsContext after Close = %v, want store.ErrClosed (as Redis and a shared file give)", err)
			}
		})
	}
}

// TestSweepNegativeExpiresAt: a record whose expires-at is
// negative (before 1970: a clock set so, or any record Put hands in,
// which CheckPut lets through) is expired for Lookup (Header.Expired),
// but its expiry index key, uint64(at), sorts after every other: Sweep
// stops at the first entry not yet due, so beside any entry with a TTL it
// never reaches the expired one, which stays in the file, counted in
// Entries and Bytes, for ever. Redis drops it at Put (its TTL is not
// positive).
func TestSweepNegativeExpiresAt(t *testing.T) {
	clock := mtesting.NewFakeClock()
	s, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.WithLogger(nil),
		store.WithSweepInterval(0), store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := mtesting.OpenNS(t, s, "neg")
	now := clock.Nanos()
	if err := ns.Put(context.Background(), mtesting.Key("k"), mtesting.Record("k", now, -5, "v")); err == nil {
		t.Errorf("Put of a record expiring before 1970 = nil; want an error")
	}
	mtesting.Put(t, ns, "live", mtesting.Record("live", now, now+int64(time.Hour), "l"))
	mtesting.Flush(t, s)
	mtesting.WantMiss(t, ns, "k") // expired
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	mtesting.Flush(t, s)
	if st := mtesting.NSStats(t, s, "neg"); st.Entries != 1 {
		t.Errorf("after Sweep: %d entries; want 1 (\"live\"): the expired record swept, or never stored", st.Entries)
	}
}
