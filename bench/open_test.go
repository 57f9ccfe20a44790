package bench

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/store"
)

// BenchmarkOpen times store.Open, with its defaults, of a store of 10,000
// and of 1,000,000 entries, warm (the file in the page cache from the
// iteration before): Open must cost the same whatever the entries, as it
// reads counters, never entries. Close is not timed. bbolt is bolt.Open of
// the same file with the options memostore uses, the engine's share.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{smallEntries, bigEntries} {
		path := filepath.Join(b.TempDir(), "open.db")
		copyStore(b, bigStore(b, n), path)
		b.Run(fmt.Sprintf("entries=%d/impl=memostore", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := store.Open(path, warnings)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("entries=%d/impl=bbolt", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, PreLoadFreelist: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkStats times Store.Stats on an open store of 10,000 and of
// 1,000,000 entries: counters kept in memory, so no growth with entries.
func BenchmarkStats(b *testing.B) {
	for _, n := range []int{smallEntries, bigEntries} {
		path := filepath.Join(b.TempDir(), "stats.db")
		copyStore(b, bigStore(b, n), path)
		s, err := store.Open(path, warnings)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var st store.Stats
			for b.Loop() {
				st = s.Stats()
			}
			if st.Entries != int64(n) {
				b.Fatalf("Stats: %d entries, want %d", st.Entries, n)
			}
		})
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
