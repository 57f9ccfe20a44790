// Package store is the persistent tier of memostore: the memoized results
// of many functions, one namespace each, kept in a bbolt file (the
// default) or on a Redis server shared by many processes and machines.
//
// Open picks the backend from the location it is given: a path opens a
// bbolt file (package store/boltstore), a redis://, rediss:// or unix://
// URL opens Redis (package store/redisstore, which a program imports to
// use it). Every method of Store and Namespace works on both; a few
// operator tools (Inspect, Keys, Check, Compact, the control endpoint)
// exist for files only and return ErrUnsupported on Redis. Backends
// implement the interfaces of package store/driver; the conformance suite
// in store/storetest checks them.
//
// # Files
//
// A file Store writes behind: Namespace.Put queues a record and returns;
// one writer goroutine commits queued records in group transactions (every
// ~10 ms or 1,000 entries, at once when a caller waits). Queued records are
// visible to every later lookup before and after their commit, Flush and
// Close wait for them, and a full queue makes writers wait rather than drop.
// WithSyncWrites makes every write durable before it returns.
//
// Expired entries are removed by a background sweeper (WithSweepInterval)
// or on demand (Sweep), in bounded batches, through an ordered index: the
// cost is proportional to the entries removed, not to the entries stored.
// WithMaxBytes bounds the stored bytes the same way, evicting by use
// (W-TinyLFU over the order of storing; see WithMaxBytes).
//
// Counters (entries, bytes, hits, misses, ...) are kept in the file and
// updated in the transactions that change the data: Stats never scans.
//
// # Many processes
//
// Every process of one user that opens a file uses it at once. The first
// holds it (RoleHolder): it opens bbolt and serves the others on its
// control socket, PATH.ctl. The others follow it (RoleFollower): Open
// returns at once, and their namespaces send what their memory tiers miss
// to the holder over one connection each, in a compact protocol (a lookup
// is one round trip, a few microseconds). The holder writes their records
// with its own, in its group commits. When several processes miss on a
// key at once, one computes it and the others wait for its result (see
// Namespace.Acquire). Delete and Clear, in any process or from memoctl,
// empty every process's memory tier of what they delete before they
// return.
//
// When the holder goes (Close, a crash, SIGKILL), a follower takes the
// file over in a few milliseconds and the others follow it; a holder that
// does not answer for a second (stopped with SIGSTOP, say) is left alone
// until it does. Meanwhile calls go on without the store: lookups miss and
// writes are dropped, and both are counted (ReadErrors, WriteErrors). A
// follower empties its memory tiers whenever it loses its holder, as it
// may have missed an invalidation. A takeover loses what the old holder
// had only queued, as a crash does; a follower's writes are acknowledged
// once committed, and its Flush returns an error if any of its writes
// before it was not (see boltstore.Shared). WithExclusive keeps a file to
// one process.
//
// # Redis
//
// A Redis Store (or Valkey: the protocol is the same) keeps each entry in
// its own key, PREFIX:NAMESPACE:VERSION:GEN:d:KEY, holding the same
// checksummed record as a file does, with a native Redis TTL for expiry:
// there is nothing to sweep. VERSION is a fingerprint of the namespace's
// version and key and value types: versions coexist (a rolling deploy
// deletes nothing), and a version no process has used for
// redisstore.WithVersionGrace is deleted in the background. GEN is the
// store's and the namespace's generations: Clear raises one (a command,
// whatever the database holds), tells every process sharing the server to
// empty its memory tier, and the old keys are deleted in the background.
// Namespace metadata and counters live in hashes (PREFIX:NAMESPACE:meta,
// PREFIX:NAMESPACE:counts; counters are added with HINCRBY), which the
// processes put back if the server loses them. Many processes share a
// Redis Store; when several miss on one key at once, one computes and the
// others wait for its result (see Namespace.Acquire).
//
// Writes go straight to the server, one round trip per Put (the record and
// the counters in one pipeline). When the server is unreachable or slow,
// each step of an exchange (waiting for a free connection, connecting,
// the reply) gives up after WithTimeout, and commands are never re-sent;
// the store then leaves the server alone for a short, growing back-off,
// and callers carry on without it: lookups miss, writes are dropped
// (ErrUnavailable), and both are counted; the outage is logged once. The
// client reconnects by itself. A Clear reaches the other processes
// through Redis Pub/Sub, which delivers at most once: a process cut off
// from the server at that moment misses it, so a process reads the
// generations when the server answers it again after an outage, and when
// its subscription is restored, and empties the memory tiers of the
// namespaces cleared meanwhile.
//
// # Caveats
//
//   - Followers must run as the holder's user (or root) on the same
//     machine: the control socket is a Unix socket, 0600, and each end
//     checks the other's user. A file on a network file system is not
//     shared between machines; use Redis for that.
//   - A file opened WithExclusive, or WithoutControl, is held by one
//     process alone: a second Open waits WithLockTimeout and then fails
//     with ErrLocked. Read-only Stores (WithReadOnly) share the file with
//     each other but not with a writer.
//   - What was only queued when the process dies is lost: it is a cache, and
//     a lost entry is a recomputation. Flush, Close and WithSyncWrites make
//     writes durable.
//   - On Windows there is no control endpoint (see WithoutControl): a file
//     is held by one process at a time, and memoctl can read or clear it
//     only while no process holds it.
//   - Under testing/synctest, open file stores WithoutControl: the control
//     endpoint's goroutine waits on a socket, which keeps the bubble's clock
//     from advancing.
//   - A failing disk or server never fails a caller: failed writes are
//     logged and counted (WriteErrors); a file store retries them with
//     back-off while the records stay readable from the queue.
//   - On Redis, Entries and Bytes are not counted: the server expires and
//     evicts keys by itself and tells no one. Memory tiers of other
//     processes are emptied by Clear, not by Forget.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/memostore/memostore/store/driver"
)

// Types shared with the backends, defined in package driver.
type (
	// NamespaceSpec is the identity of a namespace besides its name (see
	// driver.NamespaceSpec for what a change of spec does).
	NamespaceSpec = driver.NamespaceSpec

	// Stats describes a store: its file or server and every namespace in
	// it. On Redis, Entries and Bytes are not counted, and the file fields
	// are zero.
	Stats = driver.Stats

	// NamespaceStats describes one namespace (see Stats).
	NamespaceStats = driver.NamespaceStats

	// A MemoryTier is an in-process tier in front of a namespace, such as
	// the LRU of a memo.Func (see driver.MemoryTier for its contract).
	MemoryTier = driver.MemoryTier

	// A DecodeFunc receives a stored record's payload, valid only until
	// it returns, and its header (codec.Header: its times, the cost of
	// computing it, its grace). An error marks the record bad.
	DecodeFunc = driver.DecodeFunc

	// KeyInfo describes one stored entry (see Store.Keys).
	KeyInfo = driver.KeyInfo

	// A CheckReport is what Check found, and with fix, what it repaired.
	CheckReport = driver.CheckReport
)

// MaxRecordBytes is the largest record the store persists. Larger values
// are still returned and kept in memory, but not written; the write is
// counted as a write error and logged.
const MaxRecordBytes = driver.MaxRecordBytes

// A Store is an open store: a bbolt file or a Redis server. It is safe for
// concurrent use. It owns background goroutines (for a file: the writer,
// the sweeper and the control endpoint; for Redis: the counter flusher and
// the clear listener), which Close stops.
type Store struct {
	loc     string
	backend string // "bbolt", or the name a backend registered
	role    Role
	// closedRole is Role when Close began: a closed holder's file is
	// held by no one here, and its backend says it follows.
	closedRole atomic.Pointer[Role]
	opts       options
	b          driver.Store

	closersMu sync.Mutex
	closers   []io.Closer // attached memory tiers that own goroutines
}

// Path returns the store's location: the file's path, or the Redis URL
// without its password.
func (s *Store) Path() string { return s.loc }

// Backend returns "bbolt" or "redis" (or the name another registered
// backend gave).
func (s *Store) Backend() string { return s.backend }

// Role returns the part this process plays in the store (see Role). A
// follower's role becomes RoleHolder when it takes the file over. After
// Close it is the part the store played when it closed.
func (s *Store) Role() Role {
	if r := s.closedRole.Load(); r != nil {
		return *r
	}
	if sh, ok := s.b.(driver.Sharer); ok {
		if sh.Following() {
			return RoleFollower
		}
		return RoleHolder
	}
	return s.role
}

// Now returns the current time of the store's clock (see WithClock), in
// Unix nanoseconds.
func (s *Store) Now() int64 { return s.opts.Clock.Now().UnixNano() }

// Logger returns the store's logger (see WithLogger).
func (s *Store) Logger() *slog.Logger { return s.opts.Logger }

// Close writes what is queued (and, on Redis, the counters), stops the
// store's goroutines and releases the file or the connections. It is safe
// to call more than once; later calls return the first call's result.
// Every other method returns ErrClosed after it.
//
// First, Close closes the memory tiers attached to its namespaces that
// have a Close method (a memo.Func's stops its background refreshes).
func (s *Store) Close() error {
	r := s.Role()
	s.closedRole.CompareAndSwap(nil, &r)
	s.closersMu.Lock()
	closers := s.closers
	s.closers = nil
	s.closersMu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	return s.b.Close()
}

// Flush waits until every write queued before it is committed, with the
// counters counted so far, or ctx ends. It returns the writer's error if
// commits are failing.
func (s *Store) Flush(ctx context.Context) error { return s.b.Flush(ctx) }

// Sweep deletes the entries that have expired, in batches of bounded size,
// and returns how many it deleted. The background sweeper calls it every
// WithSweepInterval. On Redis, which expires entries by itself, it does
// nothing and returns 0.
func (s *Store) Sweep(ctx context.Context) (int, error) { return s.b.Sweep(ctx) }

// Clear deletes every entry of the named namespace, or of every namespace
// if name is "", resets their counters and empties the memory tiers
// attached to them (on Redis: in every process sharing the server). It
// returns once the deletion is done. Namespaces and their recorded
// versions and types remain. A name that ValidateName refuses is an error:
// no namespace can have it.
func (s *Store) Clear(ctx context.Context, name string) error {
	if name != "" {
		if err := ValidateName(name); err != nil {
			return err
		}
	}
	return s.b.Clear(ctx, name)
}

// Stats returns the store's counters. A file store reads what it keeps in
// memory, maintained by every commit: it never scans the file, and its
// cost does not grow with the number of entries. A Redis store asks the
// server, in two round trips whatever the number of entries; if the
// server does not answer, Stats returns what this process knows (see
// StatsContext for the error).
func (s *Store) Stats() Stats {
	st, _ := s.b.Stats(context.Background())
	return st
}

// StatsContext is Stats, with a context and the error of a Redis server
// that did not answer.
func (s *Store) StatsContext(ctx context.Context) (Stats, error) { return s.b.Stats(ctx) }

// Inspect returns Stats completed with what only a scan of the file's
// indexes can tell (see Stats.PageSize and NamespaceStats.OldestStoredAt).
// It returns ErrUnsupported on Redis.
func (s *Store) Inspect(ctx context.Context) (Stats, error) {
	in, ok := s.b.(driver.Inspector)
	if !ok {
		return Stats{}, s.unsupported("inspect")
	}
	return in.Inspect(ctx)
}

// Keys calls fn for the first limit entries of namespace (all if limit <=
// 0), in key order. It returns ErrUnsupported on Redis.
func (s *Store) Keys(ctx context.Context, namespace string, limit int, fn func(KeyInfo) error) error {
	if fn == nil {
		return errors.New("store: keys: fn is nil")
	}
	kl, ok := s.b.(driver.KeyLister)
	if !ok {
		return s.unsupported("keys")
	}
	return kl.Keys(ctx, namespace, max(limit, 0), fn)
}

// Check verifies every record, index entry and counter of the file, and
// with fix repairs what it can (see CheckReport). It returns
// ErrUnsupported on Redis.
func (s *Store) Check(ctx context.Context, fix bool, progress func(done, total int64)) (*CheckReport, error) {
	c, ok := s.b.(driver.Checker)
	if !ok {
		return nil, s.unsupported("check")
	}
	return c.Check(ctx, fix, progress)
}

func (s *Store) unsupported(op string) error {
	return fmt.Errorf("store: %s %s: %w on %s", op, s.loc, ErrUnsupported, backendTitle(s.backend))
}
