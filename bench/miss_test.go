package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/store"
)

// missBase is the first key of the miss-and-store benchmarks: keys from
// 2^20 on encode in 5 bytes, as most ids of a real program would.
const missBase = 1 << 20

// BenchmarkMissStore times calls on new keys with a trivial fn (it returns
// NewResult(k)): the memory tier and the file miss, fn runs, and the result
// is kept in memory and written behind. ns/op is the sustained cost: the
// loop ends with a Flush, so every result is committed (fsynced) inside the
// timed region, and a writer that falls behind slows the callers
// (backpressure) instead of hiding in a queue.
//
// The metrics say what a caller sees: call-p50-ns ... call-max-ns are the
// latencies of single calls (fn included), which must be fn plus
// microseconds, never a commit; max-queued and max-queued-bytes are the
// largest write-behind queue seen (Stats, every 1,024 calls), which must
// stay bounded (DefaultQueueBytes).
//
// Against raw bbolt with the same keys and the same msgpack payloads,
// every commit fsynced (bbolt's default):
//
//	bbolt-tx-per-put   one Update per put: what a naive disk cache does
//	bbolt-batch-8      DB.Batch from 8 goroutines: bbolt's own group commit
//	bbolt-1000-per-tx  1,000 puts per Update: the engine's floor for writing
func BenchmarkMissStore(b *testing.B) {
	b.Run("impl=memostore", func(b *testing.B) { missMemostore(b, NewResult) })
	b.Run("impl=bbolt-tx-per-put", func(b *testing.B) { boltPuts(b, 1, NewResult) })
	b.Run("impl=bbolt-batch-8", func(b *testing.B) { boltBatch(b, 8, NewResult) })
	b.Run("impl=bbolt-1000-per-tx", func(b *testing.B) { boltPuts(b, 1000, NewResult) })
}

// missMemostore runs b.N calls on new keys on a fresh store, then Flush.
// It is a b.N loop, not b.Loop, because the Flush that ends it must be
// timed.
func missMemostore[V any](b *testing.B, value func(int) V, opts ...store.Option) {
	ctx := context.Background()
	s := openStore(b, opts...)
	f := mustFunc(b, s, "miss", func(_ context.Context, k int) (V, error) { return value(k), nil })
	lat := make([]time.Duration, b.N)
	var maxQueued int
	var maxQueuedBytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := f.Call(ctx, missBase+i); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
		if i%1024 == 0 {
			st := s.Stats()
			maxQueued = max(maxQueued, st.Queued)
			maxQueuedBytes = max(maxQueuedBytes, st.QueuedBytes)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := s.Stats(); st.Entries != int64(b.N) || st.Queued != 0 {
		b.Fatalf("after %d calls and Flush: %d entries, %d queued", b.N, st.Entries, st.Queued)
	}
	if i := f.Info(); i.Misses != int64(b.N) {
		b.Fatalf("%d calls on new keys: %+v", b.N, i)
	}
	reportLatencies(b, "call", lat)
	b.ReportMetric(float64(maxQueued), "max-queued")
	b.ReportMetric(float64(maxQueuedBytes), "max-queued-bytes")
}

// boltPuts stores b.N new entries in raw bbolt, perTx puts per committed
// transaction: the key encoded as memostore encodes it, the value
// msgpack-encoded.
func boltPuts[V any](b *testing.B, perTx int, value func(int) V) {
	db := openBolt(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perTx {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(floorBucket)
			if err != nil {
				return err
			}
			for k := missBase + i; k < missBase+min(i+perTx, b.N); k++ {
				if err := putValue(bk, k, value(k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	checkBoltEntries(b, db, b.N)
}

// boltBatch stores b.N new entries in raw bbolt through DB.Batch, from g
// goroutines, each waiting for its put's commit as a caller of a
// synchronous cache would.
func boltBatch[V any](b *testing.B, g int, value func(int) V) {
	db := openBolt(b)
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(floorBucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, g)
	b.ReportAllocs()
	b.ResetTimer()
	for range g {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				k := missBase + i
				err := db.Batch(func(tx *bolt.Tx) error {
					return putValue(tx.Bucket(floorBucket), k, value(k))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	checkBoltEntries(b, db, b.N)
}

func putValue[V any](bk *bolt.Bucket, k int, v V) error {
	p, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return bk.Put(codec.AppendInt(nil, int64(k)), p)
}

func checkBoltEntries(tb testing.TB, db *bolt.DB, n int) {
	tb.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket(floorBucket).Stats().KeyN; got != n {
			tb.Fatalf("bbolt holds %d keys, want %d", got, n)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
