// Package driver defines the interfaces a storage backend implements for
// package store, and the types the two share. Users of memostore never
// import it: they use package store, which re-exports the shared types
// (store.Stats is driver.Stats). Backend packages (store/boltstore,
// store/redisstore, or a third party's) implement Store and Namespace,
// and whichever optional capabilities they have (Inspector, KeyLister,
// Checker), which store finds by type assertion, as database/sql finds
// driver.Pinger.
//
// Policy lives in package store, once: namespace names are validated,
// and records checked, before a backend sees them. A backend does
// storage.
package driver

import (
	"context"
	"log/slog"

	"github.com/memostore/memostore/codec"

	"github.com/memostore/memostore/expiry"
)

// A Store is an open backend: the persistent tier of a store.Store. Its
// methods are safe for concurrent use. See the methods of store.Store of
// the same names for what each does.
type Store interface {
	// Path returns the store's location as messages and Stats give it:
	// the file's path, or the server's URL without its password.
	Path() string
	// Namespace claims a namespace, whose name store has validated.
	Namespace(ctx context.Context, name string, spec NamespaceSpec) (Namespace, error)
	Flush(ctx context.Context) error
	Sweep(ctx context.Context) (int, error)
	Clear(ctx context.Context, name string) error
	// Stats returns the backend's counters; with an error, what it
	// could tell without the failing part.
	Stats(ctx context.Context) (Stats, error)
	Close() error
}

// A Namespace is one namespace of a backend. See store.Namespace for
// what each method does. Put is given only keys and records that store
// has checked (see CheckPut).
type Namespace interface {
	Lookup(ctx context.Context, key []byte, decode DecodeFunc) (bool, error)
	Put(ctx context.Context, key, rec []byte) error
	Delete(ctx context.Context, key []byte) error
	Clear(ctx context.Context) error
	Attach(t MemoryTier)
	// Acquire returns a non-nil release whenever err is nil.
	Acquire(ctx context.Context, key []byte, decode DecodeFunc) (found bool, release func(), err error)
	// Refused counts a write that store refused (WriteErrors).
	Refused()
}

// An Inspector is a Store that can complete Stats with what only a scan
// of its indexes tells (see store.Store.Inspect).
type Inspector interface {
	Inspect(ctx context.Context) (Stats, error)
}

// A KeyLister is a Store that can list a namespace's keys (see
// store.Store.Keys).
type KeyLister interface {
	Keys(ctx context.Context, namespace string, limit int, fn func(KeyInfo) error) error
}

// A Checker is a Store that can verify, and repair, what it holds (see
// store.Store.Check).
type Checker interface {
	Check(ctx context.Context, fix bool, progress func(done, total int64)) (*CheckReport, error)
}

// Options are the settings of store.Open that every backend reads.
type Options struct {
	Logger   *slog.Logger // never nil
	Clock    expiry.Clock // never nil
	ReadOnly bool

	// Own holds the options of the backend's own package (such as
	// redisstore.WithPrefix), in the order given: the backend applies
	// each to a settings value of its own type.
	Own []func(settings any)
}

// A DecodeFunc receives a stored record's payload, valid only until it
// returns, and its header: its stored-at and expires-at times (Unix
// nanoseconds; expires-at 0 = never), the cost of computing it and its
// grace. An error marks the record bad.
type DecodeFunc func(payload []byte, h codec.Header) error

// NamespaceSpec is the identity of a namespace besides its name. Entries
// of another spec are never returned: on a file, opening a namespace with
// a spec that differs from the stored one drops its entries, and is
// refused while another process uses the namespace; on Redis,
// each spec has entries of its own, and those of a spec no process uses
// any more are deleted after a grace period.
type NamespaceSpec struct {
	Version   string // the user's version (memo.Version)
	KeyType   string // readable name of the key type
	KeyID     string // fingerprint of the key type's shape (codec.TypeID)
	ValueType string
	ValueID   string
}

// A MemoryTier is an in-process tier in front of a namespace, such as the
// LRU of a memo.Func. The store reports its size in Stats, carries its
// counts into the namespace's persisted counters, and purges it whenever
// the namespace is cleared, through Clear or memoctl, so that the
// process's next call recomputes.
//
// Counts returns the calls the tier's owner has counted since it began:
// they only grow. Reading them lets the hot path count a hit without
// touching the store. Counts may be called with the store's lock held and
// must not call the store; Size and Purge are called without it.
//
// Purge empties the tier and makes the computations already running keep
// nothing, in the tier or the store, until done is called: a Clear calls
// Purge before its deletion and done once the deletion is visible, so
// that no result computed before the Clear is stored after it. cleared
// says the namespace was cleared (its owner then resets its statistics,
// as functools' cache_clear does) rather than purged for another reason.
type MemoryTier interface {
	Size() (curr, max int)
	Counts() (hits, misses, diskHits int64)
	Purge(cleared bool) (done func())
}

// A KeyForgetter is a MemoryTier that can forget one key, given as the
// store holds it (the encoded key), when another process forgets it. Like
// Purge, ForgetKey makes the computations of that key already running
// keep nothing until done is called. A tier that cannot forget one key
// is purged instead.
type KeyForgetter interface {
	ForgetKey(key []byte) (done func())
}

// A Sharer is a Store that other processes on the machine use at the
// same time, through one of them (the holder), and whose part in that may
// change: a follower becomes the holder when the holder goes. Namespaces
// of a Sharer coordinate their computations (see Namespace.Acquire).
type Sharer interface {
	Following() bool
}

// ForgetInTier makes t forget key: through KeyForgetter if t has it, else
// by purging it.
func ForgetInTier(t MemoryTier, key []byte) (done func()) {
	if kf, ok := t.(KeyForgetter); ok {
		return kf.ForgetKey(key)
	}
	return t.Purge(false)
}

// A Claimer is a Namespace that can claim a key without reading it or
// waiting: a background refresh claims the key it refreshes, so that one
// process refreshes it while the others serve what they have. ok is false
// if another process holds the key's claim; release is never nil.
type Claimer interface {
	TryClaim(ctx context.Context, key []byte) (release func(), ok bool)
}

// A FreshnessCounter is a MemoryTier that also counts what its freshness
// options did (see memo.Info): the store adds these to the namespace's
// counters as it does Counts. Like Counts, they only grow.
type FreshnessCounter interface {
	FreshnessCounts() (refreshes, staleReturns, cachedErrors int64)
}

// A HitSettler is a MemoryTier that notes some of its hits to the store
// (through a UseNoter) only when an event of its own settles them, such as
// another entry taking the place its fast path serves: a store whose
// eviction hears those notes calls SettleHits now and then (boltstore's
// writer, every second), without its locks held, so that an entry the
// tier serves on and on without such an event is heard of too.
type HitSettler interface {
	SettleHits()
}

// A SavedCounter is a MemoryTier that also counts the computation time
// its hits saved, in nanoseconds (see memo.Info.Saved): the store adds it
// to the namespace's counters as it does Counts. It only grows.
type SavedCounter interface {
	Saved() int64
}

// A LookupAcquirer is a Namespace whose Acquire looks the key up before
// it claims it, in the same exchange: a caller that would Lookup, then
// Acquire after a miss, calls Acquire alone (one round trip less for a
// file's follower).
type LookupAcquirer interface {
	AcquireLooksUp()
}

// A UseNoter is a Namespace whose eviction weighs the uses of its
// entries, and hears of the hits a memory tier served (see
// store.Namespace.NoteUse) as of its own. NoteUse must be cheap and must
// not block: it is called on the memory tier's hit path (once in many
// hits) and must not retain key.
//
// HearsUse reports whether the namespace's eviction weighs the notes at
// all (a file with WithMaxBytes, or one whose holder is another process,
// whose bound a follower cannot see): a memory tier need not note its
// hits otherwise.
type UseNoter interface {
	NoteUse(key []byte, hits int)
	HearsUse() bool
}
