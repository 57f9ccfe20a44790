package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// BenchmarkFollowerHit times a call served from the file by a follower:
// another process holds the store file (startHolder), with 10,000 int keys
// to Result values stored; this one opens it as a follower, and
// Func.Call, with the memory tier off (MaxSize(0)), sends every call over
// the holder's control socket, where it is a lookup in the file. The keys
// are visited in a shuffled order.
//
//	memostore          the follower's Func.Call, in this process
//	unix-socket-floor  the floor: a round trip of 64 bytes between this
//	                   process and the holder over a Unix socket (the
//	                   holder's goroutine reads them and writes them back)
//	diskcache          python-diskcache's Cache.memoize() in a python
//	                   process, on a cache directory another python
//	                   process filled
//
// ns/op is the wall time of the calls over b.N; call-mean-ns and
// call-p50-ns ... call-max-ns are single calls' latencies, each timed
// where it is made (time.Now in Go, time.perf_counter_ns in python).
func BenchmarkFollowerHit(b *testing.B) {
	n := smallEntries
	path := filepath.Join(b.TempDir(), "shared.db")
	startHolder(b, path, n)
	s := openFollower(b, path)
	f := mustFunc(b, s, holderName, bigFn, memo.MaxSize(0))
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	b.Run("impl=memostore", func(b *testing.B) {
		ctx := context.Background()
		before := f.Info()
		lat := make([]time.Duration, 0, 1<<17)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			t0 := time.Now()
			r, err := f.Call(ctx, order[i%n])
			d := time.Since(t0)
			if err != nil || r.ID != order[i%n] {
				b.Fatal(r, err)
			}
			if len(lat) < cap(lat) {
				lat = append(lat, d)
			}
			i++
		}
		after := f.Info()
		if got := after.DiskHits - before.DiskHits; got != int64(i) || after.Misses != before.Misses {
			b.Fatalf("%d calls: %d store hits, %d misses", i, got, after.Misses-before.Misses)
		}
		reportMean(b, lat)
		reportLatencies(b, "call", lat)
	})

	b.Run("impl=unix-socket-floor", func(b *testing.B) { echoRoundTrips(b, path+echoSuffix) })

	dir := b.TempDir()
	diskcacheFill(b, dir, n)
	b.Run("impl=diskcache", func(b *testing.B) { diskcacheRun(b, "hit", dir, n) })
}

// BenchmarkFollowerMissStore times a follower's calls on new keys with a
// trivial fn (it returns NewResult(k)), sustained: each call asks the
// holder for the key (a lookup that claims it, so that no other process
// computes it meanwhile), runs fn, and sends the result to the holder,
// which writes it behind; the loop ends with Flush, so every result is
// committed (fsynced) by the holder inside the timed region. The holder
// is another process, as in BenchmarkFollowerHit.
//
//	memostore           Func.Call with the default memory tier (MaxSize(128))
//	memostore-nomemory  the same with the memory tier off (MaxSize(0))
//	diskcache           python-diskcache's Cache.memoize() in a python
//	                    process: one SQLite transaction per stored result,
//	                    committed in WAL mode without fsync (its default)
//
// call-mean-ns and call-p50-ns ... call-max-ns are single calls'
// latencies, as in BenchmarkFollowerHit.
func BenchmarkFollowerMissStore(b *testing.B) {
	path := filepath.Join(b.TempDir(), "shared.db")
	startHolder(b, path, 0)
	s := openFollower(b, path)
	runs := 0
	for _, c := range []struct {
		impl string
		opts []memo.Option
	}{
		{"memostore", nil},
		{"memostore-nomemory", []memo.Option{memo.MaxSize(0)}},
	} {
		b.Run("impl="+c.impl, func(b *testing.B) {
			runs++ // each run stores into a namespace of its own
			followerMisses(b, s, fmt.Sprintf("miss-%d", runs), c.opts...)
		})
	}
	b.Run("impl=diskcache", func(b *testing.B) { diskcacheRun(b, "miss", b.TempDir(), missBase) })
}

// followerMisses runs b.N calls on new keys in the namespace name of the
// follower s, then Flush. It is a b.N loop, not b.Loop, because the Flush
// that ends it must be timed.
func followerMisses(b *testing.B, s *store.Store, name string, opts ...memo.Option) {
	ctx := context.Background()
	f := mustFunc(b, s, name, bigFn, opts...)
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := f.Call(ctx, missBase+i); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if i := f.Info(); i.Misses != int64(b.N) {
		b.Fatalf("%d calls on new keys: %+v", b.N, i)
	}
	st, err := s.StatsContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if i := slices.IndexFunc(st.Namespaces, func(ns store.NamespaceStats) bool { return ns.Name == name }); i < 0 || st.Namespaces[i].Entries != int64(b.N) {
		b.Fatalf("after %d calls and Flush, the holder's stats: %+v", b.N, st.Namespaces)
	}
	reportMean(b, lat)
	reportLatencies(b, "call", lat)
}

// reportMean reports the mean of lat as call-mean-ns.
func reportMean(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum)/float64(len(lat)), "call-mean-ns")
}

// echoRoundTrips times round trips of 64 bytes through the holder's echo
// socket at sock.
func echoRoundTrips(b *testing.B, sock string) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	lat := make([]time.Duration, 0, 1<<17)
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	reportMean(b, lat)
	reportLatencies(b, "call", lat)
}
