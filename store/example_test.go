package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/memostore/memostore/store"
)

// exampleDir makes a directory for an example's store file; the caller
// removes it.
func exampleDir() string {
	dir, err := os.MkdirTemp("", "memostore-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

func ExampleOpen() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "cache.db"), store.WithSweepInterval(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	st := s.Stats()
	fmt.Println("format:", st.FormatVersion)
	fmt.Println("entries:", st.Entries)
	fmt.Println("namespaces:", len(st.Namespaces))
	// Output:
	// format: 1
	// entries: 0
	// namespaces: 0
}

// A second Open of a file that a Store holds waits for the lock timeout,
// then fails with ErrLocked.
func ExampleOpen_locked() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.db")

	s, err := store.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	_, err = store.Open(path, store.WithExclusive(), store.WithLockTimeout(100*time.Millisecond))
	fmt.Println("locked:", errors.Is(err, store.ErrLocked))
	// Output:
	// locked: true
}

// Every process that opens a file uses it at once: the first holds it,
// the others follow it through its control socket (here the two are in
// one process, which works the same way).
func ExampleStore_Role() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.db")

	holder, err := store.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer holder.Close()
	follower, err := store.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer follower.Close()
	fmt.Println(holder.Role(), follower.Role())
	// Output:
	// holder follower
}

// A file that is not a store gives ErrCorrupt and is left as it was.
func ExampleOpen_corrupt() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(path, []byte("not a store"), 0o600); err != nil {
		log.Fatal(err)
	}

	_, err := store.Open(path)
	fmt.Println("corrupt:", errors.Is(err, store.ErrCorrupt))
	b, _ := os.ReadFile(path)
	fmt.Printf("file: %q\n", b)
	// Output:
	// corrupt: true
	// file: "not a store"
}

// A store can be read while no process writes it, for instance to report
// its counters.
func ExampleOpen_readOnly() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.db")

	s, err := store.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	ro, err := store.Open(path, store.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	fmt.Println("entries:", ro.Stats().Entries)
	_, err = ro.Sweep(context.Background())
	fmt.Println("sweep refused:", err != nil)
	// Output:
	// entries: 0
	// sweep refused: true
}

func ExampleStore_Sweep() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	// No background sweeper: expired entries go when Sweep is called.
	s, err := store.Open(filepath.Join(dir, "cache.db"), store.WithSweepInterval(0))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	n, err := s.Sweep(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("swept:", n)
	// Output:
	// swept: 0
}

func ExampleStore_Clear() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	fmt.Println("clear all:", s.Clear(ctx, ""))
	fmt.Println("clear unknown fails:", s.Clear(ctx, "fib") != nil)
	// Output:
	// clear all: <nil>
	// clear unknown fails: true
}

func ExampleStore_Close() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("close:", s.Close())
	fmt.Println("close again:", s.Close())
	fmt.Println("flush after close:", errors.Is(s.Flush(context.Background()), store.ErrClosed))
	// Output:
	// close: <nil>
	// close again: <nil>
	// flush after close: true
}
