package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/store/redisstore"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// BenchmarkRedis times the Redis tier on loopback, beside the file's
// numbers (BenchmarkDiskHit, BenchmarkMissStore), against the floors, what
// a program using go-redis directly must do for the same work:
//
//	op=hit   Func.Call with the memory tier off (MaxSize(0)) on 10,000
//	         stored entries in a shuffled order: one GET and a decode.
//	         Floor: GET of the same key and msgpack decode of the payload.
//	op=miss  Func.Call on new keys with a trivial fn: the lookup (GET),
//	         the computation lock taken with a second read of the key
//	         (SET NX PX + GET, pipelined), and the write (SET PX + HINCRBY
//	         + the lock's release, pipelined): three round trips. Floor:
//	         one SET of the same record, what a cache without counters or
//	         stampede protection costs.
//
// The server is the one MEMOSTORE_TEST_REDIS names (bench/run.sh and
// .ci/run start one); call-p50-ns ... call-max-ns are single calls'
// latencies.
func BenchmarkRedis(b *testing.B) {
	missRuns := 0
	url := redistest.URL(b)
	ctx := context.Background()
	n := smallEntries
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	prefix := redistest.Prefix(b, url)
	s, err := store.Open(url, redisstore.WithPrefix(prefix), warnings)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	f := mustFunc(b, s, "hit", bigFn, memo.MaxSize(0))
	for k := range n {
		if _, err := f.Call(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("op=hit/impl=memostore", func(b *testing.B) {
		b.ReportAllocs()
		before := f.Info().DiskHits
		lat := make([]time.Duration, 0, 1<<16)
		i := 0
		for b.Loop() {
			t0 := time.Now()
			f.Call(ctx, order[i%n])
			if len(lat) < cap(lat) {
				lat = append(lat, time.Since(t0))
			}
			i++
		}
		if got := f.Info().DiskHits - before; got != int64(i) {
			b.Fatalf("%d store hits in %d calls", got, i)
		}
		reportLatencies(b, "call", lat)
	})

	rdb := redistest.Client(b, url)
	floor := prefix + ":floor:"
	for k := range n {
		rec, err := vals[Result]().Encode(NewResult(k), codec.AppendInt(nil, int64(k)), codec.Meta{StoredAt: time.Now().UnixNano()})
		if err != nil {
			b.Fatal(err)
		}
		if err := rdb.Set(ctx, floor+string(codec.AppendInt(nil, int64(k))), rec, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("op=hit/impl=go-redis-floor", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := order[i%n]
			rec, err := rdb.Get(ctx, floor+string(codec.AppendInt(nil, int64(k)))).Bytes()
			var r Result
			if err == nil {
				err = msgpack.Unmarshal(rec[codec.HeaderSize:], &r)
			}
			if err != nil || r.ID != k {
				b.Fatal(r, err)
			}
			i++
		}
	})

	b.Run("op=miss/impl=memostore", func(b *testing.B) {
		missRuns++ // each run claims a namespace of its own
		m := mustFunc(b, s, fmt.Sprintf("miss-%d", missRuns), bigFn)
		lat := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if _, err := m.Call(ctx, missBase+i); err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(t0)
		}
		b.StopTimer()
		if i := m.Info(); i.Misses != int64(b.N) {
			b.Fatalf("%d calls on new keys: %+v", b.N, i)
		}
		reportLatencies(b, "call", lat)
	})
	b.Run("op=miss/impl=go-redis-set-floor", func(b *testing.B) {
		rec, err := vals[Result]().Encode(NewResult(1), codec.AppendInt(nil, 1), codec.Meta{StoredAt: time.Now().UnixNano()})
		if err != nil {
			b.Fatal(err)
		}
		missRuns++
		key := fmt.Sprintf("%smiss-%d:", floor, missRuns)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := rdb.Set(ctx, key+string(codec.AppendInt(nil, int64(missBase+i))), rec, 0).Err(); err != nil && err != redis.Nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisParallelMiss measures throughput, not latency: 16
// goroutines call Func.Call on new keys with a trivial fn (a miss and a
// store each: the lookup, the lock with a second read, the write), on one
// server (servers=1) and on a Redis Cluster of three masters without
// replicas (servers=3-cluster, MEMOSTORE_TEST_REDIS_CLUSTER). calls/s is
// b.N over the wall time. On one machine the servers share its cores with
// the client: the cluster spreads the servers' work over three processes,
// while each call's pipelines reach up to three nodes instead of one.
func BenchmarkRedisParallelMiss(b *testing.B) {
	for _, v := range []struct {
		name string
		url  func(testing.TB) string
	}{{"servers=1", redistest.URL}, {"servers=3-cluster", redistest.ClusterURL}} {
		b.Run(v.name, func(b *testing.B) {
			url := v.url(b)
			s, err := store.Open(url, redisstore.WithPrefix(redistest.Prefix(b, url)), warnings)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			const workers = 16
			f := mustFunc(b, s, "parallel-miss", bigFn, memo.MaxSize(0))
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := f.Call(ctx, missBase+int(i)); err != nil {
							failed.CompareAndSwap(nil, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			if i := f.Info(); i.Misses != int64(b.N) {
				b.Fatalf("%d calls on new keys: %+v", b.N, i)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
		})
	}
}
