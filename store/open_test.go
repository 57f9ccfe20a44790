package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/memostore/memostore/store"
)

// TestOpenRedisWithoutImport: this test binary does not import
// redisstore, so a Redis URL is an error that names the import, and does
// not show the password.
func TestOpenRedisWithoutImport(t *testing.T) {
	for _, url := range []string{"redis://:secret@127.0.0.1:6379/0", "rediss://h:1", "unix:///tmp/redis.sock"} {
		_, err := store.Open(url)
		if err == nil || !strings.Contains(err.Error(), `"github.com/memostore/memostore/store/redisstore"`) {
			t.Errorf("Open(%s) = %v, want an error naming the redisstore import", url, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%s) = %v shows the password", url, err)
		}
	}
}

// TestOptionOfAnotherBackend: an option for another backend is an error.
func TestOptionOfAnotherBackend(t *testing.T) {
	other := store.BackendOption("redis", "redisstore.WithPrefix", func(any) {})
	_, err := store.Open(tempPath(t), other)
	if err == nil || !strings.Contains(err.Error(), "redisstore.WithPrefix applies to Redis stores only") {
		t.Errorf("Open(file, a Redis option) = %v", err)
	}
}

// TestRole: a file opened for writing is held; read-only is read-only.
func TestRole(t *testing.T) {
	path := tempPath(t)
	s := openFile(t, path)
	if s.Role() != store.RoleHolder {
		t.Errorf("Role() = %v, want holder", s.Role())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := store.Open(path, store.WithReadOnly(), store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Role() != store.RoleReadOnly {
		t.Errorf("Role() = %v, want read-only", ro.Role())
	}
	if _, err := ro.Inspect(t.Context()); errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Inspect on a file = %v", err)
	}
}
