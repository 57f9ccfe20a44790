// Package mtesting holds the test helpers that the tests of several
// packages share: a fake clock, and short ways to open namespaces, store
// records and look them up, through package store or straight through a
// backend (it does not import store, so that a backend's own tests can
// use it).
package mtesting

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/store/driver"
)

// Epoch is where fake clocks start: a fixed, positive instant, so that
// stored-at and expires-at values are deterministic.
var Epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// FakeClock is an expiry.Clock that moves only when told to.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func NewFakeClock() *FakeClock { return &FakeClock{now: Epoch} }

func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Nanos returns the clock's time in Unix nanoseconds.
func (c *FakeClock) Nanos() int64 { return c.Now().UnixNano() }

// CloseStore closes s and fails the test if Close fails.
func CloseStore(tb testing.TB, s interface{ Close() error }) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// Spec returns a namespace Spec of the given version for int64 → string.
func Spec(version string) driver.NamespaceSpec {
	return driver.NamespaceSpec{Version: version, KeyType: "int64", KeyID: "i", ValueType: "string", ValueID: "s"}
}

// A Claimer is a store that claims namespaces: a *store.Store, or a
// backend's store.
type Claimer[N any] interface {
	Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (N, error)
}

// OpenNS claims the namespace name on s with Spec("1").
func OpenNS[N any](tb testing.TB, s Claimer[N], name string) N {
	tb.Helper()
	return OpenNSSpec(tb, s, name, Spec("1"))
}

// OpenNSSpec claims the namespace name on s with spec sp.
func OpenNSSpec[N any](tb testing.TB, s Claimer[N], name string, sp driver.NamespaceSpec) N {
	tb.Helper()
	ns, err := s.Namespace(context.Background(), name, sp)
	if err != nil {
		tb.Fatalf("Namespace(%q): %v", name, err)
	}
	return ns
}

// Key returns the msgpack encoding of the string k, as memo makes keys.
func Key(k string) []byte { return codec.AppendString(nil, k) }

// Record returns a Record of the msgpack string v, to be stored under
// Key(k).
func Record(k string, storedAt, expiresAt int64, v string) []byte {
	return codec.NewRecord(Key(k), storedAt, expiresAt, codec.AppendString(nil, v))
}

// A Namespace is what Put and Lookup use: a *store.Namespace, or a
// backend's namespace.
type Namespace interface {
	Lookup(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, error)
	Put(ctx context.Context, key, rec []byte) error
}

// Put stores rec under k and fails the test on error.
func Put(tb testing.TB, ns Namespace, k string, rec []byte) {
	tb.Helper()
	if err := ns.Put(context.Background(), Key(k), rec); err != nil {
		tb.Fatalf("Put(%q): %v", k, err)
	}
}

// Found is what a Lookup saw.
type Found struct {
	OK        bool
	Payload   []byte // copied out of the transaction
	ExpiresAt int64
	Header    codec.Header
}

// Lookup looks k up in ns and fails the test on error.
func Lookup(tb testing.TB, ns Namespace, k string) Found {
	tb.Helper()
	var f Found
	ok, err := ns.Lookup(context.Background(), Key(k), func(payload []byte, h codec.Header) error {
		f.Payload = bytes.Clone(payload)
		f.ExpiresAt = h.ExpiresAt
		f.Header = h
		return nil
	})
	if err != nil {
		tb.Fatalf("Lookup(%q): %v", k, err)
	}
	f.OK = ok
	return f
}

// WantValue fails the test unless k is in ns with the string value v.
func WantValue(tb testing.TB, ns Namespace, k, v string) {
	tb.Helper()
	f := Lookup(tb, ns, k)
	if !f.OK {
		tb.Fatalf("Lookup(%q) missed, want %q", k, v)
	}
	if want := codec.AppendString(nil, v); !bytes.Equal(f.Payload, want) {
		tb.Fatalf("Lookup(%q) payload = %x, want %x (%q)", k, f.Payload, want, v)
	}
}

// WantMiss fails the test if k is Found in ns.
func WantMiss(tb testing.TB, ns Namespace, k string) {
	tb.Helper()
	if f := Lookup(tb, ns, k); f.OK {
		tb.Fatalf("Lookup(%q) Found %x, want a miss", k, f.Payload)
	}
}

// Flush waits for every queued write of s and fails the test on error.
func Flush(tb testing.TB, s interface{ Flush(context.Context) error }) {
	tb.Helper()
	if err := s.Flush(context.Background()); err != nil {
		tb.Fatalf("Flush: %v", err)
	}
}

// NSStats returns the stats of the namespace name, failing if it is absent.
func NSStats(tb testing.TB, s interface{ Stats() driver.Stats }, name string) driver.NamespaceStats {
	tb.Helper()
	for _, n := range s.Stats().Namespaces {
		if n.Name == name {
			return n
		}
	}
	tb.Fatalf("Stats has no namespace %q", name)
	return driver.NamespaceStats{}
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// A LogBuffer is a slog text handler's output, safe to read while a store
// logs from its goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CaptureLog returns a logger that logs into the returned buffer.
func CaptureLog() (*slog.Logger, *LogBuffer) {
	var b LogBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// Tier is a driver.MemoryTier that counts what it is told to.
type Tier struct {
	Hits, Misses, DiskHits atomic.Int64
	Purges                 atomic.Int64
}

func (t *Tier) Size() (int, int) { return 3, 10 }
func (t *Tier) Counts() (int64, int64, int64) {
	return t.Hits.Load(), t.Misses.Load(), t.DiskHits.Load()
}
func (t *Tier) Purge(bool) func() { t.Purges.Add(1); return func() {} }

// FileState is a file's content, mode and modification time.
type FileState struct {
	Data  []byte
	Mode  os.FileMode
	MTime time.Time
}

// Snapshot sets path's modification time an hour back, so that any write
// to it shows even on coarse timestamps, and returns its state.
func Snapshot(tb testing.TB, path string) FileState {
	tb.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		tb.Fatal(err)
	}
	return state(tb, path)
}

// Same reports whether path is byte for byte as in f, with the same mode
// and modification time.
func (f FileState) Same(tb testing.TB, path string) bool {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Errorf("%s: %v", path, err)
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && bytes.Equal(data, f.Data) && fi.Mode() == f.Mode && fi.ModTime().Equal(f.MTime)
}

// WantUnchanged fails the test unless path is as in before, saying what
// changed.
func WantUnchanged(tb testing.TB, path string, before FileState) {
	tb.Helper()
	after := state(tb, path)
	if !bytes.Equal(before.Data, after.Data) {
		tb.Errorf("%s changed: %d bytes before, %d after", path, len(before.Data), len(after.Data))
	}
	if before.Mode != after.Mode {
		tb.Errorf("%s mode changed: %v, then %v", path, before.Mode, after.Mode)
	}
	if !before.MTime.Equal(after.MTime) {
		tb.Errorf("%s modified: mtime %v, then %v", path, before.MTime, after.MTime)
	}
}

// state reads path's state, failing the test if it cannot.
func state(tb testing.TB, path string) FileState {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return FileState{data, fi.Mode(), fi.ModTime()}
}

// DirNames returns the names in dir, sorted.
func DirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
