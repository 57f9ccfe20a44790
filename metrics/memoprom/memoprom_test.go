package memoprom_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/memostore/memostore/store/redisstore"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memoprom"
	"github.com/memostore/memostore/store"
)

// warnings is the logger of every store here: an outage is logged at
// warning level, and nothing below it is of interest to a test.
var warnings = store.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

func openFile(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(filepath.Join(tb.TempDir(), "cache.db"), warnings, store.WithMaxBytes(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func openRedis(tb testing.TB, url string) *store.Store {
	tb.Helper()
	s, err := store.Open(url, warnings, redisstore.WithPrefix(redistest.Prefix(tb, url)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// exercise makes hits, misses and disk hits in two namespaces of s, and
// flushes them.
func exercise(tb testing.TB, s *store.Store) {
	tb.Helper()
	ctx := context.Background()
	square, err := memo.New(s, "square", func(_ context.Context, k int) (int, error) { return k * k, nil }, memo.MaxSize(1))
	if err != nil {
		tb.Fatal(err)
	}
	double, err := memo.New(s, "double", func(_ context.Context, k int) (int, error) { return 2 * k, nil })
	if err != nil {
		tb.Fatal(err)
	}
	// square keeps one entry in memory: 1 and 2 miss, then each is a
	// disk hit, then 2 a memory hit.
	for _, k := range []int{1, 2, 1, 2, 2} {
		if _, err := square.Call(ctx, k); err != nil {
			tb.Fatal(err)
		}
	}
	for _, k := range []int{1, 1, 1, 2} {
		if _, err := double.Call(ctx, k); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
}

// expected returns the series that a scrape of st must give, as
// "name{namespace}" = value.
func expected(st store.Stats) map[string]float64 {
	want := map[string]float64{"memostore_up": 1}
	file := st.Backend != "redis"
	for _, n := range st.Namespaces {
		set := func(name string, v int64) { want[fmt.Sprintf("%s{%s}", name, n.Name)] = float64(v) }
		set("memostore_hits_total", n.Hits)
		set("memostore_misses_total", n.Misses)
		set("memostore_disk_hits_total", n.DiskHits)
		set("memostore_writes_total", n.Writes)
		set("memostore_write_errors_total", n.WriteErrors)
		set("memostore_read_errors_total", n.ReadErrors)
		set("memostore_decode_errors_total", n.DecodeErrors)
		set("memostore_refreshes_total", n.Refreshes)
		set("memostore_stale_returns_total", n.StaleReturns)
		set("memostore_cached_errors_total", n.CachedErrors)
		want[fmt.Sprintf("memostore_saved_seconds_total{%s}", n.Name)] = n.Saved.Seconds()
		if n.Claimed {
			set("memostore_memory_entries", int64(n.MemSize))
			set("memostore_memory_max_entries", int64(n.MemMax))
		}
		if file {
			set("memostore_evictions_total", n.Evictions)
			set("memostore_expirations_total", n.Expirations)
			set("memostore_entries", n.Entries)
			set("memostore_bytes", n.Bytes)
		}
	}
	if file {
		want["memostore_file_size_bytes"] = float64(st.FileSize)
		want["memostore_max_bytes"] = float64(st.MaxBytes)
		want["memostore_queued_writes"] = float64(st.Queued)
		want["memostore_queued_bytes"] = float64(st.QueuedBytes)
	}
	return want
}

// scrape gathers c from a pedantic registry, which checks each metric
// against its descriptor, and returns its series as expected does.
func scrape(tb testing.TB, c prometheus.Collector) map[string]float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		tb.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "namespace" {
					tb.Errorf("%s has label %s", key, l.GetName())
				}
				key += "{" + l.GetValue() + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				if !strings.HasSuffix(mf.GetName(), "_total") {
					tb.Errorf("counter %s does not end in _total", mf.GetName())
				}
				got[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				got[key] = m.GetGauge().GetValue()
			default:
				tb.Errorf("%s is a %v", key, mf.GetType())
			}
		}
	}
	return got
}

func compare(tb testing.TB, got, want map[string]float64) {
	tb.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			tb.Errorf("%s missing, want %v", k, w)
		case !wok:
			tb.Errorf("%s = %v, not expected", k, g)
		case g != w:
			tb.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func TestCollectorLint(t *testing.T) {
	s := openFile(t)
	exercise(t, s)
	problems, err := testutil.CollectAndLint(memoprom.NewCollector(s))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestCollectorDescribe(t *testing.T) {
	c := memoprom.NewCollector(openFile(t))
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	if want := len(expected(store.Stats{Namespaces: []store.NamespaceStats{{Claimed: true}}})); n != want {
		t.Errorf("Describe sent %d descriptors, want %d", n, want)
	}
}

func TestCollectorFile(t *testing.T) {
	s := openFile(t)
	exercise(t, s)
	c := memoprom.NewCollector(s)
	st := s.Stats()
	if n := st.Namespaces; len(n) != 2 || n[1].DiskHits == 0 || n[1].Hits == 0 || n[1].Misses == 0 {
		t.Fatalf("exercise made no disk hits, hits or misses: %+v", n)
	}
	compare(t, scrape(t, c), expected(st))
}

func TestCollectorRedis(t *testing.T) {
	s := openRedis(t, redistest.URL(t))
	exercise(t, s)
	c := memoprom.NewCollector(s)
	compare(t, scrape(t, c), expected(s.Stats()))
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestCollectorRedisDown scrapes a store whose server is gone: it reports
// memostore_up 0 and its memory tiers, and no counter that could go back.
func TestCollectorRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv.URL())
	exercise(t, s)
	srv.Stop()
	want := map[string]float64{"memostore_up": 0}
	for _, n := range []string{"double", "square"} {
		for _, name := range []string{"memostore_memory_entries", "memostore_memory_max_entries"} {
			want[name+"{"+n+"}"] = 0
		}
	}
	got := scrape(t, memoprom.NewCollector(s))
	for k := range want {
		if k != "memostore_up" {
			want[k] = got[k] // the memory tier's values are checked elsewhere
		}
	}
	compare(t, got, want)
}

// openFollower opens a store file twice and returns the second store, a
// follower of the first (its holder, also closed when tb ends).
func openFollower(tb testing.TB) (follower, holder *store.Store) {
	tb.Helper()
	dir, err := os.MkdirTemp("", "metrics") // short: the control socket's path must fit
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "cache.db")
	holder, err = store.Open(path, warnings, store.WithMaxBytes(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { holder.Close() })
	follower, err = store.Open(path, warnings, store.WithMaxBytes(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { follower.Close() })
	if follower.Role() != store.RoleFollower {
		tb.Fatalf("second Open: %v, want a follower", follower.Role())
	}
	return follower, holder
}

// TestCollectorFollower: a follower's collector reports the file's
// counters as its holder has them, this process's calls included.
func TestCollectorFollower(t *testing.T) {
	s, holder := openFollower(t)
	exercise(t, s)
	st := s.Stats()
	if n := st.Namespaces; len(n) != 2 || n[1].DiskHits == 0 || n[1].Hits == 0 || n[1].Misses == 0 {
		t.Fatalf("exercise made no disk hits, hits or misses through the follower: %+v", n)
	}
	compare(t, scrape(t, memoprom.NewCollector(s)), expected(st))
	compare(t, scrape(t, memoprom.NewCollector(holder)), expected(st))
}
