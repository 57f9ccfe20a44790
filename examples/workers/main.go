// Command workers runs a pool of processes on one store file, each calling
// the same slow function on the same keys, and shows that every key is
// computed once across them all.
//
// The program starts -n copies of itself (workers). The first to open the
// file holds it, the others follow it over its control socket; each calls
// the memoized function on every one of -keys keys, in an order of its
// own. A call that misses in every tier claims its key at the holder, so
// a worker that asks for a key another worker is computing waits for that
// result instead of computing it again. Each worker reports how many
// times it ran the function; the sum is the number of keys, or the
// program exits with status 1.
//
//	go run ./examples/workers
//	go run ./examples/workers -n 8 -keys 100 -db workers.db
//
// The file is in a temporary directory unless -db names one; its
// namespace is cleared before the workers start, so every run computes
// everything afresh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// workerEnv tells a process started by this program that it is worker
// number $workerEnv.
const workerEnv = "MEMOSTORE_WORKER"

// name is the namespace of the slow function.
const name = "slow"

func main() {
	n := flag.Int("n", 4, "number of worker processes")
	keys := flag.Int("keys", 40, "number of distinct keys every worker calls")
	cost := flag.Duration("cost", 20*time.Millisecond, "time one computation takes")
	path := flag.String("db", "", "store file (default: one in a temporary directory)")
	flag.Parse()
	log.SetFlags(0)

	if id := os.Getenv(workerEnv); id != "" {
		log.SetPrefix("worker " + id + ": ")
		if err := work(id, *path, *keys, *cost); err != nil {
			log.Fatal(err)
		}
		return
	}

	var tmp string
	if *path == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "memostore-workers-"); err != nil {
			log.Fatal(err)
		}
		*path = filepath.Join(tmp, "workers.db")
	}
	ok, err := run(*path, *n, *keys, *cost)
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		os.Exit(1)
	}
}

// run clears the namespace, runs n workers on path and prints what each
// computed. It reports whether the total is the number of keys.
func run(path string, n, keys int, cost time.Duration) (bool, error) {
	if err := clearNamespace(path); err != nil {
		return false, err
	}
	fmt.Printf("%d workers, %d keys of %v each, on %s\n", n, keys, cost, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	reports, err := startWorkers(ctx, path, n, keys, cost)
	if err != nil {
		return false, err
	}
	total := 0
	for _, r := range reports {
		fmt.Printf("worker %d  pid %-7d %-22s computed %2d of %d keys\n", r.id, r.pid, r.role, r.computed, keys)
		total += r.computed
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	if total != keys {
		fmt.Printf("total: %d computations for %d keys in %v, not one per key\n", total, keys, elapsed)
		return false, nil
	}
	fmt.Printf("total: %d computations for %d keys in %v (one process alone: %v)\n", total, keys, elapsed, time.Duration(keys)*cost)
	return true, nil
}

// clearNamespace empties the namespace in the file at path, so that
// every run computes everything.
func clearNamespace(path string) error {
	s, err := store.Open(path)
	if err != nil {
		return err
	}
	f, err := memo.New(s, name, square(0)) // creates the namespace if it is new
	if err == nil {
		err = f.Clear(context.Background())
	}
	if err != nil {
		s.Close()
		return err
	}
	return s.Close()
}
