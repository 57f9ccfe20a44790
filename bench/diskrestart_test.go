package bench

import (
	"fmt"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkDiskRestart measures what a restart costs the disk tier's
// eviction: each trace is replayed against the disk tier (see diskTier)
// at two capacities, and its hit ratio (hit%) reported for three runs:
//
//	kept        no restart
//	restarted   Close and Open halfway through: the store saves what its
//	            eviction knows of use (counts, the hand) at Close and reads
//	            it back after Open
//	forgotten   the same, with that saved state deleted before Open, as a
//	            program that ends without Close leaves none (and as every
//	            restart was before the state was saved)
//
// One op is one replay of the first 200,000 requests (20,000 under
// BENCH_SHORT=1); run it with -benchtime 1x.
func BenchmarkDiskRestart(b *testing.B) {
	requests := 200_000
	if os.Getenv("BENCH_SHORT") != "" {
		requests = 20_000
	}
	caps := map[string][]int{"oltp": {500, 2000}, "gli": {1000, 2000}, "loop": {500, 1000}, "zipf": {1000, 10_000}, "corda": {1000, 8000}}
	for _, t := range traces {
		cs := caps[t.name]
		if cs == nil {
			continue
		}
		keys, err := t.load()
		if err != nil {
			b.Fatalf("trace %s: %v", t.name, err)
		}
		keys = keys[:min(len(keys), requests)]
		for _, c := range cs {
			for _, run := range []struct {
				name    string
				restart bool
				forget  func(string) error
			}{{"kept", false, nil}, {"restarted", true, nil}, {"forgotten", true, forgetEviction}} {
				b.Run(fmt.Sprintf("trace=%s/requests=%d/cap=%d/run=%s", t.name, len(keys), c, run.name), func(b *testing.B) {
					var hit float64
					for range b.N {
						d := newDiskTier(b, c).(*diskTier)
						for i, k := range keys {
							if run.restart && i == len(keys)/2 {
								d.restart(b, run.forget)
							}
							d.request(k)
						}
						d.close(b)
						hits, misses := d.counts()
						if hits+misses != int64(len(keys)) {
							b.Fatalf("%d hits and %d misses for %d requests", hits, misses, len(keys))
						}
						hit = float64(hits) / float64(len(keys))
					}
					b.ReportMetric(hit*100, "hit%")
				})
			}
		}
	}
}

// forgetEviction deletes what the store at path saved of its eviction's
// state at Close: the key "policy" of its meta bucket "memostore" (the
// file's layout, store/boltstore/format.go).
func forgetEviction(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte("memostore"))
		if m == nil || m.Get([]byte("policy")) == nil {
			return fmt.Errorf("%s: no saved eviction state to forget", path)
		}
		return m.Delete([]byte("policy"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
