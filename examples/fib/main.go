// Command fib is the classic memoization demo: the naive recursive
// Fibonacci function against the memoized one, and lru_cache's cache_info()
// for fib(30) with a memory tier of 32 entries.
//
// Results are kept in a store file (fib.db by default), so a second run is
// served from the file: run it twice. Built with -tags redis (see
// redis.go), it takes a Redis URL instead of a file, to share the results
// between processes and machines:
//
//	go run ./examples/fib
//	go run -tags redis ./examples/fib -db redis://127.0.0.1:6379/0
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func naive(n int) int {
	if n < 2 {
		return n
	}
	return naive(n-1) + naive(n-2)
}

// memoFib memoizes the same recursion under the namespace name.
func memoFib(s *store.Store, name string, opts ...memo.Option) (*memo.Func[int, int], error) {
	var fib *memo.Func[int, int]
	fib, err := memo.New(s, name, func(ctx context.Context, n int) (int, error) {
		if n < 2 {
			return n, nil
		}
		a, err := fib.Call(ctx, n-1)
		if err != nil {
			return 0, err
		}
		b, err := fib.Call(ctx, n-2)
		return a + b, err
	}, opts...)
	return fib, err
}

func main() {
	path := flag.String("db", "fib.db", "store: a file, or a redis:// URL")
	n := flag.Int("n", 36, "which Fibonacci number to time")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	start := time.Now()
	want := naive(*n)
	naiveTime := time.Since(start)
	fmt.Printf("naive     fib(%d) = %d in %v\n", *n, want, naiveTime.Round(time.Microsecond))

	s, err := store.Open(*path)
	if err != nil {
		log.Fatal(err)
	}
	fib, err := memoFib(s, "fib")
	if err != nil {
		log.Fatal(err)
	}
	start = time.Now()
	got, err := fib.Call(ctx, *n)
	if err != nil {
		log.Fatal(err)
	}
	memoTime := time.Since(start)
	fmt.Printf("memoized  fib(%d) = %d in %v (%.0fx faster)\n", *n, got, memoTime.Round(time.Microsecond),
		float64(naiveTime)/float64(memoTime))
	fmt.Printf("          %v\n", fib.Info())

	// lru_cache(maxsize=32) on fib(30): hits=28 misses=31 currsize=31 on a
	// fresh store; one disk hit when the file already has the answer.
	lru, err := memoFib(s, "fib-maxsize32", memo.MaxSize(32))
	if err != nil {
		log.Fatal(err)
	}
	v, err := lru.Call(ctx, 30)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("MaxSize(32) fib(30) = %d  %v\n", v, lru.Info())

	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	if fib.Info().DiskHits > 0 {
		fmt.Printf("served from %s, computed by an earlier run\n", s.Path())
	} else {
		fmt.Printf("results saved in %s: run me again to see them served from the store\n", s.Path())
	}
}
