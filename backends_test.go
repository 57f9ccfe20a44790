package memostore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/redisstore"
)

// TestExpiredPutCountedAlike: a record already expired when Put
// gets it (the conformance suite's "past") is not written by Redis, nor
// counted in Writes; a file writes it (Entries, Bytes, until a sweep) and
// counts it. NamespaceStats.Writes ("records written") of one sequence of
// Puts differs by backend; storetest does not check it.
func TestExpiredPutCountedAlike(t *testing.T) {
	writes := map[string]int64{}
	for _, backend := range []string{"bbolt", "redis"} {
		clock := mtesting.NewFakeClock()
		var s *store.Store
		if backend == "bbolt" {
			s = openT(t, filepath.Join(t.TempDir(), "e.db"), store.WithClock(clock), store.WithSweepInterval(0))
		} else {
			url := redistest.URL(t)
			var err error
			s, err = store.Open(url, store.WithLogger(nil), store.WithClock(clock), redisstore.WithPrefix(redistest.Prefix(t, url)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
		}
		ns := mtesting.OpenNS(t, s, "exp")
		now := clock.Nanos()
		mtesting.Put(t, ns, "past", mtesting.Record("past", now-int64(time.Minute), now-1, "p"))
		mtesting.Put(t, ns, "live", mtesting.Record("live", now, now+int64(time.Hour), "l"))
		// An expired record replaces what its key held: the key misses.
		mtesting.Put(t, ns, "old", mtesting.Record("old", now, now+int64(time.Hour), "o"))
		mtesting.Put(t, ns, "old", mtesting.Record("old", now-int64(time.Minute), now-1, "p"))
		mtesting.Flush(t, s)
		mtesting.WantMiss(t, ns, "old")
		writes[backend] = nsStats(t, s, "exp").Writes
	}
	if writes["bbolt"] != writes["redis"] {
		t.Errorf("Writes after one expired and one live Put: file %d, Redis %d; want the same", writes["bbolt"], writes["redis"])
	}
}
