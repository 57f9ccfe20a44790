package store

import (
	"context"
	"fmt"
	"io"

	"github.com/memostore/memostore/store/driver"
)

// MaxNamespaceLen is the longest namespace name.
const MaxNamespaceLen = 128

// ValidateName reports whether name can name a namespace: 1 to
// MaxNamespaceLen bytes of ASCII letters, digits and . _ - : /
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNamespaceLen {
		return fmt.Errorf("store: namespace name %q must be 1 to %d bytes long", name, MaxNamespaceLen)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-', r == ':', r == '/':
		default:
			return fmt.Errorf("store: namespace name %q: character %q not allowed (use letters, digits and . _ - : /)", name, r)
		}
	}
	return nil
}

// A Namespace is one memoized function's share of a Store, claimed by
// Store.Namespace. Its methods are safe for concurrent use.
type Namespace struct {
	s    *Store
	name string
	b    driver.Namespace
}

// Namespace claims the namespace name for this process, creating it if it
// is new. A value of another version or type is never returned: if a file
// holds the namespace with a different spec, its old entries are dropped
// and the drop is logged; on Redis, versions coexist (see the package
// doc). A name can be claimed once per Store; a second claim is an error.
// The name must pass ValidateName.
func (s *Store) Namespace(ctx context.Context, name string, spec NamespaceSpec) (*Namespace, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	b, err := s.b.Namespace(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	return &Namespace{s: s, name: name, b: b}, nil
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Shared reports whether other processes may use the namespace at the same
// time (Redis, or a file that other processes follow), so that a caller
// should Acquire a key before computing it.
func (n *Namespace) Shared() bool {
	_, sharer := n.s.b.(driver.Sharer)
	return sharer || n.s.role == RoleShared
}

// Lookup finds the record stored under key and, if it is present, has not
// expired and passes its checksum, calls decode with its payload, its
// stored-at and its expires-at (Unix nanoseconds, 0 = never) and reports
// true. payload is valid only until decode returns. Queued writes are seen
// before they are committed.
//
// A record that fails its checksum, or that decode rejects, is treated as
// absent: it is counted (DecodeErrors), logged and deleted. On Redis, a
// server that does not answer is a miss, logged and counted
// (ReadErrors), not an error; ctx bounds the exchange.
func (n *Namespace) Lookup(ctx context.Context, key []byte, decode DecodeFunc) (bool, error) {
	return n.b.Lookup(ctx, key, decode)
}

// Put stores rec, a record made by package codec for key (its checksum
// covers key), under key. On a file it queues the write and returns,
// unless the store was opened WithSyncWrites: then it returns once the
// write is committed. On Redis it returns once the server has the record.
// The record is visible to Lookup at once. key and rec must not be changed
// afterwards.
//
// A record already expired is not kept, nor counted in Writes: it removes
// what key held. Records over MaxRecordBytes, records whose header does
// not parse or gives a time before 1970, and keys that are empty or too
// long are refused (counted as write errors).
// Put on a file waits for room when the queue is full, until ctx ends.
func (n *Namespace) Put(ctx context.Context, key, rec []byte) error {
	if err := driver.CheckPut(key, rec); err != nil {
		n.b.Refused()
		return fmt.Errorf("store: put in %q: %w", n.name, err)
	}
	return n.b.Put(ctx, key, rec)
}

// Delete removes the entry under key, if any. Like Put, it writes behind
// on a file unless the store was opened WithSyncWrites.
func (n *Namespace) Delete(ctx context.Context, key []byte) error { return n.b.Delete(ctx, key) }

// Clear deletes every entry of the namespace and resets its counters, and
// returns once that is done (see Store.Clear).
func (n *Namespace) Clear(ctx context.Context) error { return n.b.Clear(ctx) }

// Attach attaches the memory tier t to the namespace, replacing any
// before. Calls that t counts are added to the namespace's counters.
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
// stored, it calls decode as Lookup does and reports true. release is
// never nil: defer release() is always safe.
//
// On Redis, Acquire takes a lock on key (SET NX PX, with a random token
// and redisstore.WithLockTTL), reading the key in the same round trip. If
// it gets the lock and the key is still missing, it returns a release
// that matters: the caller computes the value, Puts it (which releases the
// lock in its own round trip) and then calls release, which releases the
// lock if Put did not (because the computation failed, say). A lock is
// only ever deleted by the token that took it (a check-and-delete
// script). If another process holds the lock, Acquire waits with a
// growing back-off (2 ms to 100 ms), reading the key each time, and
// reports true as soon as it is there; if the other process dies, its
// lock expires and this one takes it over. After redisstore.WithLockWait,
// or if the server does not answer, Acquire gives up waiting and the
// caller computes without the lock. It returns an error only when ctx
// ends.
//
// On a file, Acquire claims key at the holder (see boltstore.ClaimLease):
// the first process to miss computes it while the others wait for its
// Put; a process that dies releases its claims at once. A file held
// alone (WithExclusive), whose one process already computes a key once,
// returns at once.
func (n *Namespace) Acquire(ctx context.Context, key []byte, decode DecodeFunc) (found bool, release func(), err error) {
	found, release, err = n.b.Acquire(ctx, key, decode)
	if release == nil {
		release = func() {}
	}
	return found, release, err
}

// TryClaim claims key for a computation that should run in one process
// only, such as a background refresh, without reading the key and without
// waiting: ok is false if another process holds the key's claim (it is
// computing or refreshing it). On a store of one process, or a backend
// without claims, it always succeeds. release is never nil: defer
// release() is always safe.
func (n *Namespace) TryClaim(ctx context.Context, key []byte) (release func(), ok bool) {
	if c, is := n.b.(driver.Claimer); is && n.Shared() {
		release, ok = c.TryClaim(ctx, key)
	} else {
		ok = true
	}
	if release == nil {
		release = func() {}
	}
	return release, ok
}

// NoteUse tells the store's eviction of hits of key that a memory tier in
// front of it served, so that an entry the memory tier keeps hitting is
// not evicted from the store as unused: those hits never reach the store
// otherwise, and the store weighs them as its own. A memory tier calls it
// once in many hits, with the hits since its last call for key (memo
// calls it at a key's 1st, 2nd, 4th, ... 64th hit and every 64th after
// that, but for the hits its LRU tier serves from the front from the 64th
// on: those are noted when another entry takes the front, or when the
// store asks, every second and at Close; see driver.HitSettler). It
// writes nothing and does not block; a file's follower adds
// the hits up and sends them to the holder with its counts (every second,
// or once 64 keys have hits). A backend without use-aware eviction (a
// file without WithMaxBytes; Redis, whose server evicts) ignores it.
func (n *Namespace) NoteUse(key []byte, hits int) {
	if u, ok := n.b.(driver.UseNoter); ok && hits > 0 {
		u.NoteUse(key, hits)
	}
}

// HearsUse reports whether NoteUse reaches an eviction that weighs the
// hits: false on a backend that ignores them (a file without
// WithMaxBytes; Redis), where a memory tier need not note its hits.
func (n *Namespace) HearsUse() bool {
	u, ok := n.b.(driver.UseNoter)
	return ok && u.HearsUse()
}

// AcquireLooksUp reports whether Acquire looks key up before it claims
// it, as Lookup would: the caller of a shared namespace then calls
// Acquire alone, not Lookup first (see driver.LookupAcquirer).
func (n *Namespace) AcquireLooksUp() bool {
	_, ok := n.b.(driver.LookupAcquirer)
	return ok
}
