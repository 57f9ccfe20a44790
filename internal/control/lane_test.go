//go:build linux || darwin || freebsd

package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// laneCount returns how many lanes c has open.
func laneCount(c *Client) int {
	c.laneMu.Lock()
	defer c.laneMu.Unlock()
	return len(c.lanes)
}

// TestLanes: lookups and claims take a lane, which joins the
// connection's session; other requests, and a request about a key whose
// put is unanswered, take the connection; lanes end with it.
func TestLanes(t *testing.T) {
	path, b := serveFake(t)
	b.commits = make(chan struct{})
	ctx := context.Background()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-b.peers
	if c.laneTok == nil {
		t.Fatal("the holder's hello has no lane token")
	}
	for range 3 {
		r, err := c.Call(ctx, &Msg{Op: OpLookup, NS: "n", Key: []byte("k")}, time.Second)
		if err != nil || string(r.Rec) != "rec:k" {
			t.Fatalf("lookup: %+v, %v", r, err)
		}
	}
	if n := laneCount(c); n != 1 {
		t.Fatalf("%d lanes after three lookups one after another; want 1", n)
	}
	if r, err := c.Call(ctx, &Msg{Op: OpAcquire, NS: "n", Key: []byte("k")}, time.Second); err != nil || r.N != 1 {
		t.Fatalf("acquire: %+v, %v", r, err)
	}
	peer.mu.Lock()
	lanes := len(peer.lanes)
	peer.mu.Unlock()
	if lanes != 1 {
		t.Fatalf("the holder has %d lanes joined to the connection; want 1", lanes)
	}

	// A put not yet answered: its key's lookups wait behind it on the
	// connection; other keys' do not.
	answered := make(chan *Msg, 1)
	if !c.Go(&Msg{Op: OpPut, NS: "n", Key: []byte("p"), Rec: []byte("r")}, func(r *Msg) { answered <- r }) {
		t.Fatal("put not sent")
	}
	if l := c.takeLane(&Msg{Op: OpLookup, NS: "n", Key: []byte("p")}); l != nil {
		c.putLane(l)
		t.Error("a lookup of a key whose put is unanswered takes a lane")
	}
	l := c.takeLane(&Msg{Op: OpLookup, NS: "n", Key: []byte("q")})
	if l == nil {
		t.Fatal("a lookup of another key takes no lane")
	}
	c.putLane(l)
	close(b.commits)
	if r := <-answered; r == nil || r.err() != nil {
		t.Fatalf("put: %+v", r)
	}
	if l := c.takeLane(&Msg{Op: OpLookup, NS: "n", Key: []byte("p")}); l == nil {
		t.Error("the key's lookups still take the connection after its put was answered")
	} else {
		c.putLane(l)
	}

	c.Close()
	if n := laneCount(c); n != 0 {
		t.Errorf("%d lanes open after Close", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		peer.srv.mu.Lock()
		n := len(peer.srv.peers)
		peer.srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open at the holder after Close", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// dialStuck dials a fake holder whose lookups never answer until the test
// ends.
func dialStuck(t *testing.T) *Client {
	t.Helper()
	path, b := serveFake(t)
	b.lookups = make(chan struct{})
	t.Cleanup(func() { close(b.lookups) })
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLaneTimeout: a holder that does not answer a lane's request within
// the timeout is given up, connection and all, as on the connection.
func TestLaneTimeout(t *testing.T) {
	c := dialStuck(t)
	start := time.Now()
	_, err := c.Call(context.Background(), &Msg{Op: OpLookup, NS: "n", Key: []byte("k")}, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lookup of a stuck holder: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v; want about 100ms", d)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection is still open after a lane timed out")
	}
}

// TestLaneCancel: a ctx that ends cuts the lane's wait; the connection
// stays.
func TestLaneCancel(t *testing.T) {
	c := dialStuck(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Call(ctx, &Msg{Op: OpLookup, NS: "n", Key: []byte("k")}, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup with a canceled ctx: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v; want about 50ms", d)
	}
	select {
	case <-c.Done():
		t.Fatal("a canceled lookup closed the connection")
	default:
	}
	if laneCount(c) != 0 {
		t.Error("the cut lane is still open")
	}
}

// TestLaneRefusals: a lane serves only lookups and claims, and joins only
// an open connection's session.
func TestLaneRefusals(t *testing.T) {
	path, _ := serveFake(t)
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := dialLane(Path(path), c.laneTok)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	r, err := l.roundTrip(&Msg{Op: OpPut, NS: "n", Key: []byte("k"), Rec: []byte("r")}, time.Second)
	if err != nil || r.err() == nil {
		t.Errorf("a put on a lane: %+v, %v; want refused", r, err)
	}
	if l2, err := dialLane(Path(path), []byte("not a token")); err == nil {
		l2.close()
		t.Error("a lane joined with a token no connection has")
	}
}

// TestHolderLaneBlocks: the holder serves a lane with blocking system
// calls, outside the poller (see detachLane), and still ends it at once
// when the server closes, while its goroutine waits in read(2) for the
// next request; so does the connection's reader.
func TestHolderLaneBlocks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	b := &fakeBackend{peers: make(chan *Peer, 4)}
	srv, err := Serve(path, b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		r, err := c.Call(context.Background(), &Msg{Op: OpLookup, NS: "n", Key: []byte("k")}, time.Second)
		if err != nil || string(r.Rec) != "rec:k" {
			t.Fatalf("lookup: %+v, %v", r, err)
		}
	}
	var blocking []*Peer
	srv.mu.Lock()
	for p := range srv.peers {
		p.mu.Lock()
		if p.blk != nil {
			blocking = append(blocking, p)
		}
		p.mu.Unlock()
	}
	srv.mu.Unlock()
	// The lane, and the connection (see blockConn).
	if len(blocking) != 1 || srv.blocking.Load() != 2 {
		t.Fatalf("%d lanes served with blocking reads (%d counted with the connections); want 1 (2)", len(blocking), srv.blocking.Load())
	}
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	select {
	case <-done:
		closed = true
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a lane blocked in read(2)")
	}
	if n := srv.blocking.Load(); n != 0 {
		t.Errorf("%d blocking lanes counted after Close", n)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection is still open after the server closed")
	}
}
