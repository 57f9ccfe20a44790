package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// sweepReaders is how many goroutines call during a sweep: one per core
// of the machine the targets were set on.
const sweepReaders = 2

// BenchmarkSweep times Store.Sweep removing the 100,000 expired entries of
// a store of 1,000,000 (every 10th key; the writes of each transaction
// are spread over the whole file), while sweepReaders goroutines make disk
// hits (MaxSize(0)) on random live keys as fast as they can. ns/op is the
// time of the whole sweep; reader-p50-ns ... reader-max-ns are the
// latencies of the hits made during it, which the sweep's bounded batches
// must keep short; reads/op is how many there were.
//
// Each iteration sweeps a fresh copy of the store, copied and synced
// outside the timed region.
func BenchmarkSweep(b *testing.B) {
	n := bigEntries
	expired := (n + expireEvery - 1) / expireEvery
	base := bigStore(b, n)
	b.Run(fmt.Sprintf("expired=%d/entries=%d", expired, n), func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		dir := b.TempDir()
		var lat []time.Duration
		for b.Loop() {
			b.StopTimer()
			path := filepath.Join(dir, "sweep.db")
			copyStore(b, base, path)
			s, err := store.Open(path, warnings, store.WithSweepInterval(0))
			if err != nil {
				b.Fatal(err)
			}
			f := mustFunc(b, s, bigName, bigFn, memo.MaxSize(0))
			readers := startReaders(f, n)
			b.StartTimer()

			removed, err := s.Sweep(ctx)

			b.StopTimer()
			lat = append(lat, readers.stop()...)
			if err != nil || removed != expired {
				b.Fatalf("Sweep removed %d of %d: %v", removed, expired, err)
			}
			if i := f.Info(); i.Misses != 0 {
				b.Fatalf("readers missed: %+v", i)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportLatencies(b, "reader", lat)
		b.ReportMetric(float64(len(lat))/float64(b.N), "reads/op")
	})
}

// readers calls a Func on random live keys of a big store from
// sweepReaders goroutines, recording each call's latency, until stop.
type readers struct {
	done atomic.Bool
	wg   sync.WaitGroup
	lat  [sweepReaders][]time.Duration
}

func startReaders(f *memo.Func[int, Result], n int) *readers {
	r := &readers{}
	ctx := context.Background()
	for g := range sweepReaders {
		r.lat[g] = make([]time.Duration, 0, 1<<20)
		r.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for !r.done.Load() {
				k := rng.IntN(n)
				if k%expireEvery == 0 {
					k++ // a live key
				}
				if k >= n {
					continue
				}
				t0 := time.Now()
				v, err := f.Call(ctx, k)
				r.lat[g] = append(r.lat[g], time.Since(t0))
				if err != nil || v.ID != k {
					panic(fmt.Sprintf("reader: Call(%d) = %v, %v", k, v, err))
				}
			}
		})
	}
	return r
}

func (r *readers) stop() []time.Duration {
	r.done.Store(true)
	r.wg.Wait()
	var all []time.Duration
	for _, l := range r.lat {
		all = append(all, l...)
	}
	return all
}
