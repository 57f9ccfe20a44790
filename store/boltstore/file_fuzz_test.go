package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// FuzzFileValues writes values of any bytes where a store file
// keeps its own (a namespace's counters and metadata, a record, index
// keys of the expiry, age and stale indexes, the stale index's value)
// with bbolt, as damage or another program could leave them, then opens
// the store with eviction on and uses it: claims, lookups, puts that
// evict, a sweep, Stats, Inspect, Keys, Check, and Check with fix. None
// may panic or hang; after Check with fix, a second Check must find
// nothing left to report.
func FuzzFileValues(f *testing.F) {
	now := time.Now().UnixNano()
	good := record("j", now, now+int64(time.Hour), "v")
	meta, _ := json.Marshal(nsMeta{NamespaceSpec: spec("1"), Created: now})
	ctrs := marshalCounters(&counters{Entries: 2, Bytes: 100})
	f.Add(ctrs, meta, good, expiry.AppendIndexKey(nil, now+int64(time.Hour), key("j")),
		expiry.AppendIndexKey(nil, now, key("j")), []byte(nil), []byte(nil))
	f.Add([]byte{}, meta, good[:20], []byte("short"), []byte{}, expiry.AppendIndexKey(nil, 1, key("j")), []byte{1, 2})
	f.Add(binary.BigEndian.AppendUint64(nil, 1<<63), []byte(`{"Version":"2","created":-1}`), record("j", -1, -5, "v"),
		expiry.AppendIndexKey(nil, -5, key("j")), expiry.AppendIndexKey(nil, -1, key("j")),
		expiry.AppendIndexKey(nil, 0, nil), binary.BigEndian.AppendUint64(nil, uint64(now+1)))

	f.Fuzz(func(t *testing.T, ctr, nsm, rec, eKey, aKey, sKey, sVal []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		path := tempPath(t)
		s, err := openWith(path, quiet(), WithoutControl(), WithSweepInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		put(t, openNS(t, s, "n"), "k", record("k", now, 0, "kept"))
		flush(t, s)
		s.Close()

		db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketCounters).Put([]byte("n"), ctr); err != nil {
				return err
			}
			if len(nsm) > 0 && nsm[0] == '{' { // else the metadata stays good: Open refuses what does not parse
				if err := tx.Bucket(bucketNamespaces).Put([]byte("n"), nsm); err != nil {
					return err
				}
			}
			if len(rec) > 0 {
				if err := tx.Bucket([]byte("d/n")).Put(key("j"), rec); err != nil {
					return err
				}
			}
			for _, kv := range []struct {
				b    string
				k, v []byte
			}{{"e/n", eKey, nil}, {"a/n", aKey, nil}, {"s/n", sKey, sVal}} {
				if len(kv.k) == 0 || len(kv.k) > bolt.MaxKeySize {
					continue
				}
				b, err := tx.CreateBucketIfNotExists([]byte(kv.b))
				if err != nil {
					return err
				}
				if err := b.Put(kv.k, kv.v); err != nil {
					return err
				}
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Skip(err)
		}

		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		}()
		s, err = openWith(path, quiet(), WithoutControl(), WithSweepInterval(0), WithMaxBytes(300))
		if err != nil {
			return // refused as corrupt: fine
		}
		defer s.Close()
		s.Stats(ctx)
		s.Inspect(ctx)
		s.Keys(ctx, "n", 0, func(driver.KeyInfo) error { return nil })
		if _, err := s.Check(ctx, false, nil); err != nil {
			t.Fatalf("Check: %v", err)
		}
		sp := spec("1")
		var m nsMeta
		if len(nsm) > 0 && nsm[0] == '{' && json.Unmarshal(nsm, &m) == nil {
			sp = m.NamespaceSpec
		}
		ns, err := s.Namespace(ctx, "n", sp)
		if err != nil {
			t.Fatalf("Namespace: %v", err)
		}
		decode := func([]byte, codec.Header) error { return nil }
		for _, k := range []string{"j", "k"} {
			ns.Lookup(ctx, key(k), decode)
			ns.Acquire(ctx, key(k), decode)
		}
		for i := range 6 {
			k := string(rune('a' + i))
			if err := ns.Put(ctx, key(k), record(k, now+int64(i), now+int64(time.Hour), "a value of some length")); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if _, err := s.Sweep(ctx); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if _, err := s.Check(ctx, true, nil); err != nil {
			t.Fatalf("Check fix: %v", err)
		}
		rep, err := s.Check(ctx, false, nil)
		if err != nil {
			t.Fatalf("Check after fix: %v", err)
		}
		if !rep.OK() {
			t.Errorf("Check after Check with fix still reports: %q", rep.Problems)
		}
	})
}
