package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func TestRateOf(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	tests := []struct {
		name      string
		prev, cur namespaceJSON
		dt        time.Duration
		want      rates
	}{
		{"calls", namespaceJSON{Hits: 10, Misses: 10, DiskHits: 2, Writes: 10}, namespaceJSON{Hits: 40, Misses: 20, DiskHits: 12, Writes: 15},
			2 * time.Second, rates{CallsPerSec: f(20), IntervalHitRatio: f(0.75), DiskHitsPerSec: f(5), WritesPerSec: f(2.5)}},
		{"no calls", namespaceJSON{Hits: 5, Misses: 5}, namespaceJSON{Hits: 5, Misses: 5},
			500 * time.Millisecond, rates{CallsPerSec: f(0), DiskHitsPerSec: f(0), WritesPerSec: f(0)}},
		{"new namespace", namespaceJSON{}, namespaceJSON{Misses: 3, Writes: 3},
			time.Second, rates{CallsPerSec: f(3), IntervalHitRatio: f(0), DiskHitsPerSec: f(0), WritesPerSec: f(3)}},
		{"cleared", namespaceJSON{Hits: 100, Misses: 100}, namespaceJSON{Hits: 1, Misses: 3},
			time.Second, rates{CallsPerSec: f(4), IntervalHitRatio: f(0.25), DiskHitsPerSec: f(0), WritesPerSec: f(0)}},
		{"no interval", namespaceJSON{}, namespaceJSON{Hits: 1}, 0, rates{}},
	}
	show := func(r *float64) string {
		if r == nil {
			return "nil"
		}
		return strconv.FormatFloat(*r, 'g', -1, 64)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rateOf(tc.prev, tc.cur, tc.dt)
			for _, c := range []struct {
				name      string
				got, want *float64
			}{
				{"calls/s", got.CallsPerSec, tc.want.CallsPerSec},
				{"hit ratio", got.IntervalHitRatio, tc.want.IntervalHitRatio},
				{"disk hits/s", got.DiskHitsPerSec, tc.want.DiskHitsPerSec},
				{"writes/s", got.WritesPerSec, tc.want.WritesPerSec},
			} {
				if show(c.got) != show(c.want) {
					t.Errorf("%s = %s, want %s", c.name, show(c.got), show(c.want))
				}
			}
		})
	}
}

// frameWriter is info --watch's stdout in tests. It keeps each refresh,
// which memoctl writes at once, and before returning from the write calls
// between with the refresh's index: between refreshes, while memoctl
// waits, the test acts on the store.
type frameWriter struct {
	frames  []string
	between func(i int)
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.frames = append(w.frames, string(p))
	if w.between != nil {
		w.between(len(w.frames) - 1)
	}
	return len(p), nil
}

// calls makes hits calls to "double" that hit (keys 0 to hits-1, which
// makeStore stored) and misses calls that miss (keys it never used).
func calls(t testing.TB, double *memo.Func[int, int], hits, misses int) {
	t.Helper()
	ctx := context.Background()
	for i := range hits {
		double.Call(ctx, i%10)
	}
	for range misses {
		nextMiss++
		double.Call(ctx, 1000+nextMiss)
	}
}

var nextMiss int

// callOffline opens the store at path as a program would, makes calls as
// calls does, and closes it: it fails if memoctl holds the file.
func callOffline(t testing.TB, path string, hits, misses int) {
	t.Helper()
	s, err := store.Open(path, store.WithLockTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("a program cannot open the store between refreshes: %v", err)
	}
	double, err := memo.New(s, "double", func(_ context.Context, x int) (int, error) { return 2 * x, nil }, memo.Version("v1"))
	if err != nil {
		t.Fatal(err)
	}
	calls(t, double, hits, misses)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// row returns the cells of namespace's row in a table refresh, and the
// interval the refresh's rates are over.
func row(t testing.TB, frame, namespace string) (cells []string, over float64) {
	t.Helper()
	if m := regexp.MustCompile(`rates over the last ([0-9.]+)s`).FindStringSubmatch(frame); m != nil {
		over, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, line := range strings.Split(frame, "\n") {
		if strings.HasPrefix(line, namespace+" ") {
			return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1), over
		}
	}
	t.Fatalf("no row for %s in\n%s", namespace, frame)
	return nil, 0
}

// checkCallsPerSec checks a CALLS/S cell against calls over the interval
// the refresh states, to its three decimals.
func checkCallsPerSec(t testing.TB, cell string, calls int, over float64) {
	t.Helper()
	got, err := strconv.ParseFloat(cell, 64)
	if err != nil || over <= 0 {
		t.Fatalf("CALLS/S %q over %vs", cell, over)
	}
	lo, hi := float64(calls)/(over+0.0005)-0.05, float64(calls)/(over-0.0005)+0.05
	if got < lo || got > hi {
		t.Errorf("CALLS/S %s; want %d calls over %.3fs = %.1f", cell, calls, over, float64(calls)/over)
	}
}

func TestWatchOffline(t *testing.T) {
	path := makeStore(t, 10) // double: 10 misses, 10 hits
	w := &frameWriter{between: func(i int) {
		switch i {
		case 0:
			callOffline(t, path, 30, 10)
		case 1:
			callOffline(t, path, 5, 15)
		}
	}}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"info", "--watch", "50ms", "--count", "3", path}, w, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(w.frames) != 3 {
		t.Fatalf("%d refreshes, want 3", len(w.frames))
	}
	out := strings.Join(w.frames, "")
	if got := strings.Count(out, "NAMESPACE"); got != 3 {
		t.Fatalf("%d tables, want 3:\n%s", got, out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("escape sequences in piped output:\n%q", out)
	}
	for i, f := range w.frames[1:] {
		if !strings.HasPrefix(f, "\nstore ") {
			t.Fatalf("refresh %d does not follow a blank line:\n%q", i+2, f)
		}
	}
	// NAMESPACE ENTRIES BYTES HITS MISSES CALLS/S HIT RATIO DISK HITS/S WRITES/S
	first, _ := row(t, w.frames[0], "double")
	if first[3] != "10" || first[4] != "10" || first[5] != "-" || first[6] != "-" {
		t.Errorf("first refresh: %q; want 10 hits, 10 misses, no rates yet", first)
	}
	second, over := row(t, w.frames[1], "double")
	if second[3] != "40" || second[4] != "20" || second[6] != "75.0%" {
		t.Errorf("second refresh: %q; want 40 hits, 20 misses, a hit ratio of 75.0%%", second)
	}
	checkCallsPerSec(t, second[5], 40, over)
	third, over := row(t, w.frames[2], "double")
	if third[3] != "45" || third[4] != "35" || third[6] != "25.0%" {
		t.Errorf("third refresh: %q; want 45 hits, 35 misses, a hit ratio of 25.0%%", third)
	}
	checkCallsPerSec(t, third[5], 20, over)
	if sq, _ := row(t, w.frames[2], "square"); sq[5] != "0.0" || sq[6] != "-" {
		t.Errorf("square, never called: %q; want 0.0 calls/s and no hit ratio", sq)
	}
}

func TestWatchJSON(t *testing.T) {
	path := makeStore(t, 10)
	w := &frameWriter{between: func(i int) {
		if i == 0 {
			callOffline(t, path, 6, 2)
		}
	}}
	var errb bytes.Buffer
	args := []string{"info", path, "--namespace", "double", "--watch", "20ms", "--count", "2", "--json"}
	if code := run(context.Background(), args, w, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var lines []watchJSON
	for _, f := range w.frames {
		if strings.Count(f, "\n") != 1 || !strings.HasSuffix(f, "\n") {
			t.Fatalf("not one JSON line: %q", f)
		}
		var l watchJSON
		if err := json.Unmarshal([]byte(f), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 || len(lines[1].Namespaces) != 1 {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	if !strings.Contains(w.frames[0], `"calls_per_sec":null`) || lines[0].Elapsed != 0 {
		t.Errorf("first line has rates: %s", w.frames[0])
	}
	d := lines[1].Namespaces[0]
	if d.Hits != 16 || d.Misses != 12 || d.CallsPerSec == nil || d.IntervalHitRatio == nil || *d.IntervalHitRatio != 0.75 {
		t.Fatalf("second line: %s", w.frames[1])
	}
	if calls := *d.CallsPerSec * lines[1].Elapsed; math.Abs(calls-8) > 1e-6 {
		t.Errorf("calls_per_sec %v × elapsed %v = %v calls, want 8", *d.CallsPerSec, lines[1].Elapsed, calls)
	}
	// Measured between the two reads, not assumed: positive, and about
	// the interval (a tick may come a little early after a slow read).
	if lines[1].Elapsed <= 0 {
		t.Errorf("elapsed %v, want the time between the two reads", lines[1].Elapsed)
	}
}

// TestWatchLive watches a store that another process holds: through its
// control endpoint, with its memory tier.
func TestWatchLive(t *testing.T) {
	path := t.TempDir() + "/live.db"
	h := startHolder(t, path, "control")
	w := &frameWriter{between: func(i int) {
		for n := range 4 {
			h.call(t, n%2) // 2 misses and 2 hits on the first interval, 4 hits on the second
		}
	}}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"info", "--watch", "20ms", "--count", "3", path}, w, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(w.frames[0], "live: held by process") || !strings.Contains(w.frames[0], "MEMORY") {
		t.Fatalf("first refresh:\n%s", w.frames[0])
	}
	for i, want := range []string{"50.0%", "100.0%"} {
		cells, over := row(t, w.frames[i+1], "double")
		if cells[6] != want || cells[9] != "2/16" {
			t.Errorf("refresh %d: %q; want a hit ratio of %s and 2/16 in memory", i+2, cells, want)
		}
		checkCallsPerSec(t, cells[5], 4, over)
	}
}

func TestWatchUsage(t *testing.T) {
	path := makeStore(t, 1)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--watch", "soon"}, `--watch "soon": INTERVAL is a duration`},
		{[]string{"--watch", "10"}, `INTERVAL is a duration such as 1s`},
		{[]string{"--watch", "0s"}, "must be positive"},
		{[]string{"--watch", "-1s"}, "must be positive"},
		{[]string{"--count", "3"}, "--count needs --watch"},
		{[]string{"--watch", "1s", "--count", "-1"}, "--count -1"},
		{[]string{"--watch"}, "flag needs an argument"},
	} {
		_, errOut, code := runCmd(t, append([]string{"info", path}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, "usage: memoctl info") {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, errOut, tc.msg)
		}
	}
	// A store that cannot be read fails at once, with no refresh shown.
	out, errOut, code := runCmd(t, "info", "--watch", "1s", t.TempDir()+"/none.db")
	if code != 1 || out != "" || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing store: exit %d, %q %q", code, out, errOut)
	}
}

// TestWatchInterrupted: a watch ends without error when its context does
// (Ctrl-C), between refreshes.
func TestWatchInterrupted(t *testing.T) {
	path := makeStore(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	w := &frameWriter{between: func(i int) {
		if i == 1 {
			cancel()
		}
	}}
	var errb bytes.Buffer
	if code := run(ctx, []string{"info", "--watch", "10ms", path}, w, &errb); code != 0 || len(w.frames) != 2 {
		t.Fatalf("exit %d after %d refreshes: %s", code, len(w.frames), errb.String())
	}
}

func TestFit(t *testing.T) {
	lines := []string{"abcdef", "ab", "x", "y", "z"}
	got := fit(append([]string(nil), lines...), 4, 3)
	want := []string{"abcd", "ab", "(3 m"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("fit to 4×3: %q, want %q", got, want)
	}
	if got := fit(append([]string(nil), lines...), 0, 0); len(got) != 5 || got[0] != "abcdef" {
		t.Errorf("fit to an unknown size: %q", got)
	}
}

// TestWatchGoesOn: a refresh that fails after the first is shown, and the
// watch goes on.
func TestWatchGoesOn(t *testing.T) {
	path := makeStore(t, 1)
	w := &frameWriter{between: func(i int) {
		switch i {
		case 0:
			os.Rename(path, path+".moved")
		case 1:
			os.Rename(path+".moved", path)
		}
	}}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"info", "--watch", "10ms", "--count", "3", path}, w, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(w.frames[1], "error    "+path+": no such file") || strings.Contains(w.frames[1], "NAMESPACE") {
		t.Errorf("second refresh:\n%s", w.frames[1])
	}
	if cells, _ := row(t, w.frames[2], "double"); cells[5] != "0.0" {
		t.Errorf("third refresh, rates since the first: %q", cells)
	}
}

// TestWatchRedis watches the counters that processes push to Redis.
func TestWatchRedis(t *testing.T) {
	base := redistest.URL(t)
	url := base + "?prefix=" + redistest.Prefix(t, base)
	s, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	double := fillStore(t, s, 10)
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w := &frameWriter{between: func(i int) {
		calls(t, double, 6, 2)
		if err := s.Flush(ctx); err != nil { // the counters, to the server
			t.Fatal(err)
		}
	}}
	var errb bytes.Buffer
	if code := run(ctx, []string{"info", "--watch", "20ms", "--count", "2", url}, w, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(w.frames[0], "shared (Redis)") || strings.Contains(w.frames[0], "password") {
		t.Fatalf("first refresh:\n%s", w.frames[0])
	}
	// NAMESPACE HITS MISSES CALLS/S HIT RATIO STORE HITS/S WRITES/S
	cells, over := row(t, w.frames[1], "double")
	if cells[1] != "16" || cells[2] != "12" || cells[4] != "75.0%" {
		t.Errorf("second refresh: %q; want 16 hits, 12 misses, a hit ratio of 75.0%%", cells)
	}
	checkCallsPerSec(t, cells[3], 8, over)
	if writes, err := strconv.ParseFloat(cells[6], 64); err != nil || writes <= 0 {
		t.Errorf("WRITES/S %q; want the 2 misses' writes", cells[6])
	}
}
