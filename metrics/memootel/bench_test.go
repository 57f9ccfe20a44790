package memootel_test

import (
	"context"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/memostore/memostore/memo"
)

// BenchmarkMemoryHit times a memory-tier hit (Func.Call on one hot key of
// a file store) without instruments, with them registered, and with them
// registered and collected every millisecond by another goroutine. The
// callback reads counters the store keeps anyway: the three should not
// differ.
func BenchmarkMemoryHit(b *testing.B) {
	for _, c := range []struct {
		name                 string
		register, collecting bool
	}{
		{"instruments=none", false, false},
		{"instruments=registered", true, false},
		{"instruments=collected", true, true},
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
				r, _ := register(b, s)
				if c.collecting {
					stop := collectEvery(b, r, time.Millisecond)
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

// collectEvery collects r every d in a goroutine until stop is called.
func collectEvery(tb testing.TB, r sdkmetric.Reader, d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		var rm metricdata.ResourceMetrics
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := r.Collect(context.Background(), &rm); err != nil {
					tb.Error(err)
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
