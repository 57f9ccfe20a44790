package memoprom_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memoprom"
)

// BenchmarkMemoryHit times a memory-tier hit (Func.Call on one hot key of
// a file store) without the collector, with it registered, and with it
// registered and scraped every millisecond by another goroutine. The
// collector reads counters the store keeps anyway: the three should not
// differ.
func BenchmarkMemoryHit(b *testing.B) {
	for _, c := range []struct {
		name               string
		register, scraping bool
	}{
		{"collector=none", false, false},
		{"collector=registered", true, false},
		{"collector=scraped", true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s := openFile(b)
			f, err := memo.New(s, "hit", func(_ context.Context, k int) (int, error) { return k, nil })
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Call(ctx, 42); err != nil {
				b.Fatal(err)
			}
			if c.register {
				reg := prometheus.NewRegistry()
				reg.MustRegister(memoprom.NewCollector(s))
				if c.scraping {
					stop := scrapeEvery(b, reg, time.Millisecond)
					defer stop()
				}
			}
			for b.Loop() {
				if _, err := f.Call(ctx, 42); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// scrapeEvery gathers g every d in a goroutine until stop is called.
func scrapeEvery(tb testing.TB, g prometheus.Gatherer, d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if _, err := g.Gather(); err != nil {
					tb.Error(err)
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
