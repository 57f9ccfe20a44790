// Package mtesting holds the test helpers that the tests of several
// packages share: a fake clock, and short ways to open namespaces, store
// records and look them up through package store.
package mtesting

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/store"
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
func CloseStore(tb testing.TB, s *store.Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// Spec returns a namespace Spec of the given version for int64 → string.
func Spec(version string) store.NamespaceSpec {
	return store.NamespaceSpec{Version: version, KeyType: "int64", KeyID: "i", ValueType: "string", ValueID: "s"}
}

// OpenNS claims the namespace name on s with Spec("1").
func OpenNS(tb testing.TB, s *store.Store, name string) *store.Namespace {
	tb.Helper()
	return OpenNSSpec(tb, s, name, Spec("1"))
}

func OpenNSSpec(tb testing.TB, s *store.Store, name string, sp store.NamespaceSpec) *store.Namespace {
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

// Put stores rec under k and fails the test on error.
func Put(tb testing.TB, ns *store.Namespace, k string, rec []byte) {
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
}

// Lookup looks k up in ns and fails the test on error.
func Lookup(tb testing.TB, ns *store.Namespace, k string) Found {
	tb.Helper()
	var f Found
	ok, err := ns.Lookup(context.Background(), Key(k), func(payload []byte, _, expiresAt int64) error {
		f.Payload = bytes.Clone(payload)
		f.ExpiresAt = expiresAt
		return nil
	})
	if err != nil {
		tb.Fatalf("Lookup(%q): %v", k, err)
	}
	f.OK = ok
	return f
}

// WantValue fails the test unless k is in ns with the string value v.
func WantValue(tb testing.TB, ns *store.Namespace, k, v string) {
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
func WantMiss(tb testing.TB, ns *store.Namespace, k string) {
	tb.Helper()
	if f := Lookup(tb, ns, k); f.OK {
		tb.Fatalf("Lookup(%q) Found %x, want a miss", k, f.Payload)
	}
}

// Flush waits for every queued write of s and fails the test on error.
func Flush(tb testing.TB, s *store.Store) {
	tb.Helper()
	if err := s.Flush(context.Background()); err != nil {
		tb.Fatalf("Flush: %v", err)
	}
}

// NSStats returns the stats of the namespace name, failing if it is absent.
func NSStats(tb testing.TB, s *store.Store, name string) store.NamespaceStats {
	tb.Helper()
	for _, n := range s.Stats().Namespaces {
		if n.Name == name {
			return n
		}
	}
	tb.Fatalf("Stats has no namespace %q", name)
	return store.NamespaceStats{}
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

// Tier is a store.MemoryTier that counts what it is told to.
type Tier struct {
	Hits, Misses, DiskHits atomic.Int64
	Purges                 atomic.Int64
}

func (t *Tier) Size() (int, int) { return 3, 10 }
func (t *Tier) Counts() (int64, int64, int64) {
	return t.Hits.Load(), t.Misses.Load(), t.DiskHits.Load()
}
func (t *Tier) Purge(bool) func() { t.Purges.Add(1); return func() {} }
