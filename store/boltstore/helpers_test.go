package boltstore

import (
	"cmp"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// The fake clock, records, lookups and log buffer these tests use are
// package mtesting's, shared with the tests of store and memo.
type (
	fakeClock = mtesting.FakeClock
	found     = mtesting.Found
	logBuffer = mtesting.LogBuffer
)

var (
	epoch         = mtesting.Epoch
	newFakeClock  = mtesting.NewFakeClock
	key           = mtesting.Key
	record        = mtesting.Record
	put           = mtesting.Put
	lookup        = mtesting.Lookup
	wantValue     = mtesting.WantValue
	wantMiss      = mtesting.WantMiss
	snapshot      = mtesting.Snapshot
	wantUnchanged = mtesting.WantUnchanged
)

// dirNames returns the names in the directory of path, sorted.
func dirNames(tb testing.TB, path string) []string {
	tb.Helper()
	return mtesting.DirNames(tb, filepath.Dir(path))
}

// tempPath returns the path of a store file that does not exist yet, in a
// directory removed when the test ends.
func tempPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "cache.db")
}

// An Option sets Options for openWith, as store's options do.
type Option func(*Options)

// openWith opens path with the defaults store gives and opts.
func openWith(path string, opts ...Option) (*Store, error) {
	o := DefaultOptions()
	o.Logger, o.Clock = slog.Default(), expiry.SystemClock{}
	for _, opt := range opts {
		opt(&o)
	}
	return Open(path, o)
}

// compactWith compacts path with the lock timeout opts set.
func compactWith(ctx context.Context, path string, opts ...Option) (int64, int64, error) {
	o := DefaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return Compact(ctx, path, o.LockTimeout)
}

func WithLockTimeout(d time.Duration) Option {
	return func(o *Options) { o.LockTimeout = cmp.Or(max(d, 0), DefaultLockTimeout) }
}
func WithSweepInterval(d time.Duration) Option { return func(o *Options) { o.SweepInterval = d } }
func WithMaxBytes(n int64) Option              { return func(o *Options) { o.MaxBytes = max(n, 0) } }
func WithQueueBytes(n int64) Option {
	return func(o *Options) {
		if n > 0 {
			o.QueueBytes = n
		}
	}
}
func WithSyncWrites() Option { return func(o *Options) { o.SyncWrites = true } }
func WithReadOnly() Option   { return func(o *Options) { o.ReadOnly = true } }
func WithoutControl() Option { return func(o *Options) { o.Control = false } }
func WithRecover() Option    { return func(o *Options) { o.Recover = true } }
func WithClock(c expiry.Clock) Option {
	return func(o *Options) { o.Clock = c }
}
func WithLogger(l *slog.Logger) Option {
	return func(o *Options) { o.Logger = cmp.Or(l, slog.New(slog.DiscardHandler)) }
}

// countHit and countMiss count a call on ns, as a memory tier would.
func countHit(ns driver.Namespace, fromDisk bool) {
	d := &ns.(*Namespace).sp.d
	d.Hits.Add(1)
	if fromDisk {
		d.DiskHits.Add(1)
	}
}

func countMiss(ns driver.Namespace) { ns.(*Namespace).sp.d.Misses.Add(1) }

// quiet discards the store's log unless a test asks for it.
func quiet() Option { return WithLogger(nil) }

// openStore opens path with opts (and a discarding logger, unless opts
// set one) and closes it when the test ends.
func openStore(tb testing.TB, path string, opts ...Option) *Store {
	tb.Helper()
	s, err := openWith(path, append([]Option{quiet(), WithLockTimeout(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		tb.Fatalf("openWith(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// closeStore closes s and fails the test if Close fails.
func closeStore(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// spec returns a namespace spec of the given version for int64 → string.
func spec(version string) driver.NamespaceSpec {
	return driver.NamespaceSpec{Version: version, KeyType: "int64", KeyID: "i", ValueType: "string", ValueID: "s"}
}

// openNS claims the namespace name on s with spec("1").
func openNS(tb testing.TB, s *Store, name string) *Namespace {
	tb.Helper()
	return openNSSpec(tb, s, name, spec("1"))
}

func openNSSpec(tb testing.TB, s *Store, name string, sp driver.NamespaceSpec) *Namespace {
	tb.Helper()
	ns, err := s.Namespace(context.Background(), name, sp)
	if err != nil {
		tb.Fatalf("Namespace(%q): %v", name, err)
	}
	return ns.(*Namespace)
}

// flush waits for every queued write of s and fails the test on error.
func flush(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.Flush(context.Background()); err != nil {
		tb.Fatalf("Flush: %v", err)
	}
}

// nsStats returns the stats of the namespace name, failing if it is absent.
func nsStats(tb testing.TB, s *Store, name string) driver.NamespaceStats {
	tb.Helper()
	for _, n := range s.stats().Namespaces {
		if n.Name == name {
			return n
		}
	}
	tb.Fatalf("driver.Stats has no namespace %q", name)
	return driver.NamespaceStats{}
}

// wantFiles fails the test unless path's directory holds exactly the
// named files: nothing else made beside path, no temporary file left.
func wantFiles(tb testing.TB, path string, want ...string) {
	tb.Helper()
	for i := range want {
		want[i] = filepath.Base(want[i])
	}
	slices.Sort(want)
	if got := dirNames(tb, path); !slices.Equal(got, want) {
		tb.Fatalf("directory holds %q, want %q", got, want)
	}
}

// captureLog returns an option that logs into the returned buffer.
func captureLog() (Option, *logBuffer) {
	l, b := mtesting.CaptureLog()
	return WithLogger(l), b
}

// holdWriter blocks s's writer inside a commit until the returned function
// is called (or the test ends), so that later writes stay queued.
func holdWriter(tb testing.TB, s *Store) (resume func()) {
	tb.Helper()
	var startOnce, resumeOnce sync.Once
	started := make(chan struct{})
	hold := make(chan struct{})
	release, err := s.hold()
	if err != nil {
		tb.Fatal(err)
	}
	o := &op{kind: opFunc, fn: func(*bolt.Tx, *txState) error {
		startOnce.Do(func() { close(started) })
		<-hold
		return nil
	}}
	if err := s.enqueue(context.Background(), o, release); err != nil {
		tb.Fatal(err)
	}
	signal(s.urgent)
	<-started
	resume = func() { resumeOnce.Do(func() { close(hold) }) }
	tb.Cleanup(resume)
	return resume
}

// testTier is a MemoryTier that counts what it is told to.
type testTier struct {
	Hits, Misses, DiskHits atomic.Int64
	Purges                 atomic.Int64
}

func (t *testTier) Size() (int, int) { return 3, 10 }
func (t *testTier) Counts() (int64, int64, int64) {
	return t.Hits.Load(), t.Misses.Load(), t.DiskHits.Load()
}
func (t *testTier) Purge(bool) func() { t.Purges.Add(1); return func() {} }
