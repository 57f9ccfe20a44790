package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisNewerFormat: a prefix written by a newer version is refused.
func TestRedisNewerFormat(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	redistest.Client(t, url).Set(context.Background(), prefix+":format", RedisFormatVersion+1, 0)
	_, err := store.Open(url, WithPrefix(prefix), store.WithLogger(nil))
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("store.Open = %v, want store.ErrCorrupt naming a newer format", err)
	}
	// One "store: open URL: " prefix, not repeated by the sentinel's own.
	prefixed := "store: open " + redactURL(url) + ": "
	if rest, ok := strings.CutPrefix(err.Error(), prefixed); !ok || strings.HasPrefix(rest, "store: ") || strings.Contains(rest, ": store: ") {
		t.Errorf("store.Open = %q, want one %q prefix", err, prefixed)
	}
}

// TestRedisOpenErrors: an unreachable server and a bad URL fail store.Open
// with a clear error, within the timeout.
func TestRedisOpenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = store.Open("redis://user:secret@"+addr+"/0", store.WithLogger(nil), WithTimeout(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Errorf("store.Open of a closed port = %v, want cannot reach Redis", err)
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("store.Open took %v", d)
	}
	if _, err := store.Open("redis://127.0.0.1:notaport/0", store.WithLogger(nil)); err == nil {
		t.Error("store.Open of a bad URL succeeded")
	}
	if _, err := store.Open(redistest.URL(t), store.WithLogger(nil), WithPrefix("a:b")); err == nil || !strings.Contains(err.Error(), "':'") {
		t.Errorf("store.Open with a prefix holding ':' = %v, want refused", err)
	}
}

// TestRedisReadOnly: a read-only store (memoctl info) writes nothing, not
// even the format key, and refuses to claim or clear.
func TestRedisReadOnly(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	s := openStore(t, url, WithPrefix(prefix), store.WithReadOnly())
	if n := redistest.Client(t, url).Exists(context.Background(), prefix+":format").Val(); n != 0 {
		t.Error("a read-only store.Open wrote the format key")
	}
	if _, err := s.Namespace(context.Background(), "x", mtesting.Spec("1")); err == nil {
		t.Error("a read-only store claimed a namespace")
	}
	if err := s.Clear(context.Background(), ""); err == nil {
		t.Error("a read-only store cleared")
	}
}
