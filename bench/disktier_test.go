package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// diskTier is the disk tier alone: a Func with MaxSize(0) on a store
// whose WithMaxBytes holds capacity entries. Every entry is the same size:
// keys are renumbered in order of first request from 1<<40 up (9 bytes of
// msgpack each), and fn returns true (1 byte).
//
// The store evicts when it commits, and a write waits in its queue, visible
// to later calls, until then: so that the file holds about capacity
// entries and not capacity plus a queue whose length depends on the
// machine's speed, request Flushes every capacity/50 requests, and
// WithMaxBytes holds capacity less half of that: between Flushes the file
// holds capacity entries, give or take 1%.
type diskTier struct {
	s     *store.Store
	f     *memo.Func[uint64, bool]
	dir   string
	opts  []store.Option // the store's, to reopen it (see restart)
	ids   map[uint64]uint64
	every int // Flush every this many requests
	n     int
	hits  int64 // counted before the last restart, then in close
	miss  int64
}

func present(context.Context, uint64) (bool, error) { return true, nil }

func newDiskTier(tb testing.TB, capacity int) cache {
	tb.Helper()
	per := diskEntryBytes(tb)
	every := max(capacity/50, 1)
	dir := tempDir(tb)
	d := &diskTier{dir: dir, ids: make(map[uint64]uint64), every: every,
		opts: []store.Option{warnings, store.WithoutControl(), store.WithSweepInterval(0),
			store.WithMaxBytes(int64(capacity-every/2) * per)}}
	d.open(tb)
	return d
}

// open opens the store and the Func.
func (d *diskTier) open(tb testing.TB) {
	tb.Helper()
	s, err := store.Open(filepath.Join(d.dir, "trace.db"), d.opts...)
	if err != nil {
		tb.Fatal(err)
	}
	d.s, d.f = s, mustFunc(tb, s, "trace", present, memo.MaxSize(0))
}

// restart closes the store and opens it again, as a restarted program
// does; with forget, what Close saved of eviction's state is deleted
// first (forget is called on the closed file), as a program that ended
// without Close would leave none.
func (d *diskTier) restart(tb testing.TB, forget func(path string) error) {
	tb.Helper()
	i := d.f.Info()
	d.hits, d.miss = d.hits+i.Hits, d.miss+i.Misses
	if err := d.s.Close(); err != nil {
		tb.Fatal(err)
	}
	if forget != nil {
		if err := forget(filepath.Join(d.dir, "trace.db")); err != nil {
			tb.Fatal(err)
		}
	}
	d.open(tb)
}

func (d *diskTier) request(k uint64) {
	id, ok := d.ids[k]
	if !ok {
		id = 1<<40 + uint64(len(d.ids))
		d.ids[k] = id
	}
	ctx := context.Background()
	if _, err := d.f.Call(ctx, id); err != nil {
		panic(err)
	}
	if d.n++; d.n%d.every == 0 {
		if err := d.s.Flush(ctx); err != nil {
			panic(err)
		}
	}
}

// close counts the hits and misses, then closes and deletes the store.
func (d *diskTier) close(tb testing.TB) {
	i := d.f.Info()
	d.hits, d.miss = d.hits+i.Hits, d.miss+i.Misses
	if err := d.s.Close(); err != nil {
		tb.Error(err)
	}
	os.RemoveAll(d.dir)
}

func (d *diskTier) counts() (hits, misses int64) { return d.hits, d.miss }

// tempDir returns a new directory, in /dev/shm if there is one: the
// replays write a great deal and their hit ratios do not depend on the
// medium.
func tempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "memostore-trace-")
	if err != nil {
		return tb.TempDir()
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

var diskEntry struct {
	once  sync.Once
	bytes int64
	err   error
}

// diskEntryBytes returns the bytes one diskTier entry counts towards
// WithMaxBytes (key plus record, as Stats reports them), measured once on
// a store of 1,000 entries.
func diskEntryBytes(tb testing.TB) int64 {
	tb.Helper()
	diskEntry.once.Do(func() {
		dir := tempDir(tb)
		s, err := store.Open(filepath.Join(dir, "entry.db"), warnings, store.WithoutControl())
		if err != nil {
			diskEntry.err = err
			return
		}
		defer s.Close()
		f, err := memo.New(s, "trace", present, memo.MaxSize(0))
		if err != nil {
			diskEntry.err = err
			return
		}
		ctx := context.Background()
		const n = 1000
		for i := range uint64(n) {
			if _, err := f.Call(ctx, 1<<40+i); err != nil {
				diskEntry.err = err
				return
			}
		}
		if diskEntry.err = s.Flush(ctx); diskEntry.err != nil {
			return
		}
		st := s.Stats()
		if st.Entries != n || st.Bytes%n != 0 {
			diskEntry.err = fmt.Errorf("%d entries of %d bytes in all: not %d of one size", st.Entries, st.Bytes, n)
			return
		}
		diskEntry.bytes = st.Bytes / n
	})
	if diskEntry.err != nil {
		tb.Fatal(diskEntry.err)
	}
	return diskEntry.bytes
}
