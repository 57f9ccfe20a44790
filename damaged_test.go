// Damaged records and files, through the whole library: a damaged record
// is a miss, never another value; a file that is not a store is left
// untouched.
package memostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// A damage is a way to break one stored record in place, as bit rot
// would: the record keeps its length.
type damage struct {
	name string
	hit  func(rec []byte, r *rand.Rand)
}

var (
	payloadByte = damage{"payload byte", func(rec []byte, r *rand.Rand) {
		rec[codec.HeaderSize+r.IntN(len(rec)-codec.HeaderSize)] ^= byte(1 + r.IntN(255))
	}}
	checksumByte = damage{"checksum byte", func(rec []byte, r *rand.Rand) {
		rec[17+r.IntN(4)] ^= byte(1 + r.IntN(255))
	}}
	versionByte = damage{"version byte", func(rec []byte, r *rand.Rand) {
		rec[0] ^= byte(1 + r.IntN(255))
	}}
)

// TestDamagedRecords flips bytes inside records of a real file, behind the
// store's back: each damaged record is a miss, counted as a decode error,
// deleted, and recomputed by the next call; the other records are served.
// The file passes Check at every step.
func TestDamagedRecords(t *testing.T) {
	for _, dm := range []damage{payloadByte, checksumByte} {
		t.Run(dm.name, func(t *testing.T) { testDamagedRecords(t, dm) })
	}
}

// TestDamagedRecordVersion is TestDamagedRecords with the record's version
// byte damaged.
//
// A record of another version still has readable timestamps: its index
// keys must go with it, or Check finds keys that point to no record.
func TestDamagedRecordVersion(t *testing.T) {
	testDamagedRecords(t, versionByte)
}

func testDamagedRecords(t *testing.T, dm damage) {
	const n = 200
	path := filepath.Join(t.TempDir(), "damaged.db")
	ctx := context.Background()
	s := openT(t, path)
	var runs atomic.Int64
	f := newSq(t, s, &runs, false)
	for k := range n {
		f.Call(ctx, k)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage 30 records, directly through bbolt.
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	bad := map[int]bool{}
	for _, k := range r.Perm(n)[:30] {
		bad[k] = true
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("d/sq"))
		if b == nil {
			return errors.New(`no bucket "d/sq"`)
		}
		for k := range bad {
			key := intKey(k)
			rec := b.Get(key)
			if rec == nil {
				return fmt.Errorf("key %d not stored", k)
			}
			rec = bytes.Clone(rec)
			dm.hit(rec, r)
			if err := b.Put(key, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	// With a function that cannot compute, a damaged record is a miss
	// (fn's error) and every other one is served.
	logOpt, logs := captureLog()
	s = openT(t, path, logOpt)
	runs.Store(0)
	failing := newSq(t, s, &runs, true)
	for k := range n {
		v, err := failing.Call(ctx, k)
		switch {
		case bad[k] && !errors.Is(err, errNotStored):
			t.Errorf("damaged key %d: Call = %q, %v; want a miss", k, v, err)
		case !bad[k] && (err != nil || v != sqValue(k)):
			t.Errorf("intact key %d: Call = %q, %v; want %q", k, v, err, sqValue(k))
		}
	}
	if runs.Load() != int64(len(bad)) {
		t.Errorf("fn ran %d times, want once per damaged record (%d)", runs.Load(), len(bad))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := nsStats(t, s, "sq")
	if st.DecodeErrors != int64(len(bad)) || st.Entries != int64(n-len(bad)) {
		t.Errorf("after the damaged misses: %d decode errors, %d entries; want %d and %d (damaged records deleted)",
			st.DecodeErrors, st.Entries, len(bad), n-len(bad))
	}
	if got := strings.Count(logs.String(), "does not decode"); got != len(bad) {
		t.Errorf("log reports %d records that do not decode, want %d:\n%s", got, len(bad), logs.String())
	}
	wantCheckOK(t, s, "after the damaged records were dropped")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A working function recomputes exactly the damaged keys, and stores
	// them again.
	s = openT(t, path)
	runs.Store(0)
	f = newSq(t, s, &runs, false)
	for k := range n {
		if v, err := f.Call(ctx, k); err != nil || v != sqValue(k) {
			t.Fatalf("Call(%d) = %q, %v", k, v, err)
		}
	}
	if runs.Load() != int64(len(bad)) || f.Info().DiskHits != int64(n-len(bad)) {
		t.Errorf("fn ran %d times with %d disk hits; want %d runs, %d disk hits", runs.Load(), f.Info().DiskHits, len(bad), n-len(bad))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := nsStats(t, s, "sq"); st.Entries != n || st.DecodeErrors != int64(len(bad)) {
		t.Errorf("after recomputing: %d entries, %d decode errors; want %d, %d", st.Entries, st.DecodeErrors, n, len(bad))
	}
	wantCheckOK(t, s, "after recomputing")
}

// TestDamagedRecordHeaderTimes flips a bit of the stored-at or expires-at
// field of records' headers: those records are damaged like any other and
// must be misses, counted and recomputed, never served past their TTL,
// and the file must pass Check.
//
// The record checksum covers the timestamps (codec/record.go), so a
// damaged one is seen; the index keys made from the true timestamps are
// found by entry key when the damaged record is removed.
func TestDamagedRecordHeaderTimes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		field int           // offset of the header field
		later time.Duration // how far the clock moves before the calls
	}{
		{"expires-at", 9, 2 * time.Hour},
		{"stored-at", 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "header.db")
			ctx := context.Background()
			clock := mtesting.NewFakeClock()
			var runs atomic.Int64
			newTTL := func(s *store.Store) *memo.Func[int, string] {
				f, err := memo.New(s, "ttl", func(_ context.Context, k int) (string, error) {
					runs.Add(1)
					return sqValue(k), nil
				}, memo.MaxSize(0), memo.TTL(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			s := openT(t, path, store.WithClock(clock))
			f := newTTL(s)
			const n = 10
			for k := range n {
				f.Call(ctx, k)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("d/ttl"))
				for k := range n {
					rec := bytes.Clone(b.Get(intKey(k)))
					rec[tt.field] ^= 0x01 // the high byte: 2^56 ns later
					if err := b.Put(intKey(k), rec); err != nil {
						return err
					}
				}
				return nil
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}

			clock.Advance(tt.later)
			s = openT(t, path, store.WithClock(clock))
			runs.Store(0)
			f = newTTL(s)
			for k := range n {
				if v, err := f.Call(ctx, k); err != nil || v != sqValue(k) {
					t.Fatalf("Call(%d) = %q, %v", k, v, err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if served := n - runs.Load(); served > 0 {
				t.Errorf("%d of %d records with a damaged %s were served (clock moved %v; TTL 1h); want none", served, n, tt.name, tt.later)
			}
			wantCheckOK(t, s, "after reading records with damaged header times")
		})
	}
}

// intKey returns the stored key of the int k, as memo makes it.
func intKey(k int) []byte {
	enc, err := codec.NewKeyEncoder[int]()
	if err != nil {
		panic(err)
	}
	return enc(nil, k)
}

// corruptFiles make, at path, files that are not valid stores.
var corruptFiles = []struct {
	name string
	make func(t *testing.T, path string)
}{
	{"truncated store", func(t *testing.T, path string) {
		s := openT(t, path)
		f := newSq(t, s, new(atomic.Int64), false)
		for k := range 3000 {
			f.Call(context.Background(), k)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// Cut it in the middle of a page.
		if err := os.Truncate(path, fi.Size()/2+100); err != nil {
			t.Fatal(err)
		}
	}},
	{"garbage", func(t *testing.T, path string) {
		b := make([]byte, 256<<10)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}},
	{"zero length", func(t *testing.T, path string) {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
}

// TestCorruptFileThroughMemo: a truncated, garbage or empty file gives
// ErrCorrupt, before any memo.New can use it, and is left as it was; with
// WithRecover it is moved aside, byte for byte, and memoization works on a
// fresh file that then persists.
func TestCorruptFileThroughMemo(t *testing.T) {
	ctx := context.Background()
	for _, tt := range corruptFiles {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.db")
			tt.make(t, path)
			before := mtesting.Snapshot(t, path)
			names := mtesting.DirNames(t, dir)
			for _, opts := range [][]store.Option{nil, {store.WithReadOnly()}, {store.WithSyncWrites()}} {
				s, err := store.Open(path, append(opts, store.WithLogger(nil))...)
				if err == nil {
					s.Close()
					t.Fatalf("Open of a %s file succeeded", tt.name)
				}
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("Open of a %s file: %v, want ErrCorrupt", tt.name, err)
				}
				if !before.Same(t, path) {
					t.Fatalf("Open of a %s file changed it", tt.name)
				}
			}
			if got := mtesting.DirNames(t, dir); !slices.Equal(got, names) {
				t.Errorf("failed Opens left %q beside the file, had %q", got, names)
			}

			logOpt, logs := captureLog()
			s, err := store.Open(path, store.WithRecover(), logOpt)
			if err != nil {
				t.Fatalf("Open WithRecover: %v", err)
			}
			var runs atomic.Int64
			f := newSq(t, s, &runs, false)
			if v, err := f.Call(ctx, 12); err != nil || v != sqValue(12) || runs.Load() != 1 {
				t.Fatalf("Call on the recovered store = %q, %v after %d runs", v, err, runs.Load())
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files: %q, want one", aside)
			}
			if !regexp.MustCompile(`^cache\.db\.corrupt-\d{8}T\d{6}\.\d{9}Z$`).MatchString(filepath.Base(aside[0])) {
				t.Errorf("moved aside as %q, want NAME.corrupt-TIMESTAMP", filepath.Base(aside[0]))
			}
			if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, before.Data) {
				t.Errorf("the moved-aside file differs from the corrupt one")
			}
			if !strings.Contains(logs.String(), aside[0]) {
				t.Errorf("the log does not say where the corrupt file went:\n%s", logs.String())
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("fresh store: %v, %v; want mode 0600", fi, err)
			}

			// The fresh store is a real one: the next process is served
			// from it, and nothing is moved again.
			s = openT(t, path, store.WithRecover())
			f = newSq(t, s, &runs, false)
			if v, err := f.Call(ctx, 12); err != nil || v != sqValue(12) || runs.Load() != 1 || f.Info().DiskHits != 1 {
				t.Fatalf("after reopening: %q, %v, %d runs, %v; want a disk hit", v, err, runs.Load(), f.Info())
			}
			if again, _ := filepath.Glob(path + ".corrupt-*"); len(again) != 1 {
				t.Errorf("a good store was moved aside: %q", again)
			}
		})
	}
}
