package boltstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/internal/control"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/memostore/memostore/expiry"
)

// A Store is an open store file. It is safe for concurrent use. It owns
// the writer and the sweeper goroutines, and the control endpoint's,
// which Close stops.
type Store struct {
	path string
	opts Options
	log  *slog.Logger
	db   *bolt.DB
	lock *lockFile
	ctl  *control.Server // nil when the control endpoint is off
	pol  *policy         // eviction's, with WithMaxBytes (see evict.go); else nil
	// policySave is policySaveInterval when the store opened, for the
	// writer (the tests change the variable).
	policySave time.Duration

	// life is held shared by every operation that uses db and exclusively
	// by Close, so that Close never pulls the file from under a reader.
	life   sync.RWMutex
	closed atomic.Bool

	mu       sync.RWMutex
	spaces   map[string]*space // every namespace in the file, by name
	claims   map[string]bool   // names claimed by a Namespace in this process
	queue    []*op             // writes waiting for the writer, in order
	qbytes   int64             // bytes of records in queue
	seq      uint64            // ops ever queued
	done     uint64            // ops ever finished (committed or given up)
	progress chan struct{}     // closed and replaced whenever done advances
	waiters  int               // callers waiting for a commit: no lingering
	failErr  error             // the last commit's error, nil once one succeeds
	// failLogged is when a failed commit was last logged, and
	// failedCommits how many failed since (see commitFailed).
	failLogged    time.Time
	failedCommits int

	// committing is when the writer's current transaction began (Unix
	// nanoseconds), 0 between transactions: a live Check gives way to a
	// commit that waits long (see checkRead).
	committing atomic.Int64

	sessions  map[*session]bool // other processes connected; guarded by mu
	connected atomic.Int32      // len(sessions), read without mu

	lockMu    sync.Mutex
	locks     map[claimKey]*claim // keys being computed, by whom
	nextToken uint64

	wake   chan struct{} // a write was queued
	urgent chan struct{} // a caller waits for a commit
	stop   chan struct{} // Close: drain the queue and exit
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// failCommit, if set (by tests in this package only), is called at the
	// start of every write transaction of commitQueued; its error fails
	// the commit, as a full disk would.
	failCommit func() error
}

// Open opens the store file at path, creating it (mode 0600) if it does not
// exist. A file that is not a store gives ErrCorrupt and is left untouched;
// a file held by another process gives ErrLocked after the lock timeout.
//
// WithRecover changes what happens to a corrupt file: it is moved aside
// and a fresh store is opened in its place.
//
// Every error says "store: open PATH: " once, and only once.
func Open(path string, o Options) (*Store, error) {
	s, err := openOrRecover(Resolve(path), o)
	if err != nil {
		return nil, &driver.OpError{Op: "open", Path: path, Err: err}
	}
	return s, nil
}

func openOrRecover(path string, o Options) (*Store, error) {
	if path == "" {
		// filepath.Dir("") is ".": without this, Open would make a lock
		// file named ".lock" in the working directory.
		return nil, errors.New("empty path: give a file name, or a redis:// URL")
	}
	s, err := openUnderLock(path, o)
	if err == nil || !o.Recover || o.ReadOnly || !errors.Is(err, driver.ErrCorrupt) {
		return s, err
	}
	aside, merr := moveAside(path, o.LockTimeout)
	if merr != nil {
		return nil, fmt.Errorf("%w; moving it aside failed: %v", err, merr)
	}
	if aside != "" {
		o.Logger.Warn("memostore: store file is corrupt; moved it aside and started a fresh store",
			"path", path, "moved_to", aside, "err", err)
	}
	return openUnderLock(path, o)
}

// moveAside renames the corrupt file at path to NAME.corrupt-TIMESTAMP,
// under the store's lock, and returns the new name. If the file is no
// longer corrupt when the lock is had (another process replaced it), it
// is left alone and "" is returned.
func moveAside(path string, timeout time.Duration) (string, error) {
	lock, err := acquireLock(path, true, timeout)
	if err != nil {
		return "", err
	}
	defer lock.release()
	if err := checkFile(path); err == nil {
		if err := checkStoreFormat(path); err == nil {
			return "", nil
		}
	}
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(path))
}

// openUnderLock takes the lock file and opens the store under it.
func openUnderLock(path string, o Options) (*Store, error) {
	// Reject what is not a store before making anything beside it.
	if _, err := os.Stat(path); err == nil {
		if err := checkFile(path); err != nil {
			return nil, err
		}
	} else if o.ReadOnly || !errors.Is(err, os.ErrNotExist) {
		return nil, bare(err)
	} else if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("its directory: %w", bare(err))
	}
	lock, err := acquireLock(path, !o.ReadOnly, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	s, err := open(path, o, lock)
	if err != nil {
		lock.release()
		return nil, err
	}
	return s, nil
}

func open(path string, o Options, lock *lockFile) (*Store, error) {
	if err := prepare(path, o.ReadOnly); err != nil {
		return nil, err
	}
	// The lock file is ours, so bbolt's own lock on path is free unless a
	// process that does not use the lock file holds it.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly, PreLoadFreelist: true})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (waited %v)", driver.ErrLocked, o.LockTimeout)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, fmt.Errorf("%w: %v", driver.ErrCorrupt, err)
		}
		return nil, bare(err)
	}
	s := &Store{
		path:     path,
		opts:     o,
		log:      o.Logger,
		db:       db,
		lock:     lock,
		spaces:   map[string]*space{},
		claims:   map[string]bool{},
		sessions: map[*session]bool{},
		locks:    map[claimKey]*claim{},
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		urgent:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	if o.MaxBytes > 0 && !o.ReadOnly {
		s.pol = newPolicy(o.Clock.Now().UnixNano(), o.MaxBytes)
		s.policySave = policySaveInterval
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if err := checkFormat(tx); err != nil {
			return err
		}
		if s.pol != nil {
			s.pol.loadSalt(tx.Bucket(bucketMeta).Get(keyPolicy))
		}
		return s.loadSpaces(tx)
	}); err != nil {
		db.Close()
		return nil, err
	}
	if !o.ReadOnly {
		// Where peer credentials are unknown (see control.PeerCredentials)
		// the endpoint is off by design, which is not worth a warning.
		if o.Control && control.PeerCredentials {
			if s.ctl, err = control.Serve(path, s, s.log); err != nil {
				s.log.Warn("memostore: control endpoint off", "path", path, "err", err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.wg.Add(2)
		go s.runWriter()
		go func() {
			defer s.wg.Done()
			expiry.RunSweeper(ctx, o.SweepInterval, s.Sweep, func(err error) {
				s.log.Warn("memostore: sweep failed", "path", path, "err", err)
			})
		}()
	}
	return s, nil
}

// prepare makes sure path is safe to hand to bbolt: an existing file must
// pass checkFile; a missing one is created, unless the store is read-only.
func prepare(path string, readOnly bool) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return checkFile(path)
	case !errors.Is(err, os.ErrNotExist):
		return bare(err)
	case readOnly:
		return bare(err)
	}
	return create(path)
}

// Path returns the path of the store file.
func (s *Store) Path() string { return s.path }

// Now returns the current time of the store's clock (see WithClock).
func (s *Store) Now() int64 { return s.opts.Clock.Now().UnixNano() }

// hold takes the store's shared lifetime lock; the caller must call the
// returned function when done with db. It fails once Close has begun.
func (s *Store) hold() (release func(), err error) {
	s.life.RLock()
	if s.closed.Load() {
		s.life.RUnlock()
		return nil, driver.ErrClosed
	}
	return s.life.RUnlock, nil
}

// Exclusive reports whether the store was opened to hold its file alone
// (WithExclusive): its control endpoint then serves memoctl, and refuses
// followers (see control.Exclusive).
func (s *Store) Exclusive() bool { return s.opts.Exclusive }

// Close writes what is queued, stops the writer and the sweeper, and
// closes the file. It is safe to call more than once; later calls return
// the first call's result. Every other method returns ErrClosed after it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.ctl != nil {
			// Let the other processes' queued puts commit, and hear so,
			// before they are cut off; then they take over the file.
			ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
			s.Flush(ctx)
			cancel()
			s.ctl.Close()
		}
		s.life.Lock()
		s.closed.Store(true)
		s.life.Unlock()
		var err error
		if !s.opts.ReadOnly {
			s.cancel()
			s.queueCounters()
			close(s.stop)
			s.wg.Wait()
			if s.pol != nil {
				s.settleTierHits()
				s.savePolicy()
			}
			s.mu.Lock()
			if s.failErr != nil {
				err = fmt.Errorf("store: close %s: queued writes lost: %w", s.path, s.failErr)
			}
			s.mu.Unlock()
		}
		if cerr := s.db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("store: close %s: %w", s.path, cerr)
		}
		s.lock.release()
		s.closeErr = err
	})
	return s.closeErr
}

// closeFlushTimeout bounds the flush with which Close lets the other
// processes hear that their writes are committed.
const closeFlushTimeout = 5 * time.Second

// Flush waits until every write queued before it is committed to the file,
// or ctx ends. It returns the writer's error if commits are failing.
func (s *Store) Flush(ctx context.Context) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	if s.opts.ReadOnly {
		release()
		return nil
	}
	// A flush op carries the in-memory counters to the file even when no
	// entry is queued.
	o := &op{kind: opFlush, wait: make(chan error, 1)}
	err = s.enqueue(ctx, o, release)
	if err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	return nil
}

// Sweep deletes the entries that have expired, in batches of bounded size,
// and returns how many it deleted. The background sweeper calls it every
// WithSweepInterval.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		release, err := s.hold()
		if err != nil {
			return total, err
		}
		if s.opts.ReadOnly {
			release()
			return 0, fmt.Errorf("store: sweep %s: read-only", s.path)
		}
		n, full := 0, false
		o := &op{kind: opFunc, wait: make(chan error, 1), fn: func(tx *bolt.Tx, st *txState) error {
			var err error
			n, full, err = st.sweep(tx, s.Now(), sweepBatch)
			return err
		}}
		if err := s.enqueue(ctx, o, release); err != nil {
			return total, fmt.Errorf("store: sweep: %w", err)
		}
		total += n
		if !full {
			return total, nil
		}
	}
}

// Clear deletes every entry of the named namespace, or of every namespace
// if name is "", and resets their counters. It returns once the deletion is
// committed. Namespaces and their recorded versions and types remain.
//
// Every other process using the file has emptied its memory tiers of
// those namespaces when Clear returns.
func (s *Store) Clear(ctx context.Context, name string) error {
	return s.clear(ctx, name, nil)
}

// clear is Clear, on behalf of the process of session except (nil: this
// one), which empties its own memory tiers.
func (s *Store) clear(ctx context.Context, name string, except *session) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	if s.opts.ReadOnly {
		release()
		return fmt.Errorf("store: clear %s: read-only", s.path)
	}
	s.mu.RLock()
	var spaces []*space
	for n, sp := range s.spaces {
		if name == "" || n == name {
			spaces = append(spaces, sp)
		}
	}
	s.mu.RUnlock()
	if name != "" && len(spaces) == 0 {
		release()
		return fmt.Errorf("store: clear: no namespace %q in %s", name, s.path)
	}
	// The memory tiers first: from here until the deletion is committed,
	// computations keep nothing, so that none stores a value computed
	// before the Clear after it (see MemoryTier).
	s.mu.RLock()
	var tiers []driver.MemoryTier
	for _, sp := range spaces {
		if sp.tier != nil {
			tiers = append(tiers, sp.tier)
		}
	}
	s.mu.RUnlock()
	for _, t := range tiers {
		defer t.Purge(true)()
	}
	// The other processes' puts are stale from here (see invalidating);
	// they are told, before this one's tiers keep results again.
	tell := s.invalidating(name, nil, true, except)
	o := &op{kind: opFunc, wait: make(chan error, 1), fn: func(tx *bolt.Tx, st *txState) error {
		for _, sp := range spaces {
			if err := st.clear(tx, sp); err != nil {
				return err
			}
		}
		return nil
	}}
	err = s.enqueue(ctx, o, release)
	for _, sp := range spaces {
		s.revoke(sp, nil)
	}
	tell(ctx)
	if err != nil {
		return fmt.Errorf("store: clear: %w", err)
	}
	return nil
}

// Stats returns the store's counters (see store.Store.Stats), read from
// memory; after Close, with ErrClosed.
func (s *Store) Stats(context.Context) (driver.Stats, error) {
	if s.closed.Load() {
		return s.stats(), driver.ErrClosed
	}
	return s.stats(), nil
}

// stats returns the store's counters, read from memory.
func (s *Store) stats() driver.Stats {
	st := driver.Stats{Path: s.path, Backend: "bbolt", FormatVersion: FormatVersion, MaxBytes: s.opts.MaxBytes}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileSize = fi.Size()
	}
	var tiers []driver.MemoryTier
	s.mu.RLock()
	st.Queued, st.QueuedBytes = len(s.queue), s.qbytes
	for _, sp := range s.spaces {
		c := sp.c
		d := sp.unsaved()
		c.Add(&d)
		st.Entries += c.Entries
		st.Bytes += c.Bytes
		ns := driver.NamespaceStats{
			Name: sp.name, Version: sp.meta.Version, KeyType: sp.meta.KeyType, ValueType: sp.meta.ValueType,
			Created: sp.meta.Created, Claimed: s.claims[sp.name],
		}
		c.Stats(&ns)
		tiers = append(tiers, sp.tier)
		st.Namespaces = append(st.Namespaces, ns)
	}
	s.mu.RUnlock()
	// Tiers report their sizes outside the store's lock: they take their
	// own, and a tier must never wait on the store while the store waits
	// on it.
	for i, t := range tiers {
		if t != nil {
			st.Namespaces[i].MemSize, st.Namespaces[i].MemMax = t.Size()
		}
	}
	s.mu.RLock()
	s.memSizes(&st)
	s.mu.RUnlock()
	sort.Slice(st.Namespaces, func(i, j int) bool { return st.Namespaces[i].Name < st.Namespaces[j].Name })
	st.PID = os.Getpid()
	return st
}
