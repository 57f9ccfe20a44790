package memootel_test

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/memostore/memostore/store/redisstore"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/metrics/memootel"
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

// A point is what a collection gives for one instrument and namespace.
type point struct {
	kind  string // "counter", "updown" or "gauge"
	unit  string
	value int64
}

// expected returns the points that a collection of st must give, keyed
// by "name{namespace}".
func expected(st store.Stats) map[string]point {
	want := map[string]point{}
	file := st.Backend != "redis"
	for _, n := range st.Namespaces {
		set := func(name, kind, unit string, v int64) { want[name+"{"+n.Name+"}"] = point{kind, unit, v} }
		set("memostore.hits", "counter", "{call}", n.Hits)
		set("memostore.misses", "counter", "{call}", n.Misses)
		set("memostore.disk_hits", "counter", "{call}", n.DiskHits)
		set("memostore.writes", "counter", "{record}", n.Writes)
		set("memostore.write_errors", "counter", "{record}", n.WriteErrors)
		set("memostore.read_errors", "counter", "{lookup}", n.ReadErrors)
		set("memostore.decode_errors", "counter", "{record}", n.DecodeErrors)
		set("memostore.refreshes", "counter", "{call}", n.Refreshes)
		set("memostore.stale_returns", "counter", "{call}", n.StaleReturns)
		set("memostore.cached_errors", "counter", "{call}", n.CachedErrors)
		set("memostore.saved", "counter", "s", int64(n.Saved)) // collect gives seconds as nanoseconds
		if n.Claimed {
			set("memostore.memory_entries", "updown", "{entry}", int64(n.MemSize))
			set("memostore.memory_max_entries", "gauge", "{entry}", int64(n.MemMax))
		}
		if file {
			set("memostore.evictions", "counter", "{entry}", n.Evictions)
			set("memostore.expirations", "counter", "{entry}", n.Expirations)
			set("memostore.entries", "updown", "{entry}", n.Entries)
			set("memostore.bytes", "updown", "By", n.Bytes)
		}
	}
	if file {
		want["memostore.file_size"] = point{"updown", "By", st.FileSize}
		want["memostore.max_bytes"] = point{"gauge", "By", st.MaxBytes}
		want["memostore.queued_writes"] = point{"updown", "{write}", int64(st.Queued)}
		want["memostore.queued_bytes"] = point{"updown", "By", st.QueuedBytes}
	}
	return want
}

// collect collects r and returns its points as expected does, and the
// collection's error.
func collect(tb testing.TB, r sdkmetric.Reader) (map[string]point, error) {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	err := r.Collect(context.Background(), &rm)
	got := map[string]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			add := func(kind string, attrs attribute.Set, v int64) {
				key := m.Name
				if attrs.Len() > 0 {
					ns, ok := attrs.Value(memootel.NamespaceKey)
					if !ok || attrs.Len() != 1 {
						tb.Errorf("%s has attributes %v", m.Name, attrs.ToSlice())
					}
					key += "{" + ns.AsString() + "}"
				}
				if _, dup := got[key]; dup {
					tb.Errorf("%s observed twice", key)
				}
				got[key] = point{kind, m.Unit, v}
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				kind := "updown"
				if d.IsMonotonic {
					kind = "counter"
				}
				if d.Temporality != metricdata.CumulativeTemporality {
					tb.Errorf("%s is %v", m.Name, d.Temporality)
				}
				for _, p := range d.DataPoints {
					add(kind, p.Attributes, p.Value)
				}
			case metricdata.Sum[float64]: // seconds, as whole nanoseconds
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					tb.Errorf("%s is not a cumulative counter", m.Name)
				}
				for _, p := range d.DataPoints {
					add("counter", p.Attributes, int64(math.Round(p.Value*1e9)))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add("gauge", p.Attributes, p.Value)
				}
			default:
				tb.Errorf("%s is a %T", m.Name, m.Data)
			}
		}
	}
	return got, err
}

func compare(tb testing.TB, got, want map[string]point) {
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
			tb.Errorf("%s missing, want %+v", k, w)
		case !wok:
			tb.Errorf("%s = %+v, not expected", k, g)
		case g != w:
			tb.Errorf("%s = %+v, want %+v", k, g, w)
		}
	}
}

// register registers s on a new MeterProvider with a manual reader.
func register(tb testing.TB, s *store.Store) (sdkmetric.Reader, func() error) {
	tb.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	tb.Cleanup(func() { mp.Shutdown(context.Background()) })
	reg, err := memootel.Register(s, mp.Meter("github.com/memostore/memostore"))
	if err != nil {
		tb.Fatal(err)
	}
	return r, reg.Unregister
}

func TestRegisterFile(t *testing.T) {
	s := openFile(t)
	exercise(t, s)
	r, unregister := register(t, s)
	st := s.Stats()
	if n := st.Namespaces; len(n) != 2 || n[1].DiskHits == 0 || n[1].Hits == 0 || n[1].Misses == 0 {
		t.Fatalf("exercise made no disk hits, hits or misses: %+v", n)
	}
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, expected(st))

	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	got, err = collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("observed after Unregister: %v", got)
	}
}

func TestRegisterRedis(t *testing.T) {
	s := openRedis(t, redistest.URL(t))
	exercise(t, s)
	r, _ := register(t, s)
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, expected(s.Stats()))
}

// TestRegisterRedisDown collects from a store whose server is gone: the
// memory tiers are observed, no counter that could go back is, and the
// collection reports the error.
func TestRegisterRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv.URL())
	exercise(t, s)
	r, _ := register(t, s)
	srv.Stop()
	got, err := collect(t, r)
	if err == nil {
		t.Error("a collection from a stopped server reported no error")
	}
	want := map[string]point{}
	for _, n := range []string{"double", "square"} {
		want["memostore.memory_entries{"+n+"}"] = got["memostore.memory_entries{"+n+"}"]
		want["memostore.memory_max_entries{"+n+"}"] = got["memostore.memory_max_entries{"+n+"}"]
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

// TestRegisterFollower: a follower's instruments observe the file's
// counters as its holder has them, this process's calls included.
func TestRegisterFollower(t *testing.T) {
	s, _ := openFollower(t)
	exercise(t, s)
	st := s.Stats()
	if n := st.Namespaces; len(n) != 2 || n[1].DiskHits == 0 || n[1].Hits == 0 || n[1].Misses == 0 {
		t.Fatalf("exercise made no disk hits, hits or misses through the follower: %+v", n)
	}
	r, _ := register(t, s)
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, expected(st))
}
