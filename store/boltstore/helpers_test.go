package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
)

// epoch is where fake clocks start: a fixed, positive instant, so that
// stored-at and expires-at values are deterministic.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is an expiry.Clock that moves only when told to. It is safe
// for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// nanos returns the clock's time in Unix nanoseconds.
func (c *fakeClock) nanos() int64 { return c.Now().UnixNano() }

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

// key returns the msgpack encoding of the string k, as memo makes keys.
func key(k string) []byte { return codec.AppendString(nil, k) }

// record returns a record of the msgpack string v, to be stored under
// key(k).
func record(k string, storedAt, expiresAt int64, v string) []byte {
	return codec.NewRecord(key(k), storedAt, expiresAt, codec.AppendString(nil, v))
}

// put stores rec under k and fails the test on error.
func put(tb testing.TB, ns *Namespace, k string, rec []byte) {
	tb.Helper()
	if err := ns.Put(context.Background(), key(k), rec); err != nil {
		tb.Fatalf("Put(%q): %v", k, err)
	}
}

// found is what a Lookup saw.
type found struct {
	ok        bool
	payload   []byte // copied out of the transaction
	expiresAt int64
}

// lookup looks k up in ns and fails the test on error.
func lookup(tb testing.TB, ns *Namespace, k string) found {
	tb.Helper()
	var f found
	ok, err := ns.Lookup(context.Background(), key(k), func(payload []byte, _, expiresAt int64) error {
		f.payload = bytes.Clone(payload)
		f.expiresAt = expiresAt
		return nil
	})
	if err != nil {
		tb.Fatalf("Lookup(%q): %v", k, err)
	}
	f.ok = ok
	return f
}

// wantValue fails the test unless k is in ns with the string value v.
func wantValue(tb testing.TB, ns *Namespace, k, v string) {
	tb.Helper()
	f := lookup(tb, ns, k)
	if !f.ok {
		tb.Fatalf("Lookup(%q) missed, want %q", k, v)
	}
	if want := codec.AppendString(nil, v); !bytes.Equal(f.payload, want) {
		tb.Fatalf("Lookup(%q) payload = %x, want %x (%q)", k, f.payload, want, v)
	}
}

// wantMiss fails the test if k is found in ns.
func wantMiss(tb testing.TB, ns *Namespace, k string) {
	tb.Helper()
	if f := lookup(tb, ns, k); f.ok {
		tb.Fatalf("Lookup(%q) found %x, want a miss", k, f.payload)
	}
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

// fileState is a file's content, mode and modification time.
type fileState struct {
	data  []byte
	mode  os.FileMode
	mtime time.Time
}

func snapshot(tb testing.TB, path string) fileState {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fileState{data: data, mode: fi.Mode(), mtime: fi.ModTime()}
}

// wantUnchanged fails the test unless path is byte for byte as before, with
// the same mode and modification time.
func wantUnchanged(tb testing.TB, path string, before fileState) {
	tb.Helper()
	after := snapshot(tb, path)
	if !bytes.Equal(before.data, after.data) {
		tb.Errorf("%s changed: %d bytes before, %d after", path, len(before.data), len(after.data))
	}
	if before.mode != after.mode {
		tb.Errorf("%s mode changed: %v, then %v", path, before.mode, after.mode)
	}
	if !before.mtime.Equal(after.mtime) {
		tb.Errorf("%s modified: mtime %v, then %v", path, before.mtime, after.mtime)
	}
}

// dirNames returns the names in path's directory, sorted.
func dirNames(tb testing.TB, path string) []string {
	tb.Helper()
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
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

// logBuffer is a slog text handler's output, safe to read while the store
// logs from its goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLog returns an option that logs into the returned buffer.
func captureLog() (Option, *logBuffer) {
	var b logBuffer
	return WithLogger(slog.New(slog.NewTextHandler(&b, nil))), &b
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
