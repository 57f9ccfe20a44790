//go:build !windows

package control

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// fakeBackend records what the endpoint asks of it.
type fakeBackend struct {
	mu    sync.Mutex
	peers chan *Peer
	puts  []string

	// If set, a lookup waits for it to close (or its ctx), and a put's
	// commit for commits to close.
	lookups, commits chan struct{}
}

func (b *fakeBackend) Stats(context.Context) (driver.Stats, error) {
	return driver.Stats{Path: "fake"}, nil
}
func (b *fakeBackend) Inspect(context.Context) (driver.Stats, error) {
	return driver.Stats{Path: "fake"}, nil
}
func (b *fakeBackend) Flush(context.Context) error        { return nil }
func (b *fakeBackend) Sweep(context.Context) (int, error) { return 0, nil }
func (b *fakeBackend) Keys(context.Context, string, int, func(driver.KeyInfo) error) error {
	return nil
}
func (b *fakeBackend) Check(context.Context, bool, func(done, total int64)) (*driver.CheckReport, error) {
	return &driver.CheckReport{}, nil
}
func (b *fakeBackend) Connect(p *Peer) Session {
	b.peers <- p
	return fakeSession{b}
}

type fakeSession struct{ b *fakeBackend }

func (fakeSession) Namespace(context.Context, string, driver.NamespaceSpec) error { return nil }
func (s fakeSession) Lookup(ctx context.Context, _ string, key []byte, _ int64) ([]byte, error) {
	if s.b.lookups != nil {
		select {
		case <-s.b.lookups:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return append([]byte("rec:"), key...), nil
}
func (fakeSession) Drop(string, []byte, []byte) {}
func (fakeSession) Acquire(context.Context, string, []byte, int64, time.Duration) ([]byte, uint64, error) {
	return nil, 1, nil
}
func (fakeSession) Release(string, []byte, uint64)       {}
func (fakeSession) Claim(string, []byte) (uint64, error) { return 1, nil }
func (s fakeSession) Put(_ context.Context, ns string, key, _ []byte, _ uint64, committed func(error)) {
	s.b.mu.Lock()
	s.b.puts = append(s.b.puts, ns+"/"+string(key))
	s.b.mu.Unlock()
	if s.b.commits != nil {
		go func() {
			<-s.b.commits
			committed(nil)
		}()
		return
	}
	committed(nil)
}
func (fakeSession) Delete(context.Context, string, []byte) error { return nil }
func (fakeSession) Clear(context.Context, string) error          { return nil }
func (fakeSession) Counts(string, Counts)                        {}
func (fakeSession) Close()                                       {}

func (b *fakeBackend) stored() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.puts...)
}

// serveFake serves a fake backend on a socket in a new directory and
// returns the store path to dial.
func serveFake(t *testing.T) (string, *fakeBackend) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.db")
	b := &fakeBackend{peers: make(chan *Peer, 4)}
	srv, err := Serve(path, b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return path, b
}

// TestPutAfterUnacknowledgedPushIsDropped: a put that a process sent
// before it read an invalidation of its key (the push is not yet
// acknowledged) may hold a value computed before the invalidation: the
// holder drops it, and answers without error (the process's own memory
// tier drops the value too). Once the push is acknowledged, puts of the
// key are stored again; puts of other keys never wait.
func TestPutAfterUnacknowledgedPushIsDropped(t *testing.T) {
	path, b := serveFake(t)
	ctx := context.Background()
	release := make(chan struct{})
	pushed := make(chan *Msg, 1)
	c, err := DialPush(ctx, path, func(m *Msg) {
		pushed <- m
		<-release // acknowledge only when the test says
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-b.peers
	put := func(key string) error {
		_, err := c.Call(ctx, &Msg{Op: OpPut, NS: "n", Key: []byte(key), Rec: []byte("r")}, 5*time.Second)
		return err
	}
	forgot := make(chan struct{})
	go func() {
		peer.Forget(ctx, "n", []byte("k"))
		close(forgot)
	}()
	m := <-pushed
	if m.Op != OpForget || m.NS != "n" || string(m.Key) != "k" {
		t.Fatalf("push = %+v", m)
	}
	// The client's reader is busy with the push: send puts from the
	// holder's point of view before the ack by writing them raw.
	for _, key := range []string{"k", "other"} {
		if err := c.w.send(&Msg{Op: OpPut, NS: "n", Key: []byte(key), Rec: []byte("r")}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(b.stored()) < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-forgot:
		t.Fatal("Forget returned before the process acknowledged it")
	default:
	}
	close(release)
	<-forgot
	if err := put("k"); err != nil {
		t.Fatal(err)
	}
	if got := b.stored(); len(got) != 2 || got[0] != "n/other" || got[1] != "n/k" {
		t.Errorf("stored %q; want the put of another key, then only the put of k sent after the ack", got)
	}
}

// TestUnansweredPushDisconnects: a process that does not acknowledge a
// push within pushTimeout is disconnected, so that Forget returns; the
// process's connection ends (its owner then empties its memory tiers).
func TestUnansweredPushDisconnects(t *testing.T) {
	path, b := serveFake(t)
	ctx := context.Background()
	stuck := make(chan struct{})
	defer close(stuck)
	c, err := DialPush(ctx, path, func(*Msg) { <-stuck })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { go c.Close() }() // its reader is stuck until the test ends
	peer := <-b.peers
	start := time.Now()
	peer.Purge(ctx, "", true)
	if d := time.Since(start); d < pushTimeout/2 || d > 10*pushTimeout {
		t.Errorf("Purge of a stuck process returned after %v; want about %v", d, pushTimeout)
	}
	if _, err := c.Call(ctx, &Msg{Op: OpStats}, time.Second); err == nil {
		t.Error("the stuck process's connection still answers")
	}
}
