package memo_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/memostore/memostore/memo"
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
