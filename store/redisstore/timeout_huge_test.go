package redisstore

import (
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
)

// TestHugeTimeoutDoesNotExpireAtOnce: WithTimeout takes any
// positive duration, and a long one means a patient store. Open bounds
// its first exchange by 2*timeout (open.go), which overflowed for a
// timeout over math.MaxInt64/2: the context was dead before anything was
// sent, and Open failed at once with "cannot reach Redis: context deadline
// exceeded" on a server that is listening. The timeout must
// saturate (or be refused), not wrap (the breaker's 2*timeout+100ms
// wraps too). The server here is a TCP listener that accepts and never
// answers: no Redis is started.
func TestHugeTimeoutDoesNotExpireAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	hangUp := func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		s, err := store.Open("redis://"+l.Addr().String()+"/0", store.WithLogger(nil), WithTimeout(math.MaxInt64))
		if s != nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		hangUp()
		if err != nil && strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("Open with WithTimeout(math.MaxInt64) failed after %v: %v; a server was listening, and a timeout of 292 years had not run out", time.Since(start), err)
		}
	case <-time.After(time.Second):
		// Still waiting, as asked: let it go.
		hangUp()
		<-done
	}
}
