package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/maypok86/otter/v2"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// BenchmarkMemoryHit times a memory-tier hit on one hot key, int and
// string, from one goroutine: Func.Call against the lookups of the
// in-memory caches that a Go programmer would otherwise reach for.
//
//	memostore          Func.Call, default MaxSize(128), on a store (counters kept for memoctl)
//	memostore-ttl      the same with memo.TTL(time.Hour): the clock is read on every hit
//	memostore-nostore  memo.New(nil, ...): memory only, as functools.lru_cache
//	map-rwmutex        a map behind a sync.RWMutex (RLock on a hit)
//	golang-lru         hashicorp/golang-lru/v2 Cache.Get, size 128
//	golang-lru-ttl     golang-lru/v2 expirable.LRU.Get, TTL one hour
//	otter              otter/v2 Cache.Get with a loader (the loading call, as Call is)
//	otter-ifpresent    otter/v2 Cache.GetIfPresent (a plain lookup)
//	otter-ttl          otter/v2 Cache.Get with expiry one hour after writing
//
// Each loop calls its cache directly, so no indirection is measured that
// a user's code would not pay.
func BenchmarkMemoryHit(b *testing.B) {
	b.Run("key=int", func(b *testing.B) { memoryHits(b, 42, false) })
	b.Run("key=string", func(b *testing.B) { memoryHits(b, "user:42", false) })
}

// BenchmarkMemoryHitParallel is BenchmarkMemoryHit from GOMAXPROCS
// goroutines at once (b.RunParallel), all on the same hot key: the
// contended case, where a cache's lock or counters are shared.
func BenchmarkMemoryHitParallel(b *testing.B) {
	b.Run("key=int", func(b *testing.B) { memoryHits(b, 42, true) })
	b.Run("key=string", func(b *testing.B) { memoryHits(b, "user:42", true) })
}

func one[K comparable](context.Context, K) (int, error) { return 1, nil }

func mustFunc[K comparable, V any](tb testing.TB, s *store.Store, name string, fn func(context.Context, K) (V, error), opts ...memo.Option) *memo.Func[K, V] {
	tb.Helper()
	f, err := memo.New(s, name, fn, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func memoryHits[K comparable](b *testing.B, hot K, parallel bool) {
	ctx := context.Background()
	s := openStore(b)
	for _, c := range []struct {
		name string
		f    *memo.Func[K, int]
	}{
		{"memostore", mustFunc(b, s, "hot", one[K])},
		{"memostore-ttl", mustFunc(b, s, "hot-ttl", one[K], memo.TTL(time.Hour))},
		{"memostore-nostore", mustFunc(b, nil, "hot", one[K])},
	} {
		f := c.f
		if _, err := f.Call(ctx, hot); err != nil {
			b.Fatal(err)
		}
		b.Run("impl="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					var v int
					for pb.Next() {
						v, _ = f.Call(ctx, hot)
					}
					keep(v)
				})
			} else {
				for b.Loop() {
					f.Call(ctx, hot)
				}
			}
			if i := f.Info(); i.Misses != 1 {
				b.Fatalf("%s: %+v: the hot key missed", c.name, i)
			}
		})
	}

	var mu sync.RWMutex
	m := map[K]int{hot: 1}
	b.Run("impl=map-rwmutex", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					mu.RLock()
					v = m[hot]
					mu.RUnlock()
				}
				keep(v)
			})
			return
		}
		var v int
		for b.Loop() {
			mu.RLock()
			v = m[hot]
			mu.RUnlock()
		}
		keep(v)
	})

	l, err := lru.New[K, int](memo.DefaultMaxSize)
	if err != nil {
		b.Fatal(err)
	}
	l.Add(hot, 1)
	b.Run("impl=golang-lru", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					v, _ = l.Get(hot)
				}
				keep(v)
			})
			return
		}
		for b.Loop() {
			l.Get(hot)
		}
	})

	le := expirable.NewLRU[K, int](memo.DefaultMaxSize, nil, time.Hour)
	b.Cleanup(func() { le.Purge() })
	le.Add(hot, 1)
	b.Run("impl=golang-lru-ttl", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					v, _ = le.Get(hot)
				}
				keep(v)
			})
			return
		}
		for b.Loop() {
			le.Get(hot)
		}
	})

	o := otter.Must(&otter.Options[K, int]{MaximumSize: memo.DefaultMaxSize})
	o.Set(hot, 1)
	loader := otter.LoaderFunc[K, int](one[K])
	b.Run("impl=otter", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					v, _ = o.Get(ctx, hot, loader)
				}
				keep(v)
			})
			return
		}
		for b.Loop() {
			o.Get(ctx, hot, loader)
		}
	})
	b.Run("impl=otter-ifpresent", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					v, _ = o.GetIfPresent(hot)
				}
				keep(v)
			})
			return
		}
		for b.Loop() {
			o.GetIfPresent(hot)
		}
	})

	ot := otter.Must(&otter.Options[K, int]{
		MaximumSize:      memo.DefaultMaxSize,
		ExpiryCalculator: otter.ExpiryWriting[K, int](time.Hour),
	})
	b.Cleanup(func() { ot.StopAllGoroutines() })
	ot.Set(hot, 1)
	b.Run("impl=otter-ttl", func(b *testing.B) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				var v int
				for pb.Next() {
					v, _ = ot.Get(ctx, hot, loader)
				}
				keep(v)
			})
			return
		}
		for b.Loop() {
			ot.Get(ctx, hot, loader)
		}
	})
}
