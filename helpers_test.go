// Helpers the end-to-end tests of this directory share.
package memostore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// captureLog returns a store option that logs into the returned buffer.
func captureLog() (store.Option, *mtesting.LogBuffer) {
	l, b := mtesting.CaptureLog()
	return store.WithLogger(l), b
}

// openT opens path and closes it when the test ends.
func openT(t *testing.T, path string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(path, append([]store.Option{store.WithLogger(nil), store.WithLockTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func nsStats(t *testing.T, s *store.Store, name string) store.NamespaceStats {
	t.Helper()
	for _, ns := range s.Stats().Namespaces {
		if ns.Name == name {
			return ns
		}
	}
	t.Fatalf("no namespace %q in Stats", name)
	return store.NamespaceStats{}
}

func wantCheckOK(t *testing.T, s *store.Store, when string) {
	t.Helper()
	rep, err := s.Check(context.Background(), false, nil)
	if err != nil {
		t.Fatalf("Check %s: %v", when, err)
	}
	if !rep.OK() {
		t.Fatalf("Check %s found %d problems:\n%s", when, len(rep.Problems), strings.Join(rep.Problems, "\n"))
	}
}

func sqValue(k int) string {
	return fmt.Sprintf("square of %d is %d %s", k, k*k, strings.Repeat(".", k%90))
}

// newSq memoizes sqValue on s as "sq", counting runs; with fail, fn fails
// instead of computing, so that a miss shows as an error.
func newSq(t *testing.T, s *store.Store, runs *atomic.Int64, fail bool) *memo.Func[int, string] {
	t.Helper()
	f, err := memo.New(s, "sq", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		if fail {
			return "", fmt.Errorf("computed %d: %w", k, errNotStored)
		}
		return sqValue(k), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
