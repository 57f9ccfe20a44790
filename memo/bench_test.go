package memo_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// These benchmarks compare a memory-tier hit with golang-lru's Get on the
// same key; bench/ holds the full suite against every peer.

func BenchmarkMemoryHit(b *testing.B) {
	ctx := context.Background()
	ident := func(_ context.Context, x int) (int, error) { return x, nil }
	identS := func(_ context.Context, x string) (string, error) { return x, nil }
	for _, tc := range []struct {
		name string
		opts []memo.Option
	}{{"plain", nil}, {"ttl", []memo.Option{memo.TTL(time.Hour)}}} {
		f, _ := memo.New(nil, "int", ident, tc.opts...)
		f.Call(ctx, 42)
		b.Run("int/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Call(ctx, 42)
			}
		})
		b.Run("int/"+tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f.Call(ctx, 42)
				}
			})
		})
		fs, _ := memo.New(nil, "str", identS, tc.opts...)
		key := "user:" + strconv.Itoa(42)
		fs.Call(ctx, key)
		b.Run("string/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fs.Call(ctx, key)
			}
		})
	}
	c, _ := lru.New[int, int](128)
	c.Add(42, 42)
	b.Run("golang-lru/int", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Get(42)
		}
	})
	b.Run("golang-lru/int/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Get(42)
			}
		})
	})
}

// BenchmarkMemoryHitStored is a memory-tier hit in front of a file bounded
// by WithMaxBytes, whose eviction the tier tells of its hits now and then
// (store.Namespace.NoteUse): 64 keys in turn, so that every hit takes the
// tier's slow path, where the hits are counted for those notes.
func BenchmarkMemoryHitStored(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(filepath.Join(b.TempDir(), "b.db"), store.WithMaxBytes(1<<20), store.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f, err := memo.New(s, "int", func(_ context.Context, x int) (int, error) { return x, nil })
	if err != nil {
		b.Fatal(err)
	}
	for k := range 64 {
		f.Call(ctx, k)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Call(ctx, i&63)
		i++
	}
}
