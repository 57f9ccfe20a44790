// Package boltstore is memostore's default backend: a store kept in one
// bbolt file. Package store opens it for every location that is a path;
// programs use it through store.Open and need not import it.
//
// A Store writes behind: Namespace.Put queues a record and returns; one
// writer goroutine commits queued records in group transactions (every
// ~10 ms or 1,000 entries, at once when a caller waits). Queued records
// are visible to every later lookup before and after their commit, Flush
// and Close wait for them, and a full queue makes writers wait rather
// than drop. SyncWrites makes every write durable before it returns.
//
// Expired entries are removed by a background sweeper (SweepInterval) or
// on demand (Sweep), in bounded batches, through an ordered index: the
// cost is proportional to the entries removed, not to the entries stored.
// MaxBytes bounds the stored bytes, evicting by use (evict.go): the cost
// is proportional to the entries evicted and the hits since.
//
// Counters (entries, bytes, hits, misses, ...) are kept in the file and
// updated in the transactions that change the data: Stats never scans.
//
// The process that holds the file serves its control endpoint (package
// internal/control), through which the other processes of its user use
// the file (see Shared, and serve.go for the holder's side: sessions,
// claims, invalidations) and memoctl inspects and clears it.
//
// # Caveats
//
//   - A Store holds an exclusive lock on its file (see LockPath): a second
//     Open of a Store, in this process or another, waits LockTimeout and
//     then fails with ErrLocked; OpenShared follows the holder instead.
//     Read-only Stores share the file with each other but not with a
//     writer.
//   - bbolt's byte slices are valid only inside their transaction: a
//     DecodeFunc must copy or decode its payload before it returns.
package boltstore

import "github.com/memostore/memostore/store/driver"

// The capabilities a file has, checked by the compiler.
var (
	_ driver.Store     = (*Store)(nil)
	_ driver.Namespace = (*Namespace)(nil)
	_ driver.UseNoter  = (*Namespace)(nil)
	_ driver.Inspector = (*Store)(nil)
	_ driver.KeyLister = (*Store)(nil)
	_ driver.Checker   = (*Store)(nil)
)
