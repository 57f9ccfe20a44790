package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/memostore/memostore/bench"
	"github.com/memostore/memostore/store"
)

// A target is one of the goals, checked against the run.
type target struct {
	area     string
	goal     string
	measured string
	ratio    string
	verdict  verdict
}

type verdict int

const (
	noData verdict = iota
	met
	missed
)

func (v verdict) String() string {
	return [...]string{"no data", "**met**", "**missed**"}[v]
}

func check(ok bool) verdict {
	if ok {
		return met
	}
	return missed
}

func (r *report) tally() (m, x, n int) {
	for _, t := range r.targets {
		switch t.verdict {
		case met:
			m++
		case missed:
			x++
		default:
			n++
		}
	}
	return m, x, n
}

func (r *report) add(t target) { r.targets = append(r.targets, t) }

// ratioTarget adds a target "ours ≤ limit × theirs" on two medians of
// unit (smaller is better).
func (r *report) ratioTarget(area, goal, ours, theirs, unit string, limit float64) {
	a, ok1 := r.med(ours, unit)
	b, ok2 := r.med(theirs, unit)
	if !ok1 || !ok2 || b == 0 {
		r.add(target{area: area, goal: goal})
		return
	}
	r.add(target{area: area, goal: goal,
		measured: fmt.Sprintf("%s vs %s", dur(a), dur(b)),
		ratio:    fmt.Sprintf("%.2f×", a/b),
		verdict:  check(a <= limit*b)})
}

// throughputTarget adds a target "ours ≥ limit × the throughput of
// theirs", from ns/op medians.
func (r *report) throughputTarget(area, goal, ours, theirs string, limit float64) {
	a, ok1 := r.med(ours, "ns/op")
	b, ok2 := r.med(theirs, "ns/op")
	if !ok1 || !ok2 || a == 0 {
		r.add(target{area: area, goal: goal})
		return
	}
	r.add(target{area: area, goal: goal,
		measured: fmt.Sprintf("%s vs %s per call (%s vs %s calls/s)", dur(a), dur(b), rate(a), rate(b)),
		ratio:    fmt.Sprintf("%.2f×", b/a),
		verdict:  check(b/a >= limit)})
}

// limitTarget adds a target "value of unit ≤ limit".
func (r *report) limitTarget(area, goal, name, unit string, limit float64, format func(float64) string) {
	v, ok := r.med(name, unit)
	if !ok {
		r.add(target{area: area, goal: goal})
		return
	}
	r.add(target{area: area, goal: goal,
		measured: format(v),
		ratio:    fmt.Sprintf("%.2g× the limit", v/limit),
		verdict:  check(v <= limit)})
}

// bigN returns the largest entries=N in the names of prefix (1,000,000, or
// less in a short run).
func (r *report) bigN(prefix string) int {
	n := 0
	for _, name := range r.res.Names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, e := range strings.Split(name, "/") {
			if v, ok := strings.CutPrefix(e, "entries="); ok {
				if x, err := strconv.Atoi(v); err == nil {
					n = max(n, x)
				}
			}
		}
	}
	return n
}

func (r *report) evaluate() {
	r.targets = nil
	const hit = "BenchmarkMemoryHit"
	const par = "BenchmarkMemoryHitParallel"
	const area1 = "1 memory hit"
	for _, key := range []string{"int", "string"} {
		k := "key=" + key
		for _, impl := range []string{"memostore", "memostore-ttl"} {
			names := []string{r.res.Find(hit+"/", k, "impl="+impl), r.res.Find(par+"/", k, "impl="+impl)}
			var allocs []string
			worst, ok := 0.0, true
			for _, n := range names {
				a, found := r.med(n, "allocs/op")
				ok = ok && found
				worst = max(worst, a)
				allocs = append(allocs, strconv.FormatFloat(a, 'g', -1, 64))
			}
			t := target{area: area1, goal: fmt.Sprintf("%s, %s keys: 0 allocs/op (one goroutine, parallel)", impl, key)}
			if ok {
				t.measured, t.verdict = strings.Join(allocs, ", ")+" allocs/op", check(worst == 0)
			}
			r.add(t)
		}
	}
	for _, key := range []string{"int", "string"} {
		k := "key=" + key
		lru := r.res.Find(hit+"/", k, "impl=golang-lru")
		r.ratioTarget(area1, fmt.Sprintf("%s keys, one goroutine: memostore ≤ golang-lru/v2 Get", key),
			r.res.Find(hit+"/", k, "impl=memostore"), lru, "ns/op", 1)
		r.ratioTarget(area1, fmt.Sprintf("%s keys, one goroutine, memo.TTL set (clock read per hit): memostore ≤ golang-lru/v2 Get", key),
			r.res.Find(hit+"/", k, "impl=memostore-ttl"), lru, "ns/op", 1)
		r.throughputTarget(area1, fmt.Sprintf("%s keys, RunParallel: memostore throughput ≥ golang-lru/v2's", key),
			r.res.Find(par+"/", k, "impl=memostore"), r.res.Find(par+"/", k, "impl=golang-lru"), 1)
	}

	r.ratioTarget("2 disk hit", "Call from the file ≤ 1.5× bbolt View+Get+msgpack decode",
		r.res.Find("BenchmarkDiskHit/", "impl=memostore"), r.res.Find("BenchmarkDiskHit/", "impl=bbolt-floor"), "ns/op", 1.5)

	const area3 = "3 miss-and-store"
	miss := r.res.Find("BenchmarkMissStore/", "impl=memostore")
	r.throughputTarget(area3, "sustained throughput ≥ 0.8× raw bbolt, 1,000 puts per transaction",
		miss, r.res.Find("BenchmarkMissStore/", "impl=bbolt-1000-per-tx"), 0.8)
	r.throughputTarget(area3, "sustained throughput ≥ 20× raw bbolt, one transaction per put",
		miss, r.res.Find("BenchmarkMissStore/", "impl=bbolt-tx-per-put"), 20)
	r.limitTarget(area3, "caller's latency on a miss: p99 ≤ 100 µs (fn is trivial: it is all overhead)",
		miss, "call-p99-ns", 100e3, dur)
	commit, ok := r.med(r.res.Find("BenchmarkMissStore/", "impl=bbolt-tx-per-put"), "ns/op")
	if ok {
		r.limitTarget(area3, fmt.Sprintf("caller's latency on a miss, never a commit: max ≤ one fsynced bbolt commit (%s here)", dur(commit)),
			miss, "call-max-ns", commit, dur)
	} else {
		r.add(target{area: area3, goal: "caller's latency on a miss, never a commit: max ≤ one fsynced bbolt commit"})
	}
	r.limitTarget(area3, fmt.Sprintf("the write-behind queue stays bounded: max queued ≤ DefaultQueueBytes (%s)", bytes(store.DefaultQueueBytes)),
		miss, "max-queued-bytes", store.DefaultQueueBytes, bytes)

	const area4 = "4 open, stats"
	big := r.bigN("BenchmarkOpen/")
	openBig := r.res.Find("BenchmarkOpen/", fmt.Sprintf("entries=%d", big), "impl=memostore")
	openSmall := r.res.Find("BenchmarkOpen/", "entries=10000", "impl=memostore")
	r.limitTarget(area4, fmt.Sprintf("Open of a %s-entry store ≤ 10 ms warm", count(big)), openBig, "ns/op", 10e6, dur)
	statsBig := r.res.Find("BenchmarkStats/", fmt.Sprintf("entries=%d", big))
	statsSmall := r.res.Find("BenchmarkStats/", "entries=10000")
	r.limitTarget(area4, "Stats() on it ≤ 1 ms", statsBig, "ns/op", 1e6, dur)
	r.ratioTarget(area4, fmt.Sprintf("Open does not grow with entries: %s entries ≤ 1.25× 10,000 entries", count(big)), openBig, openSmall, "ns/op", 1.25)
	r.ratioTarget(area4, fmt.Sprintf("Stats does not grow with entries: %s entries ≤ 1.25× 10,000 entries", count(big)), statsBig, statsSmall, "ns/op", 1.25)

	const area5 = "5 sweep"
	sweep := r.res.Find("BenchmarkSweep/")
	r.limitTarget(area5, fmt.Sprintf("%s ≤ 1 s", sweepDesc(sweep)), sweep, "ns/op", 1e9, dur)
	r.limitTarget(area5, "concurrent disk hits during the sweep: p99 < 1 ms", sweep, "reader-p99-ns", 1e6, dur)

	const area7 = "7 Redis tier"
	r.ratioTarget(area7, "hit from Redis (memory tier off) ≤ 1.2× go-redis GET + msgpack decode",
		r.res.Find("BenchmarkRedis/", "op=hit", "impl=memostore"), r.res.Find("BenchmarkRedis/", "op=hit", "impl=go-redis-floor"), "ns/op", 1.2)
	r.ratioTarget(area7, "miss-and-store ≤ 3.5× one go-redis SET: three round trips (lookup, lock, write), the write one pipeline",
		r.res.Find("BenchmarkRedis/", "op=miss", "impl=memostore"), r.res.Find("BenchmarkRedis/", "op=miss", "impl=go-redis-set-floor"), "ns/op", 3.5)
	r.add(r.heapTarget())
	r.hitTargets()
	r.processTargets()
}

// heapTarget checks that the bounded userdata run keeps its heap, measured
// as examples/userdata measures it (after Flush and two GCs), within +10%
// of the heap at 100,000 calls at every sample from there on.
func (r *report) heapTarget() target {
	t := target{area: "memory", goal: "userdata with MaxSize(1000): heap within +10% from 100,000 to 1,000,000 calls"}
	for _, run := range r.heap {
		if run.MaxSize < 0 || len(run.Samples) == 0 {
			continue
		}
		at, ok := run.At(100_000)
		last := run.Samples[len(run.Samples)-1]
		if !ok || last.Calls <= at.Calls || at.HeapAlloc2 == 0 || at.HeapAlloc == 0 {
			return t
		}
		var peak, peak1 bench.HeapSample
		for _, s := range run.Samples {
			if s.Calls < at.Calls {
				continue
			}
			if s.HeapAlloc2 > peak.HeapAlloc2 {
				peak = s
			}
			if s.HeapAlloc > peak1.HeapAlloc {
				peak1 = s
			}
		}
		ratio := float64(peak.HeapAlloc2) / float64(at.HeapAlloc2)
		t.goal = fmt.Sprintf("userdata with MaxSize(%d): heap after Flush and two GCs (as the example measures it) within +10%% of its value at 100,000 calls, at every sample up to %s calls", run.MaxSize, count(last.Calls))
		t.measured = fmt.Sprintf("peak %s (at %s calls) vs %s at 100,000; %s at %s (%.2f×). After one GC only: peak %s vs %s (%.2f×)",
			bytes(float64(peak.HeapAlloc2)), count(peak.Calls), bytes(float64(at.HeapAlloc2)),
			bytes(float64(last.HeapAlloc2)), count(last.Calls), float64(last.HeapAlloc2)/float64(at.HeapAlloc2),
			bytes(float64(peak1.HeapAlloc)), bytes(float64(at.HeapAlloc)), float64(peak1.HeapAlloc)/float64(at.HeapAlloc))
		t.ratio = fmt.Sprintf("%.2f×", ratio)
		t.verdict = check(ratio <= 1.10)
	}
	return t
}

// sweepDesc describes the sweep benchmark from its name.
func sweepDesc(name string) string {
	expired, entries := "?", "?"
	for _, e := range strings.Split(name, "/") {
		if v, ok := strings.CutPrefix(e, "expired="); ok {
			expired = countS(v)
		}
		if v, ok := strings.CutPrefix(e, "entries="); ok {
			entries = countS(v)
		}
	}
	return fmt.Sprintf("sweep of %s expired entries among %s", expired, entries)
}

func countS(s string) string {
	n, err := strconv.Atoi(s)
	if err != nil {
		return s
	}
	return count(n)
}

// count formats n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	var parts []string
	for len(s) > 3 {
		parts = append(parts, s[len(s)-3:])
		s = s[:len(s)-3]
	}
	parts = append(parts, s)
	slices.Reverse(parts)
	return strings.Join(parts, ",")
}

// dur formats nanoseconds.
func dur(ns float64) string { return scaled(ns, 1000, "ns", "µs", "ms", "s") }

// scaled formats v to 3 significant digits in the first of units (each
// step times the one before) that keeps it under 1,000.
func scaled(v, step float64, units ...string) string {
	i := 0
	for i+1 < len(units) && math.Abs(v) >= 999.5 {
		v /= step
		i++
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " " + units[i]
}

// rate formats the calls per second of ns per call.
func rate(ns float64) string {
	per := 1e9 / ns
	switch {
	case per >= 1e6:
		return fmt.Sprintf("%.3gM", per/1e6)
	case per >= 1e3:
		return fmt.Sprintf("%.3gk", per/1e3)
	}
	return fmt.Sprintf("%.3g", per)
}

// bytes formats a byte count.
func bytes(b float64) string {
	if b < 1000 {
		return fmt.Sprintf("%.0f B", b)
	}
	return scaled(b/1024, 1024, "KiB", "MiB", "GiB", "TiB")
}
