package memoprom_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memoprom"
	"github.com/memostore/memostore/store"
)

// TestCollectorTakeoverKeepsMemoryMetrics: a follower whose Func is still
// open takes the file over when its holder closes; its scrape must go on
// reporting memostore_memory_max_entries for that Func's namespace. It
// reported none until the Func's next call re-claimed the namespace
// (found by a review).
func TestCollectorTakeoverKeepsMemoryMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	holder, err := store.Open(path, warnings)
	if err != nil {
		t.Fatal(err)
	}
	f, err := store.Open(path, warnings)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	sq, err := memo.New(f, "sq", func(_ context.Context, k int) (int, error) { return k * k, nil })
	if err != nil {
		t.Fatal(err)
	}
	for k := range 5 {
		sq.Call(ctx, k)
	}
	c := memoprom.NewCollector(f)
	if _, ok := scrape(t, c)["memostore_memory_max_entries{sq}"]; !ok {
		t.Fatal("memostore_memory_max_entries{sq} missing before the takeover")
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && f.Role() != store.RoleHolder; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Role() != store.RoleHolder {
		t.Fatalf("no takeover: %v", f.Role())
	}
	time.Sleep(200 * time.Millisecond)
	got := scrape(t, c)
	if v, ok := got["memostore_memory_max_entries{sq}"]; !ok || v != 128 {
		t.Errorf("after the takeover, with sq still open: memostore_memory_max_entries{sq} = %v (present %v), want 128", v, ok)
	}
	if _, ok := got["memostore_memory_entries{sq}"]; !ok {
		t.Errorf("after the takeover, with sq still open: memostore_memory_entries{sq} missing")
	}
}
