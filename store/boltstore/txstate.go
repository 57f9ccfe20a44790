package boltstore

import (
	"bytes"
	"encoding/binary"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// txState is what one write transaction changes besides the data: working
// copies of the counters of the namespaces it touches, installed in memory
// only if the transaction commits. Only the writer goroutine makes one.
type txState struct {
	s       *Store
	spaces  []*space // every namespace, as of the transaction's start
	work    map[*space]*counters
	taken   map[*space]counters // deltas counted in, dropped from memory on commit
	pulled  map[*space]counters // memory tiers' counts as counted in
	tiers   map[*space]tierSnap // the attached tiers, as of the transaction's start
	buckets map[*space]*spaceBuckets
	orphans map[*space]map[string]bool // keys of damaged records removed
	over    bool                       // eviction stopped at its bound with the store still too big
	pos     *policyPos                 // the eviction policy's position, copied at first use (see position)
	// What eviction changed of the policy's shared state, applied if the
	// transaction commits (install), as pos is: the use counts the hand
	// spent, by key hash, and the keys that lost their place, for the
	// ghosts. A failed commit's retry starts from the same hand, and must
	// find the counts it passed as they were.
	spent map[uint64]uint8
	lost  []lostKey
	ik    []byte // scratch for the index keys remove deletes (bbolt keeps no key it deletes)
}

// position returns the transaction's copy of the eviction policy's
// position, installed if it commits. The store must have a policy.
func (st *txState) position() *policyPos {
	if st.pos == nil {
		p := st.s.pol.pos
		st.pos = &p
	}
	return st.pos
}

// spaceBuckets are a namespace's buckets in one transaction. s, the stale
// index, is nil until an entry needs it (staleIndex).
type spaceBuckets struct {
	tx         *bolt.Tx
	d, e, a, s *bolt.Bucket
	// One cursor a bucket for the transaction's deletes (see del), made
	// when first needed.
	cd, ce, ca, cs *bolt.Cursor
}

// seek finds key in the bucket *c walks, through *c, made on first use
// from b, and returns its value (nil, and not found, if key is absent:
// never the value of the key after it): one cursor a bucket
// for a transaction's reads and deletes, where bolt.Bucket's Get and
// Delete make a cursor, and grow its stack, for each. A sweep of 100,000
// expired entries reads 100,000 records and deletes 300,000 keys
// (BenchmarkSweep); Seek repositions the cursor whatever the deletes
// before it changed.
func seek(b *bolt.Bucket, c **bolt.Cursor, key []byte) (v []byte, found bool) {
	if *c == nil {
		*c = b.Cursor()
	}
	k, v := (*c).Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

// del deletes key from b through the cursor *c (see seek).
func del(b *bolt.Bucket, c **bolt.Cursor, key []byte) error {
	if _, found := seek(b, c, key); found {
		return (*c).Delete()
	}
	return nil
}

// staleIndex returns sp's stale index, made if make is set and it is
// missing; else nil if it is.
func (st *txState) staleIndex(sp *space, b *spaceBuckets, make bool) (*bolt.Bucket, error) {
	if b.s != nil {
		return b.s, nil
	}
	if b.s = b.tx.Bucket(sp.staleName); b.s != nil || !make {
		return b.s, nil
	}
	var err error
	b.s, err = b.tx.CreateBucket(sp.staleName)
	return b.s, err
}

// tierSnap is a namespace's attached memory tier and the counts of it
// already counted in, read under Store.mu when a transaction starts: Attach
// may replace them meanwhile, and the writer reads them without the lock.
type tierSnap struct {
	t      driver.MemoryTier
	pulled counters
}

// newTxState starts the state of a transaction. s.mu must be held. It takes
// the in-memory deltas of every namespace, so that counts gathered by hits
// reach the file with the next commit.
func (s *Store) newTxState() *txState {
	st := &txState{
		s:       s,
		work:    map[*space]*counters{},
		taken:   map[*space]counters{},
		pulled:  map[*space]counters{},
		tiers:   map[*space]tierSnap{},
		buckets: map[*space]*spaceBuckets{},
		orphans: map[*space]map[string]bool{},
	}
	for _, sp := range s.spaces {
		st.spaces = append(st.spaces, sp)
		if sp.tier != nil {
			st.tiers[sp] = tierSnap{sp.tier, sp.pulled}
		}
		if sp.unsaved() != (counters{}) {
			st.counters(sp)
		}
	}
	return st
}

// counters returns the working copy of sp's counters.
func (st *txState) counters(sp *space) *counters {
	if c := st.work[sp]; c != nil {
		return c
	}
	c := sp.c // only the writer, which runs this, changes sp.c
	st.taken[sp] = sp.d.Take(&c)
	if ts := st.tiers[sp]; ts.t != nil {
		now := tally.Tier(ts.t)
		d := now.Minus(&ts.pulled)
		c.Add(&d)
		st.pulled[sp] = now
	}
	st.work[sp] = &c
	return &c
}

func (st *txState) bucketsOf(tx *bolt.Tx, sp *space) (*spaceBuckets, error) {
	if b := st.buckets[sp]; b != nil {
		return b, nil
	}
	b := spaceBuckets{tx: tx}
	var err error
	if b.d, err = tx.CreateBucketIfNotExists(sp.dataName); err != nil {
		return nil, err
	}
	if b.e, err = tx.CreateBucketIfNotExists(sp.expName); err != nil {
		return nil, err
	}
	if b.a, err = tx.CreateBucketIfNotExists(sp.ageName); err != nil {
		return nil, err
	}
	st.buckets[sp] = &b
	return &b, nil
}

func (st *txState) apply(tx *bolt.Tx, o *op) error {
	switch o.kind {
	case opPut:
		return st.put(tx, o.sp, o.key, o.rec, o.at)
	case opDelete, opDeleteIf:
		b, err := st.bucketsOf(tx, o.sp)
		if err != nil {
			return err
		}
		old := b.d.Get(o.key)
		if old == nil || o.kind == opDeleteIf && !bytes.Equal(old, o.rec) {
			return nil
		}
		return st.remove(b, o.sp, o.key, old)
	case opFunc:
		return o.fn(tx, st)
	}
	return nil
}

// put stores rec under key, in place of what key held. A record that had
// expired already at at, when the put was made, is not kept or counted (as
// on Redis, which cannot keep it); one that expired while it was queued is
// kept, for the sweeper, as if it had been committed at once.
func (st *txState) put(tx *bolt.Tx, sp *space, key, rec []byte, at int64) error {
	b, err := st.bucketsOf(tx, sp)
	if err != nil {
		return err
	}
	if old := b.d.Get(key); old != nil {
		if err := st.remove(b, sp, key, old); err != nil {
			return err
		}
	}
	h, err := codec.ParseHeader(rec)
	if err != nil {
		return err
	}
	if h.Expired(at) {
		return nil // see above: it replaces what key held
	}
	if err := b.d.Put(key, rec); err != nil {
		return err
	}
	if err := b.a.Put(expiry.AppendIndexKey(nil, h.StoredAt, key), nil); err != nil {
		return err
	}
	if h.ExpiresAt != expiry.Never {
		if err := b.e.Put(expiry.AppendIndexKey(nil, h.ExpiresAt, key), nil); err != nil {
			return err
		}
	}
	if at := h.StaleAt(); at != 0 {
		s, err := st.staleIndex(sp, b, true)
		if err != nil {
			return err
		}
		if err := s.Put(expiry.AppendIndexKey(nil, at, key), binary.BigEndian.AppendUint64(nil, uint64(h.ExpiresAt))); err != nil {
			return err
		}
	}
	if st.s.pol != nil {
		if p := st.position(); p.inWindow(expiry.AppendIndexKey(nil, h.StoredAt, key)) {
			p.winBytes += int64(len(key) + len(rec))
		}
	}
	c := st.counters(sp)
	c.Entries++
	c.Bytes += int64(len(key) + len(rec))
	c.Writes++
	return nil
}

// remove deletes the entry key, whose record is rec, and its index keys.
func (st *txState) remove(b *spaceBuckets, sp *space, key, rec []byte) error {
	size := int64(len(key) + len(rec))
	// The index keys go with the record, found by its timestamps. If the
	// record fails its header or checksum, its timestamps may be wrong:
	// the keys are then also looked for by entry key, in one pass over
	// the namespace's indexes at the end of the transaction (dropOrphans),
	// a cost paid only for damaged records.
	h, err := codec.ParseHeader(rec)
	if err == nil {
		_, err = codec.Payload(rec, key)
	}
	if err != nil {
		if st.orphans[sp] == nil {
			st.orphans[sp] = map[string]bool{}
		}
		st.orphans[sp][string(key)] = true
	}
	if err == nil || len(rec) >= codec.HeaderSize {
		st.ik = expiry.AppendIndexKey(st.ik[:0], h.StoredAt, key)
		if err := del(b.a, &b.ca, st.ik); err != nil {
			return err
		}
		if st.s.pol != nil {
			if p := st.position(); p.inWindow(st.ik) {
				p.winBytes = max(p.winBytes-size, 0)
			}
		}
		if h.ExpiresAt != expiry.Never {
			st.ik = expiry.AppendIndexKey(st.ik[:0], h.ExpiresAt, key)
			if err := del(b.e, &b.ce, st.ik); err != nil {
				return err
			}
		}
		if at := h.StaleAt(); at != 0 {
			if s, err := st.staleIndex(sp, b, false); err != nil {
				return err
			} else if s != nil {
				st.ik = expiry.AppendIndexKey(st.ik[:0], at, key)
				if err := del(s, &b.cs, st.ik); err != nil {
					return err
				}
			}
		}
	}
	if err := del(b.d, &b.cd, key); err != nil {
		return err
	}
	c := st.counters(sp)
	c.Entries--
	c.Bytes -= size
	return nil
}

// clear deletes every entry of sp and resets its counters; under
// eviction, the window's count of bytes loses those of sp's entries in
// the window (remove does so entry by entry).
func (st *txState) clear(tx *bolt.Tx, sp *space) error {
	if st.s.pol != nil {
		if err := st.leaveWindowAll(tx, sp); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{sp.dataName, sp.expName, sp.ageName, sp.staleName} {
		if err := tx.DeleteBucket(name); err != nil && tx.Bucket(name) != nil {
			return err
		}
	}
	delete(st.buckets, sp)
	if _, err := st.bucketsOf(tx, sp); err != nil {
		return err
	}
	*st.counters(sp) = counters{}
	return nil
}

// leaveWindowAll takes the bytes of sp's entries in the window off the
// window's count, before clear deletes them: the window's entries of sp
// are those of its age index at or after b.
func (st *txState) leaveWindowAll(tx *bolt.Tx, sp *space) error {
	b, err := st.bucketsOf(tx, sp)
	if err != nil {
		return err
	}
	p := st.position()
	c := b.a.Cursor()
	for ik, _ := c.Seek(p.b); ik != nil && p.winBytes > 0; ik, _ = c.Next() {
		at, key, err := expiry.ParseIndexKey(ik)
		if err != nil {
			continue
		}
		// Not a stale index key (its entry replaced since): that
		// entry is counted under its own.
		if rec := b.d.Get(key); rec != nil {
			if h, err := codec.ParseHeader(rec); err != nil || h.StoredAt == at {
				p.winBytes = max(p.winBytes-int64(len(key)+len(rec)), 0)
			}
		}
	}
	return nil
}

// dropOrphans deletes the index keys left by damaged records removed in
// this transaction: those whose entry key is one of theirs and whose
// record is gone.
func (st *txState) dropOrphans(tx *bolt.Tx) error {
	for sp, keys := range st.orphans {
		b, err := st.bucketsOf(tx, sp)
		if err != nil {
			return err
		}
		s, err := st.staleIndex(sp, b, false)
		if err != nil {
			return err
		}
		for _, idx := range []struct {
			b    *bolt.Bucket
			kind byte
		}{{b.a, 'a'}, {b.e, 'e'}, {s, 's'}} {
			if idx.b == nil {
				continue
			}
			var drop [][]byte
			c := idx.b.Cursor()
			for ik, _ := c.First(); ik != nil; ik, _ = c.Next() {
				at, key, err := expiry.ParseIndexKey(ik)
				if err != nil || !keys[string(key)] {
					continue
				}
				// Keep the key of a record stored since, if it is its own.
				if rec := b.d.Get(key); rec != nil {
					if h, err := codec.ParseHeader(rec); err == nil && indexTime(h, idx.kind) == at {
						continue
					}
				}
				drop = append(drop, bytes.Clone(ik))
			}
			for _, ik := range drop {
				if err := idx.b.Delete(ik); err != nil {
					return err
				}
			}
		}
	}
	clear(st.orphans)
	return nil
}

// indexTime returns the time under which a record with header h is in the
// index kind: 'a' (age), 'e' (expiry) or 's' (stale).
func indexTime(h codec.Header, kind byte) int64 {
	switch kind {
	case 'a':
		return h.StoredAt
	case 'e':
		return h.ExpiresAt
	}
	return h.StaleAt()
}

// save drops orphaned index keys and writes the working counters into the
// file; every write transaction ends with it.
func (st *txState) save(tx *bolt.Tx) error {
	if err := st.dropOrphans(tx); err != nil {
		return err
	}
	b := tx.Bucket(bucketCounters)
	for sp, c := range st.work {
		if err := b.Put([]byte(sp.name), marshalCounters(c)); err != nil {
			return err
		}
	}
	return nil
}

// install makes the committed counters the ones in memory, and drops the
// deltas they now include. s.mu must be held.
func (st *txState) install() {
	if st.pos != nil {
		st.s.pol.pos = *st.pos
		if at, _, err := expiry.ParseIndexKey(st.pos.b); err == nil {
			st.s.pol.bAt.Store(at)
		}
	}
	if len(st.spent) > 0 {
		uses := st.s.pol.uses.Load()
		for h, n := range st.spent {
			for range n {
				uses.dec(h)
			}
		}
	}
	for _, l := range st.lost {
		st.s.pol.steer.lost(l.h, l.rejected)
	}
	for sp, c := range st.work {
		sp.c = *c
	}
	for sp, t := range st.taken {
		sp.d.Drop(&t)
	}
	for sp, p := range st.pulled {
		// Unless Attach replaced the tier since: its counts start afresh.
		if sp.tier == st.tiers[sp].t {
			sp.pulled = p
		}
	}
}
