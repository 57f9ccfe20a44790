package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// nsMeta is a namespace's record in the "namespaces" bucket.
type nsMeta struct {
	driver.NamespaceSpec
	Created int64 `json:"created"` // Unix nanoseconds
}

// space is a namespace as the Store tracks it.
type space struct {
	name                       string
	dataName, expName, ageName []byte
	staleName                  []byte
	meta                       nsMeta
	c                          counters          // as committed; guarded by Store.mu
	d                          tally.Deltas      // gathered since the last commit
	pending                    map[string]*op    // queued puts and deletes by key; guarded by Store.mu
	tier                       driver.MemoryTier // attached in this process; guarded by Store.mu
	pulled                     counters          // tier's counts already in c; guarded by Store.mu
	polHash                    uint64            // the name's hash, for the eviction policy's (see policy.hash)
}

func newSpace(name string, meta nsMeta, c counters) *space {
	return &space{
		name:      name,
		dataName:  []byte("d/" + name),
		expName:   []byte("e/" + name),
		ageName:   []byte("a/" + name),
		staleName: []byte("s/" + name),
		polHash:   nameHash(name),
		meta:      meta,
		c:         c,
		pending:   map[string]*op{},
	}
}

// loadSpaces reads every namespace's metadata and counters: O(namespaces).
func (s *Store) loadSpaces(tx *bolt.Tx) error {
	counts := tx.Bucket(bucketCounters)
	return tx.Bucket(bucketNamespaces).ForEach(func(k, v []byte) error {
		var m nsMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("%w: namespace %q has unreadable metadata: %v", driver.ErrCorrupt, k, err)
		}
		name := string(k)
		s.spaces[name] = newSpace(name, m, unmarshalCounters(counts.Get(k)))
		return nil
	})
}

// A Namespace is a namespace of the bbolt backend.
type Namespace struct {
	s  *Store
	sp *space
}

// namespace claims the namespace name for this process (see
// Store.Namespace).
func (s *Store) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (driver.Namespace, error) {
	release, err := s.hold()
	if err != nil {
		return nil, err
	}
	if s.opts.ReadOnly {
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
	s.mu.Unlock()
	release()
	sp, err := s.space(ctx, name, spec, nil)
	if err != nil {
		s.mu.Lock()
		delete(s.claims, name)
		s.mu.Unlock()
		return nil, err
	}
	return &Namespace{s: s, sp: sp}, nil
}

// space returns the namespace name with spec, creating it, or resetting
// it if its spec differs, in a commit of its own; by is the connection of
// the process that asks, nil for this one's.
//
// A spec does not change while another process uses the namespace (or
// this one, if by is another's connection): the namespace is one set of
// entries, and each would be served the other's, decoded as its own
// types (two releases of a program during a rolling upgrade, say). The
// claim is refused, with an error that names the spec in use; the
// namespace changes once the other process is gone.
func (s *Store) space(ctx context.Context, name string, spec driver.NamespaceSpec, by *session) (*space, error) {
	release, err := s.hold()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	old := s.spaces[name]
	s.mu.RUnlock()
	var (
		sp      *space
		meta    nsMeta
		refused error
	)
	o := &op{kind: opFunc, wait: make(chan error, 1)}
	o.fn = func(tx *bolt.Tx, st *txState) error {
		if old != nil && old.meta.NamespaceSpec != spec && s.inUse(name, by) {
			// Not an error of the transaction, which has other ops.
			sp, meta = old, old.meta
			refused = fmt.Errorf("store: namespace %q is in use by another process with another spec (version %q, key %s, value %s); it can change once that process is gone",
				name, old.meta.Version, old.meta.KeyType, old.meta.ValueType)
			return nil
		}
		var err error
		sp, meta, err = s.openSpace(tx, st, name, spec, old)
		return err
	}
	o.after = func() {
		sp.meta = meta
		s.spaces[name] = sp
	}
	if err := s.enqueue(ctx, o, release); err != nil {
		return nil, fmt.Errorf("store: namespace %q: %w", name, err)
	}
	if refused != nil {
		return nil, refused
	}
	return sp, nil
}

// openSpace creates the namespace, or resets it if its spec changed.
// The new identity is returned for the caller to install with the commit,
// as an existing space is shared with readers.
func (s *Store) openSpace(tx *bolt.Tx, st *txState, name string, spec driver.NamespaceSpec, old *space) (*space, nsMeta, error) {
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

// inUse reports whether a process other than the one of by (nil: this
// one) has claimed namespace name: this one, or another connected.
func (s *Store) inUse(name string, by *session) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if by != nil && s.claims[name] {
		return true
	}
	for ss := range s.sessions {
		if ss != by && ss.uses(name) {
			return true
		}
	}
	return false
}

// Lookup finds the record stored under key and, if it is present, has not
// expired and passes its checksum, calls decode with its payload and its
// expires-at (Unix nanoseconds, 0 = never) and reports true. decode runs inside a read transaction: payload is valid
// only until it returns. Queued writes are seen before they are committed.
//
// A record that fails its checksum, or that decode rejects, is treated as
// absent: it is counted (DecodeErrors), logged and deleted.
func (n *Namespace) Lookup(_ context.Context, key []byte, decode driver.DecodeFunc) (bool, error) {
	return n.lookup(key, decode, true)
}

// lookup is Lookup; it tells eviction of the lookup if note (see
// noteLookup): Acquire's lookups after its first are the same request
// looking again, not another use.
func (n *Namespace) lookup(key []byte, decode driver.DecodeFunc, note bool) (bool, error) {
	s := n.s
	release, err := s.hold()
	if err != nil {
		return false, err
	}
	defer release()
	now := s.Now()
	s.mu.RLock()
	o := n.sp.pending[string(key)]
	s.mu.RUnlock()
	if o != nil {
		if o.kind == opDelete || o.kind == opDeleteIf {
			n.noteLookupIf(note, key, nil)
			return false, nil
		}
		ok, _ := n.decodeFound(o.rec, key, now, decode)
		n.noteLookupIf(note, key, foundRecord(o.rec, ok))
		return ok, nil
	}
	found := false
	err = s.db.View(func(tx *bolt.Tx) error {
		var rec []byte
		if b := tx.Bucket(n.sp.dataName); b != nil {
			rec = b.Get(key)
		}
		if rec != nil {
			found, _ = n.decodeFound(rec, key, now, decode)
		}
		n.noteLookupIf(note, key, foundRecord(rec, found))
		return nil
	})
	return found, err
}

// foundRecord is rec if found, else nil.
func foundRecord(rec []byte, found bool) []byte {
	if !found {
		return nil
	}
	return rec
}

// noteLookupIf is noteLookup if note.
func (n *Namespace) noteLookupIf(note bool, key, rec []byte) {
	if note {
		n.noteLookup(key, rec)
	}
}

// noteLookup tells the eviction policy, if there is one, of a lookup of
// key, and of the record it found (nil: none).
func (n *Namespace) noteLookup(key, rec []byte) {
	if p := n.s.pol; p != nil {
		h, _ := codec.ParseHeader(rec) // rec parsed as it was found
		p.noteLookup(n.sp, key, rec != nil, h.StoredAt)
	}
}

// HearsUse reports whether the store evicts by use: it has WithMaxBytes.
func (n *Namespace) HearsUse() bool { return n.s.pol != nil }

// NoteUse tells the eviction policy, if there is one, of hits of key that
// a memory tier served (see store.Namespace.NoteUse).
func (n *Namespace) NoteUse(key []byte, hits int) {
	if p := n.s.pol; p != nil {
		p.noteUse(n.sp, key, hits)
	}
}

// decodeFound decodes rec, found for Lookup. A bad record is counted, logged and queued
// for deletion; if rec is itself still queued, the delete follows its write.
func (n *Namespace) decodeFound(rec, key []byte, now int64, decode driver.DecodeFunc) (bool, error) {
	ok, err := driver.OpenRecord(rec, key, now, decode)
	if err == nil {
		return ok, nil
	}
	n.sp.d.DecodeErrors.Add(1)
	n.s.log.Warn("memostore: dropping a record that does not decode", "path", n.s.path, "namespace", n.sp.name, "err", err)
	if !n.s.opts.ReadOnly {
		// Queue the delete without waiting: Lookup runs inside a read
		// transaction, and must not wait on the writer from there.
		o := &op{kind: opDeleteIf, sp: n.sp, key: bytes.Clone(key), rec: bytes.Clone(rec)}
		n.s.tryEnqueue(o)
	}
	return false, err
}

// tryEnqueue queues o if the queue has room, and otherwise drops it.
func (s *Store) tryEnqueue(o *op) {
	s.mu.Lock()
	if s.qbytes+int64(len(o.rec)) > s.opts.QueueBytes {
		s.mu.Unlock()
		return
	}
	s.seq++
	o.seq = s.seq
	s.queue = append(s.queue, o)
	s.qbytes += int64(len(o.rec))
	if p := o.sp.pending[string(o.key)]; o.kind == opDeleteIf && (p == nil || p.kind == opPut && bytes.Equal(p.rec, o.rec)) {
		// Gone for lookups from now: a second lookup before the commit
		// (Acquire's) must not find, count and log the bad record again.
		// Unless a newer write of the key is queued: the delete will not
		// touch it (its record differs), and lookups must still see it.
		o.sp.pending[string(o.key)] = o
	}
	s.mu.Unlock()
	signal(s.wake)
}

// Put queues rec, a record store has checked, for key, and returns,
// unless the store was opened WithSyncWrites: then it returns once the
// write is committed. The queued record is visible to Lookup at once. key
// and rec must not be changed afterwards. Put waits for room when the
// queue is full, until ctx ends.
func (n *Namespace) Put(ctx context.Context, key, rec []byte) error {
	o := &op{kind: opPut, sp: n.sp, key: key, rec: rec, at: n.s.Now()}
	o.through = int64(len(rec)) > n.s.opts.QueueBytes
	return n.write(ctx, o, n.s.opts.SyncWrites || o.through)
}

// driver.MaxKeyBytes, the longest key store lets through, must fit
// bbolt's limit less the time prefix of the index keys made from it.
const _ = uint(bolt.MaxKeySize - expiry.IndexKeySize - driver.MaxKeyBytes)

// Delete removes the entry under key, if any. Like Put, it writes behind
// unless the store was opened WithSyncWrites.
//
// Every other process using the file has forgotten key when Delete
// returns.
func (n *Namespace) Delete(ctx context.Context, key []byte) error {
	return n.del(ctx, key, nil)
}

// del is Delete, on behalf of the process of session except (nil: this
// one), which forgets key in its own memory tier.
func (n *Namespace) del(ctx context.Context, key []byte, except *session) error {
	tell := n.s.invalidating(n.sp.name, key, false, except) // before the delete is queued
	o := &op{kind: opDelete, sp: n.sp, key: key}
	err := n.write(ctx, o, n.s.opts.SyncWrites)
	n.s.revoke(n.sp, key)
	tell(ctx)
	return err
}

func (n *Namespace) write(ctx context.Context, o *op, wait bool) error {
	release, err := n.s.hold()
	if err != nil {
		return err
	}
	if wait {
		o.wait = make(chan error, 1)
	}
	if err := n.s.enqueue(ctx, o, release); err != nil {
		// A put never queued (refused, or no room in time) is counted
		// here; once queued, its failure is the writer's to count
		// (commitFailed, abandonQueue), and it may yet be committed: a
		// waiter told of a failed commit, or whose ctx ended, counted it
		// twice.
		if o.kind == opPut && o.seq == 0 {
			n.sp.d.WriteErrors.Add(1)
		}
		return fmt.Errorf("store: write in %q: %w", n.sp.name, err)
	}
	return nil
}

// Clear deletes every entry of the namespace and resets its counters, and
// returns once that is committed.
func (n *Namespace) Clear(ctx context.Context) error {
	return n.s.Clear(ctx, n.sp.name)
}

// Refused counts a write that store refused.
func (n *Namespace) Refused() { n.sp.d.WriteErrors.Add(1) }

// Attach attaches the memory tier t to the namespace, replacing any
// before. Calls that t counts from now on are added to the namespace's
// counters; CountHit and CountMiss need not be called for them.
func (n *Namespace) Attach(t driver.MemoryTier) {
	n.s.mu.Lock()
	n.sp.tier = t
	n.sp.pulled = tally.Tier(t)
	n.s.mu.Unlock()
}

// nameHash is the FNV-1a hash of a namespace's name.
func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}
