package redisstore_test

import (
	"sync"
	"testing"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/redisstore"
	"github.com/memostore/memostore/store/storetest"
)

// TestConformance runs the conformance suite on Redis, on one server and
// on a Redis Cluster (opened by its URL, with addr= parameters): the
// stores one test opens share one prefix.
func TestConformance(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{
		"server": redistest.URL, "cluster": redistest.ClusterURL,
	} {
		t.Run(name, func(t *testing.T) {
			url := url(t)
			var prefixes sync.Map // test name → prefix
			storetest.Run(t, func(tb testing.TB, opts ...store.Option) *store.Store {
				tb.Helper()
				p, ok := prefixes.Load(tb.Name())
				if !ok {
					p, _ = prefixes.LoadOrStore(tb.Name(), redistest.Prefix(tb, url))
				}
				base := []store.Option{store.WithLogger(nil), redisstore.WithPrefix(p.(string))}
				s, err := store.Open(url, append(base, opts...)...)
				if err != nil {
					tb.Fatalf("Open(%s): %v", url, err)
				}
				tb.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
