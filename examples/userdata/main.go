// Command userdata is the bounded-memory demo: get_user_data(user_id)
// builds a ~1 KB user record, and is called for n distinct ids. With an
// unbounded memory tier the heap grows with every call; with MaxSize(1000)
// it stays flat after the first 1,000 calls, while the disk tier keeps
// results within WithMaxBytes. Heap in use is printed every -every calls,
// as the Python original prints tracemalloc's figures: first after a
// Flush, so that records in transit to the file are not counted, then as
// the program holds it between commits, before that Flush, records in
// transit included (at most the write queue's budget,
// store.DefaultQueueBytes, plus the commit under way).
//
//	go run ./examples/userdata                 # MaxSize(1000)
//	go run ./examples/userdata -maxsize -1     # unbounded, as functools.cache
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// User is the record get_user_data returns.
type User struct {
	UserID           int
	Name             string
	Email            string
	Age              int
	SelfIntroduction string
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func getUserData(_ context.Context, id int) (User, error) {
	var b strings.Builder
	b.Grow(1000)
	for range 1000 {
		b.WriteByte(letters[rand.IntN(len(letters))])
	}
	return User{
		UserID:           id,
		Name:             fmt.Sprintf("User %d", id),
		Email:            fmt.Sprintf("user%d@example.com", id),
		Age:              18 + rand.IntN(43),
		SelfIntroduction: b.String(),
	}, nil
}

// heapMiB returns the heap in use after two garbage collections: the
// second empties the sync.Pools (bbolt keeps a pool of page buffers), which
// hold memory that is free for reuse, not kept by the cache.
func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func main() {
	path := flag.String("db", "userdata.db", "store file (replaced at start)")
	n := flag.Int("n", 1_000_000, "calls, one per distinct user id")
	maxSize := flag.Int("maxsize", 1000, "memory tier bound; -1 = unbounded")
	maxBytes := flag.Int64("maxbytes", 64<<20, "disk tier bound in bytes")
	every := flag.Int("every", 100_000, "print heap use every this many calls")
	flag.Parse()
	log.SetFlags(0)

	for _, p := range []string{*path} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
	}
	s, err := store.Open(*path, store.WithMaxBytes(*maxBytes))
	if err != nil {
		log.Fatal(err)
	}
	users, err := memo.New(s, "get_user_data", getUserData, memo.MaxSize(*maxSize))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	fmt.Printf("MaxSize(%d), WithMaxBytes(%d MiB), %d calls\n", *maxSize, *maxBytes>>20, *n)
	start := time.Now()
	for i := range *n {
		if _, err := users.Call(ctx, i); err != nil {
			log.Fatal(err)
		}
		if (i+1)%*every == 0 || i+1 == 1000 {
			inTransit := heapMiB()
			// Measure at rest: with the write-behind queue drained, the
			// heap holds what the cache keeps, not records in transit.
			if err := s.Flush(ctx); err != nil {
				log.Fatal(err)
			}
			st := s.Stats()
			fmt.Printf("calls %8d: heap %5.1f MiB (%5.1f before Flush)  memory tier %7d entries  disk %6.1f MiB in %7d entries\n",
				i+1, heapMiB(), inTransit, users.Info().CurrSize, float64(st.Bytes)/(1<<20), st.Entries)
		}
	}
	if err := s.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	st := s.Stats()
	fmt.Printf("done in %v: %v\n", time.Since(start).Round(time.Millisecond), users.Info())
	fmt.Printf("disk tier: %d entries, %.1f MiB of records (bound %d MiB), %d evicted; file %.1f MiB\n",
		st.Entries, float64(st.Bytes)/(1<<20), *maxBytes>>20, st.Namespaces[0].Evictions, float64(st.FileSize)/(1<<20))
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
}
