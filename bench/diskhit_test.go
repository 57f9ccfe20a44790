package bench

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// BenchmarkDiskHit times a call served from the file: Func.Call with the
// memory tier off (MaxSize(0)) on 10,000 committed entries, int keys to
// Result values, visited in a shuffled order; against the floor, what a
// program using bbolt directly must do for the same answer: View, Get the
// same key (encoded the same way) from a bucket holding the same records,
// and msgpack-decode the same payload.
//
// memostore-bounded is memostore with WithMaxBytes (1 GiB: nothing is
// evicted), where each lookup also notes the key's use for eviction.
func BenchmarkDiskHit(b *testing.B) {
	ctx := context.Background()
	n := smallEntries
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)

	for _, impl := range []struct {
		name string
		opts []store.Option
	}{{"memostore", nil}, {"memostore-bounded", []store.Option{store.WithMaxBytes(1 << 30)}}} {
		s := openStore(b, impl.opts...)
		f := mustFunc(b, s, "disk", bigFn, memo.MaxSize(0))
		for k := range n {
			if _, err := f.Call(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			before := f.Info().DiskHits
			i := 0
			for b.Loop() {
				f.Call(ctx, order[i%n])
				i++
			}
			if got := f.Info().DiskHits - before; got != int64(i) {
				b.Fatalf("%d disk hits in %d calls", got, i)
			}
		})
	}

	db := boltFloor(b, n, func(k int) []byte {
		rec, err := vals[Result]().Encode(NewResult(k), codec.AppendInt(nil, int64(k)), codec.Meta{StoredAt: time.Now().UnixNano()})
		if err != nil {
			b.Fatal(err)
		}
		return rec
	})
	b.Run("impl=bbolt-floor", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r, err := floorGet[Result](db, order[i%n])
			if err != nil || r.ID != order[i%n] {
				b.Fatal(r, err)
			}
			i++
		}
	})
}

// floorBucket is the bucket of the raw bbolt files.
var floorBucket = []byte("d")

// boltFloor returns a bbolt database, closed when tb ends, holding rec(k)
// under the encoded key k for k in [0, n), in one bucket.
func boltFloor(tb testing.TB, n int, rec func(k int) []byte) *bolt.DB {
	tb.Helper()
	db := openBolt(tb)
	err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(floorBucket)
		if err != nil {
			return err
		}
		for k := range n {
			if err := bk.Put(codec.AppendInt(nil, int64(k)), rec(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// openBolt opens a raw bbolt file with bbolt's defaults (every commit
// fsynced), closed when tb ends.
func openBolt(tb testing.TB) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "bolt.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// floorGet is the floor of a disk hit: one read transaction, one Get, one
// msgpack decode of the payload (the record less memostore's header).
func floorGet[V any](db *bolt.DB, k int) (V, error) {
	var v V
	var kb [9]byte
	key := codec.AppendInt(kb[:0], int64(k))
	err := db.View(func(tx *bolt.Tx) error {
		rec := tx.Bucket(floorBucket).Get(key)
		return msgpack.Unmarshal(rec[codec.HeaderSize:], &v)
	})
	return v, err
}

// vals returns the record codec for V.
func vals[V any]() *codec.Values[V] {
	c, err := codec.NewValues[V]()
	if err != nil {
		panic(err)
	}
	return c
}
