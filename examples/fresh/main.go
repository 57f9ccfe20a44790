// Command fresh shows refresh-ahead and stale-while-revalidate on a slow
// source: after the first call, which waits for the source, every call is
// answered at once, and the value is brought up to date in the background.
//
//	go run ./examples/fresh
package main

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func main() {
	log.SetFlags(0)
	s, err := store.Open("fresh.db")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // also stops the background refreshes
	ctx := context.Background()

	var fetches atomic.Int64
	// A slow source: 200 ms a call, whose answer changes with every fetch.
	price, err := memo.New(s, "price", func(ctx context.Context, sku string) (string, error) {
		n := fetches.Add(1)
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return fmt.Sprintf("%s: price #%d", sku, n), nil
	},
		memo.TTL(time.Second),                    // fresh for a second
		memo.RefreshAfter(500*time.Millisecond),  // refreshed in the background after half of it
		memo.StaleWhileRevalidate(2*time.Second), // and served stale for up to 2 s after it
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := price.Clear(ctx); err != nil { // start afresh on every run
		log.Fatal(err)
	}

	for i, wait := range []time.Duration{0, 100, 500, 100, 100, 1600, 100, 300} {
		time.Sleep(wait * time.Millisecond)
		start := time.Now()
		v, err := price.Call(ctx, "apple")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("call %d after %4d ms: %-20s in %6.1f ms\n", i+1, wait, v, float64(time.Since(start).Microseconds())/1000)
	}
	i := price.Info()
	fmt.Printf("fetches=%d refreshes=%d stale=%d hits=%d misses=%d\n",
		fetches.Load(), i.Refreshes, i.StaleReturns, i.Hits, i.Misses)
}
