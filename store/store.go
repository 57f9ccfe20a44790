// Package store is the persistent tier of memostore: the memoized results
// of many functions, one namespace each, kept in a bbolt file (the
// default) or on a Redis server shared by many processes and machines.
//
// Open picks the backend from the location it is given: a path opens a
// bbolt file, a redis:// or rediss:// URL opens Redis. Every method of
// Store and Namespace works on both; a few operator tools (Inspect, Keys,
// Check, Compact, the control endpoint) exist for files only and return
// ErrUnsupported on Redis.
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
// WithMaxBytes bounds the stored bytes the same way, evicting the least
// recently stored entries.
//
// Counters (entries, bytes, hits, misses, ...) are kept in the file and
// updated in the transactions that change the data: Stats never scans.
//
// # Redis
//
// A Redis Store (or Valkey: the protocol is the same) keeps each entry in
// its own key, PREFIX:NAMESPACE:VERSION:d:KEY, holding the same checksummed
// record as a file does, with a native Redis TTL for expiry: there is
// nothing to sweep. Namespace metadata and counters live in hashes
// (PREFIX:NAMESPACE:meta, PREFIX:NAMESPACE:counts; counters are added with
// HINCRBY). VERSION is a fingerprint of the namespace's version and key and
// value types. Clear deletes incrementally with SCAN and UNLINK, and tells
// every process sharing the server to empty its memory tier. Many
// processes share a Redis Store; when several miss on one key at once, one
// computes and the others wait for its result (see Namespace.Acquire).
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
// from the server at that moment misses it, so a process purges its
// memory tiers when the server answers it again after an outage, and when
// its subscription is restored.
//
// # Caveats
//
//   - A file Store holds an exclusive lock on its file: a second Open, in
//     this process or another, waits WithLockTimeout and then fails with
//     ErrLocked. Read-only Stores (WithReadOnly) share the file with each
//     other but not with a writer.
//   - What was only queued when the process dies is lost: it is a cache, and
//     a lost entry is a recomputation. Flush, Close and WithSyncWrites make
//     writes durable.
//   - On Windows there is no control endpoint (see WithoutControl): memoctl
//     can read or clear a file only while no process holds it.
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
	"strings"
	"sync"
)

// ErrUnsupported is returned by the operations that exist for one backend
// only, such as Compact on Redis. It is errors.ErrUnsupported.
var ErrUnsupported = errors.ErrUnsupported

// A Store is an open store: a bbolt file or a Redis server. It is safe for
// concurrent use. It owns background goroutines (for a file: the writer,
// the sweeper and the control endpoint; for Redis: the counter flusher and
// the clear listener), which Close stops.
type Store struct {
	loc  string
	opts options
	b    backend
	file *fileStore  // set when b is a file
	rd   *redisStore // set when b is Redis

	closersMu sync.Mutex
	closers   []io.Closer // attached memory tiers that own goroutines
}

// backend is a Store's persistent tier. The two implementations are
// fileStore (bbolt) and redisStore (Redis).
type backend interface {
	namespace(ctx context.Context, name string, spec NamespaceSpec) (nsBackend, error)
	Flush(ctx context.Context) error
	Sweep(ctx context.Context) (int, error)
	Clear(ctx context.Context, name string) error
	StatsContext(ctx context.Context) (Stats, error)
	Close() error
}

// nsBackend is one namespace of a backend; see Namespace for what each
// method does.
type nsBackend interface {
	Lookup(key []byte, decode DecodeFunc) (bool, error)
	Put(ctx context.Context, key, rec []byte) error
	Delete(ctx context.Context, key []byte) error
	Clear(ctx context.Context) error
	CountHit(fromDisk bool)
	CountMiss()
	Attach(t MemoryTier)
	Acquire(ctx context.Context, key []byte, decode DecodeFunc) (bool, func(), error)
}

// IsURL reports whether location names a Redis server (redis:// or
// rediss://) rather than a file.
func IsURL(location string) bool {
	return strings.HasPrefix(location, "redis://") || strings.HasPrefix(location, "rediss://") ||
		strings.HasPrefix(location, "unix://")
}

// Open opens the store at location. A path opens a bbolt file, creating
// it (mode 0600) if it does not exist: a file that is not a store gives
// ErrCorrupt and is left untouched, and a file held by another process
// gives ErrLocked after the lock timeout. WithRecover changes what happens
// to a corrupt file: it is moved aside and a fresh store is opened in its
// place.
//
// A redis://, rediss:// or unix:// URL opens a Redis store, in the form
// redis://[[user]:password@]host[:port][/db][?options] that go-redis's
// ParseURL accepts (for example redis://127.0.0.1:6379/0), plus one
// option of memostore's own, prefix (see WithPrefix). Open checks
// that the server answers, within WithTimeout, and fails if it does not;
// once open, the store rides out outages (see the package doc). File-only
// options (WithLockTimeout, WithMaxBytes, WithQueueBytes, WithSyncWrites,
// WithSweepInterval, WithRecover, WithoutControl) are ignored there;
// WithPrefix, WithTimeout, WithLockTTL and WithLockWait apply to Redis
// only.
func Open(location string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if IsURL(location) {
		rd, err := openRedis(location, o)
		if err != nil {
			return nil, err
		}
		return &Store{loc: rd.loc, opts: o, b: rd, rd: rd}, nil
	}
	f, err := openFile(location, o)
	if err != nil {
		return nil, err
	}
	return &Store{loc: location, opts: o, b: f, file: f}, nil
}

// Path returns the store's location: the file's path, or the Redis URL
// without its password.
func (s *Store) Path() string { return s.loc }

// Backend returns "bbolt" or "redis".
func (s *Store) Backend() string {
	if s.rd != nil {
		return "redis"
	}
	return "bbolt"
}

// Now returns the current time of the store's clock (see WithClock), in
// Unix nanoseconds.
func (s *Store) Now() int64 { return s.opts.clock.Now().UnixNano() }

// SyncWrites reports whether every write is durable before it returns:
// a file opened WithSyncWrites, or Redis, where writes are not queued.
func (s *Store) SyncWrites() bool { return s.opts.syncWrites || s.rd != nil }

// Logger returns the store's logger (see WithLogger).
func (s *Store) Logger() *slog.Logger { return s.opts.logger }

// Close writes what is queued (and, on Redis, the counters), stops the
// store's goroutines and releases the file or the connections. It is safe
// to call more than once; later calls return the first call's result.
// Every other method returns ErrClosed after it.
//
// First, Close closes the memory tiers attached to its namespaces that
// have a Close method (a memo.Func's stops its background refreshes).
func (s *Store) Close() error {
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
// versions and types remain.
func (s *Store) Clear(ctx context.Context, name string) error { return s.b.Clear(ctx, name) }

// Stats returns the store's counters. A file store reads what it keeps in
// memory, maintained by every commit: it never scans the file, and its
// cost does not grow with the number of entries. A Redis store asks the
// server, in two round trips whatever the number of entries; if the
// server does not answer, Stats returns
// what this process knows (see StatsContext for the error).
func (s *Store) Stats() Stats {
	st, _ := s.b.StatsContext(context.Background())
	return st
}

// StatsContext is Stats, with a context and the error of a Redis server
// that did not answer.
func (s *Store) StatsContext(ctx context.Context) (Stats, error) { return s.b.StatsContext(ctx) }

// Inspect returns Stats completed with what only a scan of the file's
// indexes can tell (see Stats.PageSize and NamespaceStats.OldestStoredAt).
// It returns ErrUnsupported on Redis.
func (s *Store) Inspect(ctx context.Context) (Stats, error) {
	if s.file == nil {
		return Stats{}, fmt.Errorf("store: inspect %s: %w on Redis", s.loc, ErrUnsupported)
	}
	return s.file.Inspect(ctx)
}

// Keys calls fn for the first limit entries of namespace (all if limit <=
// 0), in key order. It returns ErrUnsupported on Redis.
func (s *Store) Keys(namespace string, limit int, fn func(KeyInfo) error) error {
	if s.file == nil {
		return fmt.Errorf("store: keys %s: %w on Redis", s.loc, ErrUnsupported)
	}
	return s.file.Keys(namespace, limit, fn)
}

// Check verifies every record, index entry and counter of the file, and
// with fix repairs what it can (see CheckReport). It returns
// ErrUnsupported on Redis.
func (s *Store) Check(ctx context.Context, fix bool, progress func(done, total int64)) (*CheckReport, error) {
	if s.file == nil {
		return nil, fmt.Errorf("store: check %s: %w on Redis", s.loc, ErrUnsupported)
	}
	return s.file.Check(ctx, fix, progress)
}

// A Namespace is one memoized function's share of a Store, claimed by
// Store.Namespace. Its methods are safe for concurrent use.
type Namespace struct {
	s    *Store
	name string
	b    nsBackend
}

// Namespace claims the namespace name for this process, creating it if it
// is new. If the store holds the namespace with a different spec, its old
// entries are dropped and the drop is logged: a value of another version or
// type is never returned. A name can be claimed once per Store; a second
// claim is an error.
func (s *Store) Namespace(ctx context.Context, name string, spec NamespaceSpec) (*Namespace, error) {
	b, err := s.b.namespace(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	return &Namespace{s: s, name: name, b: b}, nil
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Store returns the Store the namespace belongs to.
func (n *Namespace) Store() *Store { return n.s }

// Shared reports whether other processes may use the namespace at the same
// time (Redis), so that a caller should Acquire a key before computing it.
func (n *Namespace) Shared() bool { return n.s.rd != nil }

// A DecodeFunc receives a stored record's payload, valid only until it
// returns, and its stored-at and expires-at times (Unix nanoseconds;
// expires-at 0 = never). An error marks the record bad.
type DecodeFunc func(payload []byte, storedAt, expiresAt int64) error

// Lookup finds the record stored under key and, if it is present, has not
// expired and passes its checksum, calls decode with its payload and its
// expires-at (Unix nanoseconds, 0 = never) and reports true. payload is
// valid only until decode returns. Queued writes are seen before they are
// committed.
//
// A record that fails its checksum, or that decode rejects, is treated as
// absent: it is counted (DecodeErrors), logged and deleted. On Redis, a
// server that does not answer is a miss, logged and counted
// (ReadErrors), not an error.
func (n *Namespace) Lookup(key []byte, decode DecodeFunc) (bool, error) {
	return n.b.Lookup(key, decode)
}

// Put stores rec, a record made by package codec for key (its checksum
// covers key), under key. On a file it queues the write and returns,
// unless the store was opened WithSyncWrites: then it returns once the
// write is committed. On Redis it
// returns once the server has the record. The record is visible to Lookup
// at once. key and rec must not be changed afterwards.
//
// Records over MaxRecordBytes, records whose header does not parse, and
// keys that are empty or too long are refused (counted as write errors).
// Put on a file waits for room when the queue is full, until ctx ends.
func (n *Namespace) Put(ctx context.Context, key, rec []byte) error { return n.b.Put(ctx, key, rec) }

// Delete removes the entry under key, if any. Like Put, it writes behind
// on a file unless the store was opened WithSyncWrites.
func (n *Namespace) Delete(ctx context.Context, key []byte) error { return n.b.Delete(ctx, key) }

// Clear deletes every entry of the namespace and resets its counters, and
// returns once that is done (see Store.Clear).
func (n *Namespace) Clear(ctx context.Context) error { return n.b.Clear(ctx) }

// CountHit counts a call answered without running the function; fromDisk
// says it was served from the store.
func (n *Namespace) CountHit(fromDisk bool) { n.b.CountHit(fromDisk) }

// CountMiss counts a call that ran the function.
func (n *Namespace) CountMiss() { n.b.CountMiss() }

// Attach attaches the memory tier t to the namespace, replacing any
// before. Calls that t counts from now on are added to the namespace's
// counters; CountHit and CountMiss need not be called for them.
//
// If t has a Close method (io.Closer), Store.Close calls it first.
func (n *Namespace) Attach(t MemoryTier) {
	if c, ok := t.(io.Closer); ok {
		n.s.closersMu.Lock()
		n.s.closers = append(n.s.closers, c)
		n.s.closersMu.Unlock()
	}
	n.b.Attach(t)
}

// Acquire coordinates the processes that miss on key at the same time, so
// that one computes it and the others wait for its result. Call it after
// a Lookup missed, with the same decode: whenever Acquire finds the key
// stored, it calls decode as Lookup does and reports true.
//
// On Redis, Acquire takes a lock on key (SET NX PX, with a random token
// and WithLockTTL), reading the key in the same round trip. If it gets the
// lock and the key is still missing, it returns release: the caller
// computes the value, Puts it (which releases the lock in its own round
// trip) and then calls release, which releases the lock if Put did not
// (because the computation failed, say). A lock is only ever deleted by
// the token that took it (a check-and-delete script). If another process
// holds the lock, Acquire waits with a growing back-off (2 ms to 100 ms),
// reading the key each time, and reports true as soon as it is there; if
// the other process dies, its lock expires and this one takes it over.
// After WithLockWait, or if the server does not answer, Acquire gives up
// waiting and returns a release that does nothing: the caller computes
// without the lock. It returns an error only when ctx ends.
//
// On a file, whose one process already computes a key once, Acquire
// returns at once with a release that does nothing.
func (n *Namespace) Acquire(ctx context.Context, key []byte, decode DecodeFunc) (found bool, release func(), err error) {
	return n.b.Acquire(ctx, key, decode)
}

// Stats describes a store: its file or server and every namespace in it.
// On Redis, Entries and Bytes are not counted, and the file fields are
// zero.
type Stats struct {
	Path          string           `json:"path"`          // the file, or the Redis URL without its password
	Backend       string           `json:"backend"`       // "bbolt" or "redis"
	PID           int              `json:"pid,omitempty"` // the process that reported these stats
	FileSize      int64            `json:"file_size"`     // bytes on disk
	FormatVersion int              `json:"format_version"`
	Entries       int64            `json:"entries"`   // entries in all namespaces
	Bytes         int64            `json:"bytes"`     // bytes of keys and records in all namespaces
	MaxBytes      int64            `json:"max_bytes"` // the WithMaxBytes bound; 0 = none
	Queued        int              `json:"queued"`    // writes waiting for the writer
	QueuedBytes   int64            `json:"queued_bytes"`
	PageSize      int              `json:"page_size,omitempty"`  // set by Inspect
	FreePages     int              `json:"free_pages,omitempty"` // set by Inspect
	Namespaces    []NamespaceStats `json:"namespaces"`
}

// NamespaceStats describes one namespace. Counts are totals over the life
// of the file (since the namespace was created, last cleared or reset),
// including what this process has counted but not yet written.
type NamespaceStats struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	KeyType   string `json:"key_type"`
	ValueType string `json:"value_type"`
	Created   int64  `json:"created"` // Unix nanoseconds
	Claimed   bool   `json:"claimed"` // in use by a memo.Func in this process

	Entries      int64 `json:"entries"`
	Bytes        int64 `json:"bytes"`
	Hits         int64 `json:"hits"`          // calls answered without running the function
	Misses       int64 `json:"misses"`        // calls that ran the function
	DiskHits     int64 `json:"disk_hits"`     // the part of Hits served from the file
	Expirations  int64 `json:"expirations"`   // expired entries swept
	Evictions    int64 `json:"evictions"`     // entries evicted to keep within MaxBytes
	DecodeErrors int64 `json:"decode_errors"` // records that failed their checksum or did not decode
	WriteErrors  int64 `json:"write_errors"`  // writes that failed or were refused
	ReadErrors   int64 `json:"read_errors"`   // lookups the server did not answer (Redis)
	Writes       int64 `json:"writes"`        // records written

	// The memory tier attached in this process (see Namespace.Attach);
	// zero when none is.
	MemSize int `json:"mem_size"`
	MemMax  int `json:"mem_max"`

	// Set by Inspect, which reads them from the file's indexes.
	OldestStoredAt int64 `json:"oldest_stored_at,omitempty"` // Unix nanoseconds
	NewestStoredAt int64 `json:"newest_stored_at,omitempty"`
	ExpiredPending int64 `json:"expired_pending"` // expired, awaiting the sweeper
}
