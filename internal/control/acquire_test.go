package control

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// grantLate is a backend whose Acquire grants token 7 only once grant is
// closed, and which counts the releases of it.
type grantLate struct {
	fakeBackend
	grant    chan struct{}
	released atomic.Int64
}

func (b *grantLate) Connect(*Peer) Session { return grantLateSession{fakeSession{&b.fakeBackend}, b} }

type grantLateSession struct {
	fakeSession
	b *grantLate
}

func (s grantLateSession) Acquire(context.Context, string, []byte, int64, time.Duration) ([]byte, uint64, error) {
	<-s.b.grant
	return nil, 7, nil
}

func (s grantLateSession) Release(_ string, _ []byte, tok uint64) {
	if tok == 7 {
		s.b.released.Add(1)
	}
}

// TestCanceledAcquireReleasesLateClaim: a claim whose caller gave up (its
// context canceled) before the holder granted it must be released when
// the grant comes, on the connection and on a lane: it was kept by no one
// until the claim's lease ran out, and every other process waited for it
// (found by a review).
func TestCanceledAcquireReleasesLateClaim(t *testing.T) {
	for _, lane := range []bool{false, true} {
		t.Run(map[bool]string{false: "connection", true: "lane"}[lane], func(t *testing.T) {
			dir, err := os.MkdirTemp("", "ctl")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "s.db")
			b := &grantLate{fakeBackend: fakeBackend{peers: make(chan *Peer, 4)}, grant: make(chan struct{})}
			srv, err := Serve(path, b, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			c, err := Dial(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			m := &Msg{Op: OpAcquire, NS: "n", Key: []byte("k"), N: int64(time.Second)}
			done := make(chan error, 1)
			go func() {
				var err error
				if lane {
					_, err = c.Call(ctx, m, 5*time.Second)
				} else {
					_, err = c.call(ctx, m) // the connection, not a lane
				}
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			cancel()
			if err := <-done; err == nil {
				t.Fatal("Acquire did not end with its context")
			}
			close(b.grant)
			for deadline := time.Now().Add(5 * time.Second); b.released.Load() == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the claim granted after its caller gave up was not released in 5s")
				}
			}
		})
	}
}
