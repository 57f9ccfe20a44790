package bench

import (
	"context"
	"sync"
	"testing"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/memostore/memostore/memo"
)

// hitSet is the size of BenchmarkMemoryHitSet's working set: resident in
// a memory tier of the default size, and large enough that consecutive
// calls are never for the same key.
const hitSet = 64

// BenchmarkMemoryHitSet is BenchmarkMemoryHit on a working set of 64 int
// keys, all resident, called in turn (from one goroutine, and from
// GOMAXPROCS goroutines with mode=parallel), so that no call is for the
// key of the call before: it keeps a cache from being measured only on a
// fast path for the most recent key. It is reported beside the targets,
// which the issue sets on one hot key.
func BenchmarkMemoryHitSet(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("mode="+mode, func(b *testing.B) { memoryHitSet(b, mode == "parallel") })
	}
}

func memoryHitSet(b *testing.B, parallel bool) {
	ctx := context.Background()
	s := openStore(b)
	f := mustFunc(b, s, "set", one[int])
	var mu sync.RWMutex
	m := map[int]int{}
	l, err := lru.New[int, int](memo.DefaultMaxSize)
	if err != nil {
		b.Fatal(err)
	}
	o := otter.Must(&otter.Options[int, int]{MaximumSize: memo.DefaultMaxSize})
	loader := otter.LoaderFunc[int, int](one[int])
	for k := range hitSet {
		if _, err := f.Call(ctx, k); err != nil {
			b.Fatal(err)
		}
		m[k] = 1
		l.Add(k, 1)
		o.Set(k, 1)
	}

	// loop runs get over the working set, in turn, from one goroutine or
	// from each of RunParallel's, each starting at its own offset.
	loop := func(b *testing.B, get func(k int) int) {
		b.ReportAllocs()
		if parallel {
			var next sync.Mutex
			start := 0
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				i := start
				start += hitSet / 4
				next.Unlock()
				v := 0
				for pb.Next() {
					v += get(i % hitSet)
					i++
				}
				keep(v)
			})
			return
		}
		i := 0
		for b.Loop() {
			get(i % hitSet)
			i++
		}
	}
	// The closures cost every cache the same indirect call (about 1 ns).
	b.Run("impl=memostore", func(b *testing.B) {
		loop(b, func(k int) int { v, _ := f.Call(ctx, k); return v })
		if i := f.Info(); i.Misses != hitSet {
			b.Fatalf("%+v: the working set missed", i)
		}
	})
	b.Run("impl=map-rwmutex", func(b *testing.B) {
		loop(b, func(k int) int { mu.RLock(); v := m[k]; mu.RUnlock(); return v })
	})
	b.Run("impl=golang-lru", func(b *testing.B) {
		loop(b, func(k int) int { v, _ := l.Get(k); return v })
	})
	b.Run("impl=otter", func(b *testing.B) {
		loop(b, func(k int) int { v, _ := o.Get(ctx, k, loader); return v })
	})
}
