package memo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/memostore/memostore/store/redisstore"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// newFib memoizes the naive recursive Fibonacci function in s.
func newFib(s *store.Store, opts ...memo.Option) (*memo.Func[int, int], error) {
	var fib *memo.Func[int, int]
	fib, err := memo.New(s, "fib", func(ctx context.Context, n int) (int, error) {
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

// The classic demo: fib(30) with a memory tier of 32 entries reports what
// Python's lru_cache(maxsize=32) reports.
func Example() {
	dir, err := os.MkdirTemp("", "memo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	fib, err := newFib(s, memo.MaxSize(32))
	if err != nil {
		log.Fatal(err)
	}
	v, err := fib.Call(context.Background(), 30)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	fmt.Println(fib.Info())
	// Output:
	// 832040
	// CacheInfo(hits=28, misses=31, maxsize=32, currsize=31, diskhits=0)
}

// Results outlive the process: after a restart, fib(30) is read from the
// file without running the function.
func Example_restart() {
	dir, err := os.MkdirTemp("", "memo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.db")

	for run := 1; run <= 2; run++ {
		s, err := store.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		fib, err := newFib(s, memo.MaxSize(32))
		if err != nil {
			log.Fatal(err)
		}
		v, _ := fib.Call(context.Background(), 30)
		fmt.Println("run", run, v, fib.Info())
		if err := s.Close(); err != nil { // Close writes what is queued
			log.Fatal(err)
		}
	}
	// Output:
	// run 1 832040 CacheInfo(hits=28, misses=31, maxsize=32, currsize=31, diskhits=0)
	// run 2 832040 CacheInfo(hits=1, misses=0, maxsize=32, currsize=1, diskhits=1)
}

// With a nil store, a Func is a memory-only memoizer, like lru_cache.
func ExampleNew_memoryOnly() {
	square, err := memo.New(nil, "square", func(_ context.Context, x int) (int, error) {
		return x * x, nil
	}, memo.MaxSize(2))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var got []int
	for _, x := range []int{1, 2, 1, 3, 2} {
		v, _ := square.Call(ctx, x)
		got = append(got, v)
	}
	fmt.Println(got)
	fmt.Println(square.Info())
	// Output:
	// [1 4 1 9 4]
	// CacheInfo(hits=1, misses=4, maxsize=2, currsize=2, diskhits=0)
}

// Clear empties both tiers, as lru_cache's cache_clear does.
func ExampleFunc_Clear() {
	double, err := memo.New(nil, "double", func(_ context.Context, x int) (int, error) {
		return 2 * x, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	double.Call(ctx, 1)
	double.Call(ctx, 1)
	fmt.Println(double.Info())
	if err := double.Clear(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(double.Info())
	// Output:
	// CacheInfo(hits=1, misses=1, maxsize=128, currsize=1, diskhits=0)
	// CacheInfo(hits=0, misses=0, maxsize=128, currsize=0, diskhits=0)
}

// TTL gives an LRU with time-based expiration in one option.
func ExampleTTL() {
	calls := 0
	now, err := memo.New(nil, "now", func(_ context.Context, city string) (string, error) {
		calls++
		return fmt.Sprintf("%s reading #%d", city, calls), nil
	}, memo.TTL(50*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	a, _ := now.Call(ctx, "Oslo")
	b, _ := now.Call(ctx, "Oslo") // fresh: from memory
	time.Sleep(60 * time.Millisecond)
	c, _ := now.Call(ctx, "Oslo") // expired: recomputed
	fmt.Println(a)
	fmt.Println(b)
	fmt.Println(c)
	// Output:
	// Oslo reading #1
	// Oslo reading #1
	// Oslo reading #2
}

// Forget drops one key from both tiers.
func ExampleFunc_Forget() {
	runs := 0
	f, err := memo.New(nil, "f", func(_ context.Context, x int) (int, error) {
		runs++
		return x, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	f.Call(ctx, 1)
	f.Forget(ctx, 1)
	f.Call(ctx, 1)
	fmt.Println("runs:", runs)
	// Output:
	// runs: 2
}

// Shared by many processes on many machines: the same Func on a Redis
// store. Each process keeps its memory tier; when several miss on one key
// at once, one computes it and the others wait for its result. (Compiled,
// not run: it needs a server.)
func Example_redis() {
	s, err := store.Open("redis://127.0.0.1:6379/0?prefix=myapp",
		redisstore.WithTimeout(200*time.Millisecond), // bound on each exchange with the server
		redisstore.WithLockTTL(time.Minute))          // above the longest render
	if err != nil {
		log.Fatal(err) // the server did not answer
	}
	defer s.Close()

	render, err := memo.New(s, "render", func(ctx context.Context, page string) (string, error) {
		time.Sleep(time.Second) // something expensive, done once across the fleet
		return "<h1>" + page + "</h1>", nil
	}, memo.TTL(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	html, err := render.Call(context.Background(), "home")
	fmt.Println(html, err)
}

// Set puts a value in the cache as if the function had returned it, Peek
// looks without computing, and Refresh recomputes now.
func ExampleFunc_Set() {
	price := 10
	quote, err := memo.New(nil, "quote", func(_ context.Context, sku string) (int, error) {
		return price, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, ok := quote.Peek(ctx, "apple")
	fmt.Println("cached before:", ok)
	if err := quote.Set(ctx, "apple", 12); err != nil {
		log.Fatal(err)
	}
	v, _ := quote.Call(ctx, "apple")
	fmt.Println("after Set:", v)
	price = 11
	v, _ = quote.Refresh(ctx, "apple")
	fmt.Println("after Refresh:", v)
	v, _ = quote.Peek(ctx, "apple")
	fmt.Println("Peek:", v, quote.Info())
	// Output:
	// cached before: false
	// after Set: 12
	// after Refresh: 11
	// Peek: 11 CacheInfo(hits=1, misses=0, maxsize=128, currsize=1, diskhits=0)
}

// ErrorTTL keeps a failing source from being called on every request.
func ExampleErrorTTL() {
	calls := 0
	lookup, err := memo.New(nil, "lookup", func(context.Context, string) (string, error) {
		calls++
		return "", fmt.Errorf("upstream unavailable")
	}, memo.ErrorTTL(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		_, err = lookup.Call(context.Background(), "x")
	}
	fmt.Println(err, "- fn ran", calls, "time; cached errors:", lookup.Info().CachedErrors)
	// Output:
	// upstream unavailable - fn ran 1 time; cached errors: 2
}
