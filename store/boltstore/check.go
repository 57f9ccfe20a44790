package boltstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// Check verifies the whole file: bbolt's own consistency check (pages and
// freelist), then every record (header, checksum, well-formed payload),
// the agreement of the expiry and age indexes with the records, and each
// namespace's entry and byte counters against its records. Unlike
// everything else in the store it reads every entry. progress, if not nil,
// is called as records are read, with the total the counters promise.
//
// Every comparison is made within one bbolt transaction, so that a check
// of a store in use (memoctl check through the holder's control endpoint)
// sees records, index keys and counters as one commit left them, and
// finds no problem in a healthy store however busy its writer:
//
//   - bbolt's check reads the freelist, which a committing writer changes
//     without a lock bbolt's readers share: bbolt documents it as unsafe
//     in a read transaction beside a writer, and running it there both
//     reports pages in flight as damage and races on the freelist's maps
//     (a fatal error in the process holding the store). On a writable
//     store it therefore runs in a write transaction, where bbolt
//     documents it as safe: one of its own that changes nothing and is
//     rolled back, so that it need not wait for the writer's queue; the
//     writer waits for it, for as long as it takes, which is short next
//     to the record pass, as it decodes nothing. On a read-only store no
//     process can write, and it runs in the record pass's transaction.
//   - The record pass of a check without fix runs in one read
//     transaction, beside the writer: writes go on, and callers do not
//     wait for it. Entries and bytes are compared with the counters
//     stored in that same transaction: the writer rewrites them in every
//     transaction that changes a namespace's entries, and the counts only
//     memory holds (hits, misses, ...) never change entries or bytes.
//     A read transaction keeps bbolt from remapping the file: a commit
//     that must grow the mapping waits for the transaction to end, and
//     so does every read begun after it, every Lookup: for a pass of
//     seconds, every caller would wait. The pass therefore gives way: when
//     a commit has run beside it for giveWayAfter, it ends its transaction
//     and starts over in a new one, up to maxGiveWays times (a slow disk
//     can make commits long for other reasons; after that, the pass runs
//     to its end). Callers then wait about giveWayAfter at most for a
//     remap, instead of the rest of the pass.
//   - With fix, the whole check and its repairs run in one write
//     transaction of the writer's, alone, so that the repairs are made to
//     exactly what was checked and nothing (a write, the sweeper,
//     eviction) changes underneath: the store takes no writes meanwhile.
//     It deletes bad records, records missing from an index (the writer
//     never leaves one so: its key or an index key was damaged, and the
//     record may be another key's), and index keys that point nowhere,
//     and sets the counters to what remains; it lists each repair.
//     bbolt-level damage is reported, not repaired.
func (s *Store) Check(ctx context.Context, fix bool, progress func(done, total int64)) (*driver.CheckReport, error) {
	if fix && s.opts.ReadOnly {
		return nil, fmt.Errorf("store: check --fix %s: opened read-only", s.path)
	}
	var total int64
	for _, ns := range s.stats().Namespaces {
		total += ns.Entries
	}
	c := &checker{ctx: ctx, rep: &driver.CheckReport{}, progress: progress, total: total}
	var err error
	switch {
	case fix:
		err = s.checkFix(ctx, c)
	case s.opts.ReadOnly:
		err = s.checkRead(c, true)
	default:
		if err = s.checkPages(c); err == nil {
			err = s.checkRead(c, false)
		}
	}
	if err != nil {
		return c.rep, err
	}
	if progress != nil {
		progress(c.done, total)
	}
	c.rep.Records = c.done
	return c.rep, nil
}

// giveWayAfter is how long a commit may wait for a live Check's read
// transaction before the Check gives way; maxGiveWays bounds how often one
// Check does.
const (
	giveWayAfter = 100 * time.Millisecond
	maxGiveWays  = 3
)

// errGiveWay ends a record pass that gives way to a commit.
var errGiveWay = errors.New("store: check: giving way to a commit")

// checkRead runs the record pass in one read transaction, and bbolt's
// check in it too if pages (which only a read-only store may ask). On a
// writable store the pass gives way to a long commit (see Check).
func (s *Store) checkRead(c *checker, pages bool) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	defer release()
	done, found := c.done, len(c.rep.Problems)
	for tries := 0; ; tries++ {
		if !s.opts.ReadOnly && tries < maxGiveWays {
			// Only the time a commit runs beside this pass counts: one
			// may have waited for bbolt's check, in checkPages.
			began := time.Now().UnixNano()
			c.yield = func() bool {
				at := max(s.committing.Load(), began)
				return s.committing.Load() != 0 && time.Now().UnixNano()-at > int64(giveWayAfter)
			}
		} else {
			c.yield = nil
		}
		err := s.db.View(func(tx *bolt.Tx) error {
			if pages {
				c.pages(tx)
			}
			_, err := c.records(tx)
			return err
		})
		if err != errGiveWay {
			return err
		}
		// Start over, with the problems found before this pass only.
		c.done, c.rep.Problems = done, c.rep.Problems[:found]
	}
}

// checkPages runs bbolt's check in a write transaction that changes
// nothing and is rolled back: no commit can run beside it.
func (s *Store) checkPages(c *checker) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	defer tx.Rollback()
	c.pages(tx)
	return nil
}

// checkFix runs bbolt's check, the record pass and the repairs in one
// write transaction of the writer's, alone.
//
// A failed commit is retried by the writer after this returns, and ctx may
// end while the op is queued: gone tells the op to do nothing then, so that
// nothing writes into c once the caller has it back.
func (s *Store) checkFix(ctx context.Context, c *checker) error {
	release, err := s.hold()
	if err != nil {
		return err
	}
	result := make(chan *checker, 1)
	gone := make(chan struct{})
	o := &op{kind: opFunc, alone: true, wait: make(chan error, 1), fn: func(tx *bolt.Tx, st *txState) error {
		select {
		case <-gone:
			return nil
		default:
		}
		w := *c
		w.rep = &driver.CheckReport{}
		w.pages(tx)
		found, err := w.records(tx)
		if err != nil {
			// Cancelled: repair nothing, and fail no commit for it.
			return nil
		}
		if err := w.repair(tx, st, found); err != nil {
			return err
		}
		select {
		case result <- &w:
		default:
		}
		return nil
	}}
	err = s.enqueue(ctx, o, release)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		close(gone)
		return fmt.Errorf("store: check --fix: %w", err)
	}
	select {
	case w := <-result:
		*c = *w
		return nil
	default:
		return errors.New("store: check --fix: the writer did not run it")
	}
}

// checker is one run of Check.
type checker struct {
	ctx      context.Context
	rep      *driver.CheckReport
	progress func(done, total int64)
	done     int64
	total    int64
	yield    func() bool // if set and true, the pass gives way (see checkRead)
	ik       []byte      // scratch for index keys
}

func (c *checker) tick() {
	c.done++
	if c.progress != nil && c.done%1000 == 0 {
		c.progress(c.done, c.total)
	}
}

// pages runs bbolt's check of tx's pages and freelist. It must run where
// no other transaction can commit: in a write transaction, or on a
// read-only store.
func (c *checker) pages(tx *bolt.Tx) {
	for err := range tx.Check() {
		c.rep.Problemf("bbolt: %v", err)
	}
}

// A nsCheck is what the record pass found in one namespace.
type nsCheck struct {
	name    string
	counted counts   // what its counters say, as of the transaction
	present counts   // every record found, bad ones too
	drop    [][]byte // keys of records to delete
	stray   []stray  // index keys to delete
}

type counts struct{ entries, bytes int64 }

// A stray is an index key that points to no record.
type stray struct {
	index byte // 'e' or 'a'
	key   []byte
}

// records checks every namespace that tx holds, and the buckets of none.
func (c *checker) records(tx *bolt.Tx) ([]*nsCheck, error) {
	names := tx.Bucket(bucketNamespaces)
	checkOrphanBuckets(tx, names, c.rep)
	counters := tx.Bucket(bucketCounters)
	var found []*nsCheck
	err := names.ForEach(func(k, _ []byte) error {
		cnt := unmarshalCounters(counters.Get(k))
		n := &nsCheck{name: string(k), counted: counts{cnt.Entries, cnt.Bytes}}
		if err := c.namespace(tx, n); err != nil {
			return err
		}
		found = append(found, n)
		return nil
	})
	return found, err
}

// checkOrphanBuckets reports namespace buckets without a namespace.
func checkOrphanBuckets(tx *bolt.Tx, names *bolt.Bucket, rep *driver.CheckReport) {
	tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		n := string(name)
		if len(n) > 2 && n[1] == '/' && strings.ContainsRune("deas", rune(n[0])) {
			if names.Get([]byte(n[2:])) == nil {
				rep.Problemf("bucket %q belongs to no namespace", n)
			}
		}
		return nil
	})
}

// namespace checks n's records and index keys, and its counters against
// its records.
func (c *checker) namespace(tx *bolt.Tx, n *nsCheck) error {
	d, e, a := tx.Bucket([]byte("d/"+n.name)), tx.Bucket([]byte("e/"+n.name)), tx.Bucket([]byte("a/"+n.name))
	s := tx.Bucket([]byte("s/" + n.name)) // made by the first stale-able entry
	if d == nil || e == nil || a == nil {
		c.rep.Problemf("namespace %q: buckets missing", n.name)
		return nil
	}
	cur := d.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if c.yield != nil && n.present.entries%256 == 0 && c.yield() {
			return errGiveWay
		}
		c.tick()
		n.present.entries++
		n.present.bytes += int64(len(k) + len(v))
		if why := c.record(e, a, s, k, v); why != "" {
			c.rep.Problemf("namespace %q: key %s: %s", n.name, hex.EncodeToString(k), why)
			n.drop = append(n.drop, bytes.Clone(k))
		}
	}
	for _, idx := range []struct {
		b    *bolt.Bucket
		name byte
	}{{a, 'a'}, {e, 'e'}, {s, 's'}} {
		if idx.b == nil {
			continue
		}
		cur := idx.b.Cursor()
		seen := 0
		for ik, _ := cur.First(); ik != nil; ik, _ = cur.Next() {
			if seen++; c.yield != nil && seen%256 == 0 && c.yield() {
				return errGiveWay
			}
			at, key, err := expiry.ParseIndexKey(ik)
			ok := err == nil
			if ok {
				rec := d.Get(key)
				h, herr := codec.ParseHeader(rec)
				ok = rec != nil && herr == nil && indexTime(h, idx.name) == at
			}
			if !ok {
				c.rep.Problemf("namespace %q: index %c: key %s points to no record", n.name, idx.name, hex.EncodeToString(ik))
				n.stray = append(n.stray, stray{idx.name, bytes.Clone(ik)})
			}
		}
	}
	if n.counted != n.present {
		c.rep.Problemf("namespace %q: counters say %d entries and %d bytes, the records %d and %d",
			n.name, n.counted.entries, n.counted.bytes, n.present.entries, n.present.bytes)
	}
	return nil
}

// record returns what is wrong with the record rec stored under k, or "".
func (c *checker) record(e, a, s *bolt.Bucket, k, rec []byte) string {
	h, err := codec.ParseHeader(rec)
	if err == nil {
		var p []byte
		if p, err = codec.Payload(rec, k); err == nil {
			err = codec.Validate(p)
		}
	}
	if err != nil {
		return err.Error()
	}
	if c.ik = expiry.AppendIndexKey(c.ik[:0], h.StoredAt, k); a.Get(c.ik) == nil {
		return "missing from the age index"
	}
	if c.ik = expiry.AppendIndexKey(c.ik[:0], h.ExpiresAt, k); h.ExpiresAt != expiry.Never && e.Get(c.ik) == nil {
		return "missing from the expiry index"
	}
	if at := h.StaleAt(); at != 0 {
		if c.ik = expiry.AppendIndexKey(c.ik[:0], at, k); s == nil || s.Get(c.ik) == nil {
			return "missing from the stale index"
		}
	}
	return ""
}

// repair applies what the record pass found, in the write transaction tx
// it ran in. Counters that disagree with the records are first set to
// them; removing records then keeps them right.
func (c *checker) repair(tx *bolt.Tx, st *txState, found []*nsCheck) error {
	spaces := map[string]*space{}
	for _, sp := range st.spaces {
		spaces[sp.name] = sp
	}
	for _, n := range found {
		sp := spaces[n.name]
		if sp == nil {
			// Not loaded: every committed namespace is, before an alone op.
			c.rep.Problemf("namespace %q: not loaded; not repaired", n.name)
			continue
		}
		b, err := st.bucketsOf(tx, sp)
		if err != nil {
			return err
		}
		cnt := st.counters(sp)
		reset := n.counted != n.present
		if reset {
			cnt.Entries, cnt.Bytes = n.present.entries, n.present.bytes
		}
		for _, k := range n.drop {
			if rec := b.d.Get(k); rec != nil {
				if err := st.remove(b, sp, k, rec); err != nil {
					return err
				}
			}
			c.rep.Fixed = append(c.rep.Fixed, fmt.Sprintf("namespace %q: deleted d/%s", sp.name, hex.EncodeToString(k)))
		}
		for _, x := range n.stray {
			ib := b.a
			switch x.index {
			case 'e':
				ib = b.e
			case 's':
				if ib, err = st.staleIndex(sp, b, false); err != nil {
					return err
				}
			}
			if err := ib.Delete(x.key); err != nil {
				return err
			}
			c.rep.Fixed = append(c.rep.Fixed, fmt.Sprintf("namespace %q: deleted %c/%s", sp.name, x.index, hex.EncodeToString(x.key)))
		}
		if reset {
			c.rep.Fixed = append(c.rep.Fixed, fmt.Sprintf("namespace %q: counters set to %d entries and %d bytes", sp.name, cnt.Entries, cnt.Bytes))
		}
	}
	return nil
}
