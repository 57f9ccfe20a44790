package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/store"
)

// Sizes of the big stores. BENCH_SHORT=1 scales them down so that CI can
// run every benchmark once in seconds; the names of the benchmarks carry
// the sizes, so short results never pass for full ones.
var (
	bigEntries   = 1_000_000 // Open, Stats and Sweep
	smallEntries = 10_000    // Open and Stats at a size 100 times smaller; DiskHit
	expireEvery  = 10        // every 10th entry of a big store has expired: 100,000 of 1,000,000
)

// fixtureDir holds the stores built once per process and shared by
// benchmarks (each copies what it changes).
var fixtureDir string

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) != "" { // a store's holder for BenchmarkFollower* (holder_test.go)
		os.Exit(holderMain())
	}
	if os.Getenv("BENCH_SHORT") == "1" {
		bigEntries = 20_000
	}
	dir, err := os.MkdirTemp("", "memostore-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// warnings is the logger of every store here: a warning (a failed commit,
// a record that does not decode) would mean a broken measurement, so it is
// shown; nothing below it is.
var warnings = store.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

// openStore opens a fresh store in a temporary directory, closed when the
// benchmark ends.
func openStore(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	s, err := store.Open(filepath.Join(tb.TempDir(), "bench.db"), append([]store.Option{warnings}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// bigName is the namespace of the big stores, and bigFn the function a
// memo.Func over it memoizes (never called on a hit).
const bigName = "big"

func bigFn(_ context.Context, k int) (Result, error) { return NewResult(k), nil }

// bigStores maps an entry count to its *fixture.
var bigStores sync.Map

type fixture struct {
	once sync.Once
	path string
	err  error
}

// bigStore returns the path of a store of n entries, int keys 0..n-1 to
// Result values in the namespace bigName, as memo.New[int, Result] makes
// it, every expireEvery-th key (0, 10, 20, ...) already expired. It is
// built once per process; callers must not change it (copy it first).
func bigStore(tb testing.TB, n int) string {
	tb.Helper()
	v, _ := bigStores.LoadOrStore(n, &fixture{})
	fx := v.(*fixture)
	fx.once.Do(func() {
		start := time.Now()
		fx.path = filepath.Join(fixtureDir, fmt.Sprintf("big-%d.db", n))
		fx.err = buildStore(fx.path, n)
		tb.Logf("built %s (%d entries) in %v", fx.path, n, time.Since(start).Round(time.Millisecond))
	})
	if fx.err != nil {
		tb.Fatal(fx.err)
	}
	return fx.path
}

// builtAt is the clock of the store a fixture is built with: the time the
// build began, so that the entries stamped to expire 1 ns after they are
// made (later) are not expired yet when put, which a store would not keep.
type builtAt time.Time

func (c builtAt) Now() time.Time { return time.Time(c) }

func buildStore(path string, n int) error {
	s, err := store.Open(path, warnings, store.WithSweepInterval(0), store.WithoutControl(), store.WithQueueBytes(256<<20),
		store.WithClock(builtAt(time.Now())))
	if err != nil {
		return err
	}
	ctx := context.Background()
	kt, vt := reflect.TypeFor[int](), reflect.TypeFor[Result]()
	ns, err := s.Namespace(ctx, bigName, store.NamespaceSpec{
		KeyType: codec.TypeName(kt), KeyID: codec.TypeID(kt),
		ValueType: codec.TypeName(vt), ValueID: codec.TypeID(vt),
	})
	if err != nil {
		s.Close()
		return err
	}
	vals, err := codec.NewValues[Result]()
	if err != nil {
		s.Close()
		return err
	}
	for i := range n {
		now := time.Now().UnixNano()
		exp := int64(0)
		if i%expireEvery == 0 {
			exp = now + 1 // expired by the time anyone looks
		}
		key := codec.AppendInt(nil, int64(i))
		rec, err := vals.Encode(NewResult(i), key, codec.Meta{StoredAt: now, ExpiresAt: exp})
		if err != nil {
			s.Close()
			return err
		}
		if err := ns.Put(ctx, key, rec); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	// Check the build through the store's own counters.
	s, err = store.Open(path, warnings, store.WithSweepInterval(0), store.WithoutControl())
	if err != nil {
		return err
	}
	defer s.Close()
	if got := s.Stats().Entries; got != int64(n) {
		return fmt.Errorf("built store %s holds %d entries, want %d", path, got, n)
	}
	return nil
}

// copyStore copies the store file src to dst and syncs it, so that the
// copy's dirty pages are not written back by the first commit measured.
func copyStore(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

// percentile returns the q-quantile (0 < q <= 1) of sorted latencies.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// reportLatencies reports the p50, p99, p99.9 and max of lat (which it
// sorts) under the given prefix, in nanoseconds.
func reportLatencies(b *testing.B, prefix string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.50)), prefix+"-p50-ns")
	b.ReportMetric(float64(percentile(lat, 0.99)), prefix+"-p99-ns")
	b.ReportMetric(float64(percentile(lat, 0.999)), prefix+"-p99.9-ns")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)-1]), prefix+"-max-ns")
	}
}

// sink keeps results of parallel loops alive.
var sink struct {
	sync.Mutex
	v any
}

func keep(v any) {
	sink.Lock()
	sink.v = v
	sink.Unlock()
}
