// Reliability at the level of the whole library: damaged records and files,
// a full disk, killed lock holders, namespace names, and resource bounds.
// Crash consistency is in crash_test.go, concurrency in stress_test.go.
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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/boltstore"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// captureLog returns a store option that logs into the returned buffer.
func captureLog() (store.Option, *mtesting.LogBuffer) {
	l, b := mtesting.CaptureLog()
	return store.WithLogger(l), b
}

// openT opens path and closes it when the test ends.
func openT(t *testing.T, path string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(path, append([]store.Option{store.WithLogger(nil), store.WithLockTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func nsStats(t *testing.T, s *store.Store, name string) store.NamespaceStats {
	t.Helper()
	for _, ns := range s.Stats().Namespaces {
		if ns.Name == name {
			return ns
		}
	}
	t.Fatalf("no namespace %q in Stats", name)
	return store.NamespaceStats{}
}

func wantCheckOK(t *testing.T, s *store.Store, when string) {
	t.Helper()
	rep, err := s.Check(context.Background(), false, nil)
	if err != nil {
		t.Fatalf("Check %s: %v", when, err)
	}
	if !rep.OK() {
		t.Fatalf("Check %s found %d problems:\n%s", when, len(rep.Problems), strings.Join(rep.Problems, "\n"))
	}
}

func sqValue(k int) string {
	return fmt.Sprintf("square of %d is %d %s", k, k*k, strings.Repeat(".", k%90))
}

// newSq memoizes sqValue on s as "sq", counting runs; with fail, fn fails
// instead of computing, so that a miss shows as an error.
func newSq(t *testing.T, s *store.Store, runs *atomic.Int64, fail bool) *memo.Func[int, string] {
	t.Helper()
	f, err := memo.New(s, "sq", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		if fail {
			return "", fmt.Errorf("computed %d: %w", k, errNotStored)
		}
		return sqValue(k), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

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

// testClock is a clock that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
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
			clock := &testClock{now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
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

			clock.advance(tt.later)
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

// fileState is a file's bytes, mode and modification time.
type fileState struct {
	data  []byte
	mode  os.FileMode
	mtime time.Time
}

// snapshot sets path's modification time an hour back, so that any write
// to it shows even on coarse timestamps, and returns its state.
func snapshot(t *testing.T, path string) fileState {
	t.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{data, fi.Mode(), fi.ModTime()}
}

// same reports whether path is still as f describes it.
func (f fileState) same(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && bytes.Equal(data, f.data) && fi.Mode() == f.mode && fi.ModTime().Equal(f.mtime)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
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
			before := snapshot(t, path)
			names := dirNames(t, dir)
			for _, opts := range [][]store.Option{nil, {store.WithReadOnly()}, {store.WithSyncWrites()}} {
				s, err := store.Open(path, append(opts, store.WithLogger(nil))...)
				if err == nil {
					s.Close()
					t.Fatalf("Open of a %s file succeeded", tt.name)
				}
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("Open of a %s file: %v, want ErrCorrupt", tt.name, err)
				}
				if !before.same(t, path) {
					t.Fatalf("Open of a %s file changed it", tt.name)
				}
			}
			if got := dirNames(t, dir); !slices.Equal(got, names) {
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
			if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, before.data) {
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

// fillDisk writes a file in dir until the file system is full, and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xba}, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

func bigValue(k int) string {
	return fmt.Sprint(k, ":", strings.Repeat(string(rune('A'+k%26)), 4000+k%500))
}

// TestFullDisk runs a store on a small tmpfs and fills it: Calls keep
// returning their values and memoizing them in memory, the failures are
// logged and counted, the writer retries with back-off, the file stays
// consistent, and when space returns every queued write lands.
func TestFullDisk(t *testing.T) {
	t.Run("write-behind", func(t *testing.T) { testFullDisk(t, false, 0) })
	t.Run("sync writes", func(t *testing.T) { testFullDisk(t, true, 0) })
}

// TestFullDiskSmallQueue is TestFullDisk with a write-behind queue that
// the calls fill: writes beyond it are refused (counted), never waited
// for, since the disk may stay full. It found the bug that
// store/fault_test.go's TestQueueFullWhenCommitsStartFailing pins down
// (Calls blocked on a full disk until space returned; fixed in 9a34a04).
func TestFullDiskSmallQueue(t *testing.T) {
	testFullDisk(t, false, 64<<10)
}

func testFullDisk(t *testing.T, syncWrites bool, queueBytes int64) {
	dir := mountTmpfs(t, "8m")
	path := filepath.Join(dir, "full.db")
	ctx := context.Background()
	logOpt, logs := captureLog()
	opts := []store.Option{logOpt}
	if syncWrites {
		opts = append(opts, store.WithSyncWrites())
	}
	if queueBytes > 0 {
		opts = append(opts, store.WithQueueBytes(queueBytes))
	}
	s := openT(t, path, opts...)
	var runs atomic.Int64
	f, err := memo.New(s, "big", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		return bigValue(k), nil
	}, memo.MaxSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	call := func(k int) error {
		if v, err := f.Call(ctx, k); err != nil || v != bigValue(k) {
			return fmt.Errorf("Call(%d) = %.20q, %v; want its value and no error", k, v, err)
		}
		return nil
	}
	const before, total = 10, 300
	for k := range before - 1 {
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// One more written behind, and committed, without a Flush: the writer
	// is idle and nothing is urgent when the disk fills.
	if err := call(before - 1); err != nil {
		t.Fatal(err)
	}
	for s.Stats().Queued > 0 {
		time.Sleep(time.Millisecond)
	}

	ballast := fillDisk(t, dir)
	// 16 callers at once: the queue holds their writes before the writer
	// has tried to commit them.
	done := make(chan error, 1)
	var returned atomic.Int64
	go func() {
		var (
			next  atomic.Int64
			wg    sync.WaitGroup
			first atomic.Value
		)
		next.Store(before - 1)
		for range 16 {
			wg.Go(func() {
				for k := int(next.Add(1)); k < total; k = int(next.Add(1)) {
					if err := call(k); err != nil {
						first.CompareAndSwap(nil, err)
						return
					}
					returned.Add(1)
				}
			})
		}
		wg.Wait()
		err, _ := first.Load().(error)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Calls on a full disk are blocked: %d of %d returned after 5s", returned.Load(), total-before)
		os.Remove(ballast) // let them finish
		<-done
		t.FailNow()
	}
	if runs.Load() != total {
		t.Fatalf("fn ran %d times, want %d", runs.Load(), total)
	}
	for k := range total { // memoized in memory all the same
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != total {
		t.Fatalf("calls again on a full disk ran fn: %d runs, want %d", runs.Load(), total)
	}
	if err := s.Flush(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Flush on a full disk = %v, want ENOSPC", err)
	}
	if st := nsStats(t, s, "big"); st.WriteErrors == 0 {
		t.Errorf("no write errors counted on a full disk: %+v", st)
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the log does not report the full disk:\n%.2000s", logs.String())
	}

	// The writer retries with back-off: a few tries a second, not a
	// spinning loop, and not never. (With sync writes every Call has cut
	// the back-off short, which has grown to its bound of 1s meanwhile.)
	failures := func() int { return strings.Count(logs.String(), "commit failed") }
	n0 := failures()
	window, least := 2500*time.Millisecond, 2
	if syncWrites {
		window, least = 1500*time.Millisecond, 1
	}
	time.Sleep(window)
	if retries := failures() - n0; retries < least || retries > 25 {
		t.Errorf("the writer retried %d times in %v on a full disk; want back-off, between %d and 25", retries, window, least)
	} else {
		t.Logf("%d retries in %v on a full disk", retries, window)
	}
	// The file holds what was committed before the disk filled, and is
	// consistent, for this process and for another that copies it.
	wantCheckOK(t, s, "on a full disk")
	copied := filepath.Join(t.TempDir(), "copy.db")
	if data, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(copied, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cs := openT(t, copied, store.WithReadOnly())
	wantCheckOK(t, cs, "of a copy taken on a full disk")
	if st := cs.Stats(); st.Entries != before {
		t.Errorf("a copy taken on a full disk has %d entries, want the %d committed before", st.Entries, before)
	}
	cs.Close()

	// Space returns: the writer catches up on its own.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10s after space returned, %d writes still queued", s.Stats().Queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush after space returned: %v", err)
	}
	st := nsStats(t, s, "big")
	switch {
	case queueBytes == 0 && st.Entries != total:
		t.Errorf("after space returned: %d entries, want all %d", st.Entries, total)
	case st.Entries < before || st.Entries > total || st.WriteErrors < total-st.Entries:
		t.Errorf("after space returned: %d entries, %d write errors; want %d to %d entries, every missing one counted",
			st.Entries, st.WriteErrors, before, total)
	}
	wantCheckOK(t, s, "after space returned")
	if err := s.Close(); err != nil {
		t.Fatalf("Close after space returned: %v", err)
	}

	s = openT(t, path, opts...)
	runs.Store(0)
	f, err = memo.New(s, "big", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		return bigValue(k), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range total {
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != total-st.Entries {
		t.Errorf("after reopening, fn ran %d times; want %d, for the values not stored", runs.Load(), total-st.Entries)
	}
}

// TestKilledHolderReleasesFile: a second process that asks for the file
// alone (WithExclusive, or read-only) gets ErrLocked, naming the holder,
// within the lock timeout; once the holder is killed with
// SIGKILL the next Open works at once, without manual cleanup, and
// replaces the stale lock record and control socket.
func TestKilledHolderReleasesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	cmd, _ := startHolder(t, path)
	pid := cmd.Process.Pid
	ctx := context.Background()

	for _, opts := range [][]store.Option{{store.WithExclusive()}, {store.WithReadOnly()}} {
		start := time.Now()
		_, err := store.Open(path, append(opts, store.WithLockTimeout(300*time.Millisecond), store.WithLogger(nil))...)
		elapsed := time.Since(start)
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("Open of a held file = %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
			t.Errorf("ErrLocked = %q does not name the holder, pid %d", err, pid)
		}
		if elapsed < 200*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("ErrLocked after %v with a 300ms lock timeout", elapsed)
		}
	}
	if got, ok := boltstore.HolderPID(path); !ok || got != pid {
		t.Errorf("HolderPID = %d, %v; want %d", got, ok, pid)
	}
	if !control.Live(ctx, path) {
		t.Fatal("the holder does not answer on its control socket")
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if fi, err := os.Lstat(control.Path(path)); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("after SIGKILL: control socket %v, %v; the test expects a stale one", fi, err)
	}
	if control.Live(ctx, path) {
		t.Fatal("a dead holder's socket answers")
	}

	start := time.Now()
	s, err := store.Open(path, store.WithLockTimeout(5*time.Second), store.WithLogger(nil))
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	defer s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open after the holder was killed took %v: the dead holder's lock was waited for", d)
	}
	if got, ok := boltstore.HolderPID(path); !ok || got != os.Getpid() {
		t.Errorf("HolderPID = %d, %v; want this process, %d", got, ok, os.Getpid())
	}
	c, err := control.Dial(ctx, path)
	if err != nil {
		t.Fatalf("the new holder's control socket: %v", err)
	}
	defer c.Close()
	if st, err := c.Info(ctx); err != nil || st.PID != os.Getpid() {
		t.Fatalf("control socket answered %+v, %v; want this process, %d", st, err, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(control.Path(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket after Close: %v", err)
	}
}

// TestNamespaceNamesValidated: memo.New rejects names that could not
// name a namespace, names them in the error, and stores nothing for them.
func TestNamespaceNamesValidated(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "names.db"))
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	for _, name := range []string{"", "has space", "semi;colon", "new\nline", "nul\x00", "ünï", "tab\t", "quote\"", "back\\slash",
		strings.Repeat("x", store.MaxNamespaceLen+1)} {
		f, err := memo.New(s, name, fn)
		if err == nil {
			t.Errorf("memo.New(%q) succeeded", name)
			continue
		}
		if f != nil {
			t.Errorf("memo.New(%q) returned a Func with its error", name)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("memo.New(%q) = %q, which does not name it", name, err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ns := s.Stats().Namespaces; len(ns) != 0 {
		t.Errorf("rejected names made namespaces: %+v", ns)
	}
	for _, name := range []string{"a", "A.b_c-d:e/f", strings.Repeat("y", store.MaxNamespaceLen)} {
		if _, err := memo.New(s, name, fn); err != nil {
			t.Errorf("memo.New(%q) = %v", name, err)
		}
	}
}

// TestOversizedValue: a value whose record exceeds store.MaxRecordBytes is
// returned and memoized in memory, but not written: the refusal is logged
// and counted, and the next process recomputes it. A large value under the
// limit is stored.
func TestOversizedValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.db")
	ctx := context.Background()
	logOpt, logs := captureLog()
	s := openT(t, path, logOpt)
	var runs atomic.Int64
	size := func(k int) int { return k }
	newF := func(s *store.Store) *memo.Func[int, []byte] {
		f, err := memo.New(s, "blob", func(_ context.Context, k int) ([]byte, error) {
			runs.Add(1)
			b := make([]byte, size(k))
			for i := 0; i < len(b); i += 4096 {
				b[i] = byte(k)
			}
			return b, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := newF(s)
	over, under := store.MaxRecordBytes, 1<<20 // a payload of MaxRecordBytes makes a record over it
	for range 2 {
		for _, k := range []int{over, under} {
			if v, err := f.Call(ctx, k); err != nil || len(v) != k || v[0] != byte(k) {
				t.Fatalf("Call(%d) = %d bytes, %v", k, len(v), err)
			}
		}
	}
	if runs.Load() != 2 {
		t.Errorf("fn ran %d times for two values called twice, want 2: the oversized value is memoized in memory", runs.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := nsStats(t, s, "blob")
	if st.WriteErrors != 1 || st.Entries != 1 || st.Bytes > 2<<20 {
		t.Errorf("stats %+v; want 1 write error and only the 1 MiB value stored", st)
	}
	if !strings.Contains(logs.String(), "MaxRecordBytes") {
		t.Errorf("the log does not say why the value was not stored:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	f = newF(s)
	runs.Store(0)
	for _, k := range []int{over, under} {
		if v, err := f.Call(ctx, k); err != nil || len(v) != k {
			t.Fatalf("Call(%d) after reopening = %d bytes, %v", k, len(v), err)
		}
	}
	if runs.Load() != 1 || f.Info().DiskHits != 1 {
		t.Errorf("after reopening: %d runs, %v; want the oversized value recomputed and the other from disk", runs.Load(), f.Info())
	}
}

// TestQueueBytesBound samples Stats while 16 goroutines write: the
// write-behind queue never holds more than WithQueueBytes.
func TestQueueBytesBound(t *testing.T) {
	const budget, queueCalls = 128 << 10, 1000
	s := openT(t, filepath.Join(t.TempDir(), "queue.db"), store.WithQueueBytes(budget))
	f, err := memo.New(s, "q", func(_ context.Context, k int) (string, error) {
		return strings.Repeat("q", 6000+k%3000), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		next    atomic.Int64
		writers sync.WaitGroup
		maxSeen atomic.Int64
		samples atomic.Int64
	)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			q := s.Stats().QueuedBytes
			samples.Add(1)
			if q > maxSeen.Load() {
				maxSeen.Store(q)
			}
		}
	}()
	for range 16 {
		writers.Go(func() {
			for k := next.Add(1); k <= queueCalls; k = next.Add(1) {
				if _, err := f.Call(ctx, int(k)); err != nil {
					t.Errorf("Call(%d): %v", k, err)
				}
			}
		})
	}
	writers.Wait()
	close(done)
	<-sampled
	t.Logf("the queue held up to %d bytes of its %d budget (%d samples)", maxSeen.Load(), budget, samples.Load())
	if m := maxSeen.Load(); m > budget {
		t.Errorf("the queue held %d bytes, over its budget of %d", m, budget)
	} else if m < budget/2 {
		t.Errorf("the queue never held more than %d bytes of its %d budget in %d samples: the test did not exercise it", m, budget, samples.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := nsStats(t, s, "q"); st.Entries != queueCalls || st.WriteErrors != 0 {
		t.Errorf("after the burst: %+v; want all entries, no write errors (backpressure waits, never drops)", st)
	}
}

// TestQueueBytesBoundLargeRecord: a record larger than the whole
// write-behind budget must not take the queue over it either.
//
// Such a record is written through (Put waits for its commit) instead of
// being queued.
func TestQueueBytesBoundLargeRecord(t *testing.T) {
	const budget = 64 << 10
	s := openT(t, filepath.Join(t.TempDir(), "large.db"), store.WithQueueBytes(budget))
	f, err := memo.New(s, "large", func(_ context.Context, k int) (string, error) {
		return strings.Repeat("L", 4*budget), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Call(context.Background(), 1); err != nil || len(v) != 4*budget {
		t.Fatalf("Call = %d bytes, %v", len(v), err)
	}
	// Written behind, the record waits about 10ms for the writer.
	if q := s.Stats().QueuedBytes; q > budget {
		t.Errorf("the queue holds %d bytes, over its budget of %d", q, budget)
	}
}
