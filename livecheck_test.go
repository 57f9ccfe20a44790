package memostore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// BenchmarkLiveCheckStall measures what a live memoctl check costs the
// holder's callers: the slowest Call of goroutines computing and storing
// new values (every Call a miss and a write), first for a while with no
// check, then for as long again with checks run one after the other
// through the control endpoint, as memoctl check does. It reports the
// worst and the 99.9th percentile Call in each phase, and the check's own
// time. It asserts only that every check finds no problem.
//
//	go test -run '^$' -bench LiveCheckStall -benchtime 1x .
func BenchmarkLiveCheckStall(b *testing.B) {
	const (
		prefill = 200_000
		phase   = 3 * time.Second
	)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "cache.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := strings.Repeat("v", 200)
	f, err := memo.New(s, "load", func(_ context.Context, k int) (string, error) {
		return value, nil
	}, memo.MaxSize(1000))
	if err != nil {
		b.Fatal(err)
	}
	for k := range prefill {
		f.Call(ctx, -1-k)
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}

	var next atomic.Int64
	load := func(d time.Duration) []time.Duration {
		var mu sync.Mutex
		var all []time.Duration
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) {
					t0 := time.Now()
					f.Call(ctx, int(next.Add(1)))
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(all)
		return all
	}
	report := func(name string, lat []time.Duration) {
		b.ReportMetric(float64(lat[len(lat)-1])/1e6, "worst-ms/"+name)
		b.ReportMetric(float64(lat[len(lat)*999/1000])/1e6, "p999-ms/"+name)
		b.ReportMetric(float64(len(lat)), "calls/"+name)
	}
	for b.Loop() {
		report("nocheck", load(phase))

		c, err := control.Dial(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		checks := make(chan error, 1)
		var took []time.Duration
		go func() {
			defer c.Close()
			for {
				select {
				case <-stop:
					checks <- nil
					return
				default:
				}
				t0 := time.Now()
				rep, err := c.Check(ctx)
				if err == nil && !rep.OK() {
					err = fmt.Errorf("%d problems: %s", len(rep.Problems), rep.Problems[0])
				}
				if err != nil {
					checks <- err
					return
				}
				took = append(took, time.Since(t0))
			}
		}()
		lat := load(phase)
		close(stop)
		if err := <-checks; err != nil {
			b.Fatalf("live check: %v", err)
		}
		report("checking", lat)
		slices.Sort(took)
		b.ReportMetric(float64(len(took)), "checks")
		if len(took) > 0 {
			b.ReportMetric(float64(took[len(took)/2])/1e6, "check-ms")
		}
	}
}
