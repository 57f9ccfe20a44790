package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
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

// NamespaceSpec is the identity of a namespace besides its name. Opening a
// namespace with a spec that differs from the stored one drops its entries.
type NamespaceSpec struct {
	Version   string // the user's version (memo.Version)
	KeyType   string // readable name of the key type
	KeyID     string // fingerprint of the key type's shape (codec.TypeID)
	ValueType string
	ValueID   string
}

// nsMeta is a namespace's record in the "namespaces" bucket.
type nsMeta struct {
	NamespaceSpec
	Created int64 `json:"created"` // Unix nanoseconds
}

// space is a namespace as the Store tracks it.
type space struct {
	name                       string
	dataName, expName, ageName []byte
	meta                       nsMeta
	c                          counters       // as committed; guarded by Store.mu
	d                          deltas         // gathered since the last commit
	pending                    map[string]*op // queued puts and deletes by key; guarded by Store.mu
	tier                       MemoryTier     // attached in this process; guarded by Store.mu
	pulled                     counters       // tier's counts already in c; guarded by Store.mu
}

func newSpace(name string, meta nsMeta, c counters) *space {
	return &space{
		name:     name,
		dataName: []byte("d/" + name),
		expName:  []byte("e/" + name),
		ageName:  []byte("a/" + name),
		meta:     meta,
		c:        c,
		pending:  map[string]*op{},
	}
}

// loadSpaces reads every namespace's metadata and counters: O(namespaces).
func (s *fileStore) loadSpaces(tx *bolt.Tx) error {
	counts := tx.Bucket(bucketCounters)
	return tx.Bucket(bucketNamespaces).ForEach(func(k, v []byte) error {
		var m nsMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("%w: namespace %q has unreadable metadata: %v", ErrCorrupt, k, err)
		}
		name := string(k)
		s.spaces[name] = newSpace(name, m, unmarshalCounters(counts.Get(k)))
		return nil
	})
}

// A fileNS is a namespace of the bbolt backend.
type fileNS struct {
	s  *fileStore
	sp *space
}

// namespace claims the namespace name for this process (see
// Store.Namespace).
func (s *fileStore) namespace(ctx context.Context, name string, spec NamespaceSpec) (nsBackend, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	if s.opts.readOnly {
		release()
		return nil, fmt.Errorf("store: namespace %q: %s is open read-only", name, s.path)
	}
	s.mu.Lock()
	if s.claims[name] {
		s.mu.Unlock()
		release()
		return nil, fmt.Errorf("store: namespace %q is already in use in this process", name)
	}
	s.claims[name] = true
	old := s.spaces[name]
	s.mu.Unlock()

	var (
		sp   *space
		meta nsMeta
	)
	o := &op{kind: opFunc, wait: make(chan error, 1)}
	o.fn = func(tx *bolt.Tx, st *txState) error {
		var err error
		sp, meta, err = s.openSpace(tx, st, name, spec, old)
		return err
	}
	o.after = func() {
		sp.meta = meta
		s.spaces[name] = sp
	}
	if err := s.enqueue(ctx, o, release); err != nil {
		s.mu.Lock()
		delete(s.claims, name)
		s.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q: %w", name, err)
	}
	return &fileNS{s: s, sp: sp}, nil
}

// openSpace creates the namespace, or resets it if its spec changed.
// The new identity is returned for the caller to install with the commit,
// as an existing space is shared with readers.
func (s *fileStore) openSpace(tx *bolt.Tx, st *txState, name string, spec NamespaceSpec, old *space) (*space, nsMeta, error) {
	if old != nil && old.meta.NamespaceSpec == spec {
		return old, old.meta, nil
	}
	meta := nsMeta{NamespaceSpec: spec, Created: s.Now()}
	sp := old
	if sp == nil {
		sp = newSpace(name, meta, counters{})
	} else {
		s.log.Warn("memostore: namespace changed; dropping its entries",
			"path", s.path, "namespace", name, "entries", old.c.Entries,
			"old_version", old.meta.Version, "new_version", spec.Version,
			"old_key", old.meta.KeyType, "new_key", spec.KeyType,
			"old_value", old.meta.ValueType, "new_value", spec.ValueType,
			"types_changed", old.meta.KeyID != spec.KeyID || old.meta.ValueID != spec.ValueID)
		if err := st.clear(tx, sp); err != nil {
			return nil, meta, err
		}
	}
	if _, err := st.bucketsOf(tx, sp); err != nil {
		return nil, meta, err
	}
	v, err := json.Marshal(meta)
	if err != nil {
		return nil, meta, err
	}
	if err := tx.Bucket(bucketNamespaces).Put([]byte(name), v); err != nil {
		return nil, meta, err
	}
	st.counters(sp) // write its counters with this transaction
	return sp, meta, nil
}

// Lookup finds the record stored under key and, if it is present, has not
// expired and passes its checksum, calls decode with its payload and its
// expires-at (Unix nanoseconds, 0 = never) and reports true. decode runs inside a read transaction: payload is valid
// only until it returns. Queued writes are seen before they are committed.
//
// A record that fails its checksum, or that decode rejects, is treated as
// absent: it is counted (DecodeErrors), logged and deleted.
func (n *fileNS) Lookup(key []byte, decode DecodeFunc) (bool, error) {
	s := n.s
	release, err := s.use()
	if err != nil {
		return false, err
	}
	defer release()
	now := s.Now()
	s.mu.RLock()
	o := n.sp.pending[string(key)]
	s.mu.RUnlock()
	if o != nil {
		if o.kind == opDelete {
			return false, nil
		}
		ok, _ := n.use(o.rec, key, now, decode)
		return ok, nil
	}
	found := false
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(n.sp.dataName)
		if b == nil {
			return nil
		}
		if rec := b.Get(key); rec != nil {
			found, _ = n.use(rec, key, now, decode)
		}
		return nil
	})
	return found, err
}

// use decodes rec for Lookup. A bad record is counted, logged and queued
// for deletion; if rec is itself still queued, the delete follows its write.
func (n *fileNS) use(rec, key []byte, now int64, decode DecodeFunc) (bool, error) {
	ok, err := openRecord(rec, key, now, decode)
	if err == nil {
		return ok, nil
	}
	n.sp.d.decodeErrors.Add(1)
	n.s.log.Warn("memostore: dropping a record that does not decode", "path", n.s.path, "namespace", n.sp.name, "err", err)
	if !n.s.opts.readOnly {
		// Queue the delete without waiting: Lookup runs inside a read
		// transaction, and must not wait on the writer from there.
		o := &op{kind: opDeleteIf, sp: n.sp, key: bytes.Clone(key), rec: bytes.Clone(rec)}
		n.s.tryEnqueue(o)
	}
	return false, err
}

// openRecord hands the payload of rec, the record stored under key, to
// decode, unless rec has expired at now (false, nil). The error is the
// record's (a bad header, or a checksum that does not hold for rec under
// key) or decode's: the record is then bad, on either backend.
func openRecord(rec, key []byte, now int64, decode DecodeFunc) (bool, error) {
	h, err := codec.ParseHeader(rec)
	if err != nil {
		return false, err
	}
	if h.Expired(now) {
		return false, nil
	}
	payload, err := codec.Payload(rec, key)
	if err == nil {
		err = decode(payload, h.StoredAt, h.ExpiresAt)
	}
	return err == nil, err
}

// tryEnqueue queues o if the queue has room, and otherwise drops it.
func (s *fileStore) tryEnqueue(o *op) {
	s.mu.Lock()
	if s.qbytes+int64(len(o.rec)) > s.opts.queueBytes {
		s.mu.Unlock()
		return
	}
	s.seq++
	o.seq = s.seq
	s.queue = append(s.queue, o)
	s.qbytes += int64(len(o.rec))
	s.mu.Unlock()
	signal(s.wake)
}

// Put stores rec, a record made by package codec for key, under key. It
// queues the write and returns, unless the store was opened
// WithSyncWrites: then it returns once the write is committed. The queued record is visible to
// Lookup at once. key and rec must not be changed afterwards.
//
// Records over MaxRecordBytes, records whose header does not parse, and
// keys that are empty or too long for bbolt and the indexes are refused
// (counted as write errors): queued, they would fail every commit. Put
// waits for room when the queue is full, until ctx ends.
func (n *fileNS) Put(ctx context.Context, key, rec []byte) error {
	if len(rec) > MaxRecordBytes {
		n.sp.d.writeErrors.Add(1)
		return fmt.Errorf("store: put in %q: record of %d bytes exceeds MaxRecordBytes (%d)", n.sp.name, len(rec), MaxRecordBytes)
	}
	if len(key) == 0 || len(key) > maxKeyBytes {
		n.sp.d.writeErrors.Add(1)
		return fmt.Errorf("store: put in %q: key of %d bytes, want 1 to %d", n.sp.name, len(key), maxKeyBytes)
	}
	if _, err := codec.ParseHeader(rec); err != nil {
		n.sp.d.writeErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w", n.sp.name, err)
	}
	o := &op{kind: opPut, sp: n.sp, key: key, rec: rec}
	o.through = int64(len(rec)) > n.s.opts.queueBytes
	return n.write(ctx, o, n.s.opts.syncWrites || o.through)
}

// maxKeyBytes is the longest key Put accepts: bbolt's limit, less the
// time prefix of the index keys made from it.
const maxKeyBytes = bolt.MaxKeySize - expiry.IndexKeySize

// Delete removes the entry under key, if any. Like Put, it writes behind
// unless the store was opened WithSyncWrites.
func (n *fileNS) Delete(ctx context.Context, key []byte) error {
	o := &op{kind: opDelete, sp: n.sp, key: key}
	return n.write(ctx, o, n.s.opts.syncWrites)
}

func (n *fileNS) write(ctx context.Context, o *op, wait bool) error {
	release, err := n.s.use()
	if err != nil {
		return err
	}
	if wait {
		o.wait = make(chan error, 1)
	}
	if err := n.s.enqueue(ctx, o, release); err != nil {
		if o.kind == opPut {
			n.sp.d.writeErrors.Add(1)
		}
		return fmt.Errorf("store: write in %q: %w", n.sp.name, err)
	}
	return nil
}

// Clear deletes every entry of the namespace and resets its counters, and
// returns once that is committed.
func (n *fileNS) Clear(ctx context.Context) error {
	return n.s.Clear(ctx, n.sp.name)
}

// CountHit counts a call answered without running the function; fromDisk
// says it was served from the file.
func (n *fileNS) CountHit(fromDisk bool) {
	n.sp.d.hits.Add(1)
	if fromDisk {
		n.sp.d.diskHits.Add(1)
	}
}

// CountMiss counts a call that ran the function.
func (n *fileNS) CountMiss() { n.sp.d.misses.Add(1) }

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

// Attach attaches the memory tier t to the namespace, replacing any
// before. Calls that t counts from now on are added to the namespace's
// counters; CountHit and CountMiss need not be called for them.
func (n *fileNS) Attach(t MemoryTier) {
	n.s.mu.Lock()
	n.sp.tier = t
	n.sp.pulled = tierCounts(t)
	n.s.mu.Unlock()
}

// Acquire returns at once: a file is held by one process, whose calls for
// a key are already one flight (see Store.Namespace).
func (n *fileNS) Acquire(context.Context, []byte, DecodeFunc) (bool, func(), error) {
	return false, func() {}, nil
}
