package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// A CheckReport is what Check found, and with fix, what it repaired.
type CheckReport struct {
	Records  int64    `json:"records"`  // records read
	Problems []string `json:"problems"` // one line per problem found
	Fixed    []string `json:"fixed"`    // one line per repair made
}

// OK reports whether the check found no problem.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// maxProblems bounds the problems a report lists one by one.
const maxProblems = 1000

func (r *CheckReport) problem(format string, args ...any) {
	if len(r.Problems) == maxProblems {
		r.Problems = append(r.Problems, "more problems not listed")
	}
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Check verifies the whole file: bbolt's own consistency check, then every
// record (header, checksum, well-formed payload), the agreement of the
// expiry and age indexes with the records, and each namespace's entry and
// byte counters against its records. Unlike everything else in the store
// it reads every entry. progress, if not nil, is called as records are
// read, with the total the counters promise.
//
// With fix, Check also repairs what it found: it deletes bad records and
// index keys that point nowhere, adds missing index keys and rewrites the
// counters, in one transaction, and lists each repair. bbolt-level damage
// is reported, not repaired.
func (s *fileStore) Check(ctx context.Context, fix bool, progress func(done, total int64)) (*CheckReport, error) {
	release, err := s.use()
	if err != nil {
		return nil, err
	}
	defer release()
	if fix && s.opts.readOnly {
		return nil, fmt.Errorf("store: check --fix %s: opened read-only", s.path)
	}
	rep := &CheckReport{}
	var total int64
	for _, ns := range s.Stats().Namespaces {
		total += ns.Entries
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			rep.problem("bbolt: %v", err)
		}
		return checkOrphanBuckets(tx, rep)
	})
	if err != nil {
		return rep, err
	}
	s.mu.RLock()
	var spaces []*space
	for _, sp := range s.spaces {
		spaces = append(spaces, sp)
	}
	s.mu.RUnlock()
	var done int64
	tick := func() {
		done++
		if progress != nil && done%1000 == 0 {
			progress(done, total)
		}
	}
	for _, sp := range spaces {
		var found []repair
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			found, err = checkSpace(ctx, tx, sp, rep, tick)
			return err
		})
		if err != nil {
			return rep, err
		}
		if fix && len(found) > 0 {
			if err := s.repair(ctx, sp, found, rep); err != nil {
				return rep, err
			}
		}
	}
	if progress != nil {
		progress(done, total)
	}
	rep.Records = done
	return rep, nil
}

// A repair is one change Check found necessary.
type repair struct {
	bucket   byte // 'd', 'e' or 'a'
	key      []byte
	put      bool    // add key (an index key) rather than delete it
	counters *counts // the namespace's true entries and bytes
}

type counts struct{ entries, bytes int64 }

// checkOrphanBuckets reports namespace buckets without a namespace.
func checkOrphanBuckets(tx *bolt.Tx, rep *CheckReport) error {
	names := tx.Bucket(bucketNamespaces)
	return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		n := string(name)
		if len(n) > 2 && n[1] == '/' && strings.ContainsRune("dea", rune(n[0])) {
			if names.Get([]byte(n[2:])) == nil {
				rep.problem("bucket %q belongs to no namespace", n)
			}
		}
		return nil
	})
}

func checkSpace(ctx context.Context, tx *bolt.Tx, sp *space, rep *CheckReport, tick func()) ([]repair, error) {
	d, e, a := tx.Bucket(sp.dataName), tx.Bucket(sp.expName), tx.Bucket(sp.ageName)
	if d == nil || e == nil || a == nil {
		rep.problem("namespace %q: buckets missing", sp.name)
		return nil, nil
	}
	var fixes []repair
	var real counts
	c := d.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tick()
		h, err := codec.ParseHeader(v)
		if err == nil {
			var p []byte
			if p, err = codec.Payload(v); err == nil {
				err = codec.Validate(p)
			}
		}
		if err != nil {
			rep.problem("namespace %q: key %s: %v", sp.name, hex.EncodeToString(k), err)
			fixes = append(fixes, repair{bucket: 'd', key: bytes.Clone(k)})
			if h, herr := codec.ParseHeader(v); herr == nil {
				// Its index keys go with it.
				fixes = append(fixes, repair{bucket: 'a', key: expiry.AppendIndexKey(nil, h.StoredAt, k)})
				if h.ExpiresAt != expiry.Never {
					fixes = append(fixes, repair{bucket: 'e', key: expiry.AppendIndexKey(nil, h.ExpiresAt, k)})
				}
			}
			continue
		}
		real.entries++
		real.bytes += int64(len(k) + len(v))
		if ik := expiry.AppendIndexKey(nil, h.StoredAt, k); a.Get(ik) == nil {
			rep.problem("namespace %q: key %s: missing from the age index", sp.name, hex.EncodeToString(k))
			fixes = append(fixes, repair{bucket: 'a', key: ik, put: true})
		}
		if h.ExpiresAt != expiry.Never {
			if ik := expiry.AppendIndexKey(nil, h.ExpiresAt, k); e.Get(ik) == nil {
				rep.problem("namespace %q: key %s: missing from the expiry index", sp.name, hex.EncodeToString(k))
				fixes = append(fixes, repair{bucket: 'e', key: ik, put: true})
			}
		}
	}
	for _, idx := range []struct {
		b      *bolt.Bucket
		name   byte
		stored bool
	}{{a, 'a', true}, {e, 'e', false}} {
		c := idx.b.Cursor()
		for ik, _ := c.First(); ik != nil; ik, _ = c.Next() {
			at, key, err := expiry.ParseIndexKey(ik)
			ok := err == nil
			if ok {
				rec := d.Get(key)
				h, herr := codec.ParseHeader(rec)
				ok = rec != nil && herr == nil && (idx.stored && h.StoredAt == at || !idx.stored && h.ExpiresAt == at)
			}
			if !ok {
				rep.problem("namespace %q: index %c: key %s points to no record", sp.name, idx.name, hex.EncodeToString(ik))
				fixes = append(fixes, repair{bucket: idx.name, key: bytes.Clone(ik)})
			}
		}
	}
	if sp.c.Entries != real.entries || sp.c.Bytes != real.bytes {
		rep.problem("namespace %q: counters say %d entries and %d bytes, the records %d and %d",
			sp.name, sp.c.Entries, sp.c.Bytes, real.entries, real.bytes)
		fixes = append(fixes, repair{counters: &real})
	}
	return fixes, nil
}

// repair applies fixes to sp through the writer, so that the counters in
// memory change with the file.
func (s *fileStore) repair(ctx context.Context, sp *space, fixes []repair, rep *CheckReport) error {
	var done []string
	o := &op{kind: opFunc, wait: make(chan error, 1), fn: func(tx *bolt.Tx, st *txState) error {
		done = done[:0]
		b, err := st.bucketsOf(tx, sp)
		if err != nil {
			return err
		}
		for _, f := range fixes {
			switch {
			case f.counters != nil:
				c := st.counters(sp)
				c.Entries, c.Bytes = f.counters.entries, f.counters.bytes
				done = append(done, fmt.Sprintf("namespace %q: counters set to %d entries and %d bytes", sp.name, c.Entries, c.Bytes))
				continue
			case f.bucket == 'd':
				err = b.d.Delete(f.key)
			case f.put && f.bucket == 'a':
				err = b.a.Put(f.key, nil)
			case f.put:
				err = b.e.Put(f.key, nil)
			case f.bucket == 'a':
				err = b.a.Delete(f.key)
			default:
				err = b.e.Delete(f.key)
			}
			if err != nil {
				return err
			}
			verb := "deleted"
			if f.put {
				verb = "added"
			}
			done = append(done, fmt.Sprintf("namespace %q: %s %c/%s", sp.name, verb, f.bucket, hex.EncodeToString(f.key)))
		}
		return nil
	}}
	release, err := s.use()
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, o, release); err != nil {
		return err
	}
	rep.Fixed = append(rep.Fixed, done...)
	return nil
}
