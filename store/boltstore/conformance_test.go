package boltstore_test

import (
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/storetest"
)

// TestConformance runs the conformance suite on files: the stores one
// test opens are one file, reopened.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	var places sync.Map // test name → path
	storetest.Run(t, func(tb testing.TB, opts ...store.Option) *store.Store {
		tb.Helper()
		p, _ := places.LoadOrStore(tb.Name(), filepath.Join(dir, strconv.Itoa(len(tb.Name()))+"-"+filepath.Base(tb.Name())+".db"))
		path := p.(string)
		base := []store.Option{store.WithLogger(nil), store.WithLockTimeout(100 * time.Millisecond), store.WithSweepInterval(0)}
		s, err := store.Open(path, append(base, opts...)...)
		if err != nil {
			tb.Fatalf("Open(%s): %v", path, err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
