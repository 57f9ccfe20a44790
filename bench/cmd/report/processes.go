package main

import "fmt"

// The names of the many-process benchmarks (bench/follower_test.go).
const (
	followerHit  = "BenchmarkFollowerHit/"
	followerMiss = "BenchmarkFollowerMissStore/"
)

// processTargets checks the many-process issue's targets: a follower's hit
// from the store within 15 µs at the median and faster than
// python-diskcache's memoize hit from a second process; a follower's
// miss-and-store at 20,000 calls/s or more, with the memory tier on and
// off.
func (r *report) processTargets() {
	const area = "9 many processes"
	hit := r.res.Find(followerHit, "impl=memostore")
	r.limitTarget(area, "follower's hit from the store (memory tier off), through the holder: p50 ≤ 15 µs",
		hit, "call-p50-ns", 15e3, dur)
	r.ratioTarget(area, "follower's hit: p50 ≤ python-diskcache's memoize hit from a second process",
		hit, r.res.Find(followerHit, "impl=diskcache"), "call-p50-ns", 1)
	for _, c := range []struct{ impl, desc string }{
		{"memostore", "memory tier on"},
		{"memostore-nomemory", "memory tier off"},
	} {
		goal := fmt.Sprintf("follower's miss-and-store, %s: sustained ≥ 20,000 calls/s", c.desc)
		name := r.res.Find(followerMiss, "impl="+c.impl)
		v, ok := r.med(name, "ns/op")
		if !ok {
			r.add(target{area: area, goal: goal})
			continue
		}
		r.add(target{area: area, goal: goal,
			measured: fmt.Sprintf("%s per call (%s calls/s)", dur(v), rate(v)),
			ratio:    fmt.Sprintf("%.2f× the goal", 1e9/v/20_000),
			verdict:  check(1e9/v >= 20_000)})
	}
}

// processes prints the many-process benchmarks.
func (r *report) processes(p printer) {
	if r.res.Find(followerHit) == "" && r.res.Find(followerMiss) == "" {
		return
	}
	p("")
	p("## 9. Many processes")
	p("")
	p("One store file, two processes: another process holds the file (the benchmark's test binary,")
	p("started again as a holder), and the benchmark's process opens it too, which makes it a follower:")
	p("what its memory tier misses it asks the holder for over the file's control socket, one round trip")
	p("each. The peer is python-diskcache (`Cache.memoize()`), which processes share through one SQLite")
	p("database in WAL mode; its calls are timed in its python process, one by one, with")
	p("`time.perf_counter_ns`, as the Go calls are with `time.Now`. time/op is the wall time of the calls")
	p("divided by their number; mean, p50 ... max are single calls'.")
	p("")
	p("**Hit** (`BenchmarkFollowerHit`): 10,000 int keys to small struct values, stored by the holder, called")
	p("in a shuffled order by the follower's `Func.Call` with `MaxSize(0)`, so that every call is a lookup")
	p("at the holder. The floor is one round trip of 64 bytes between the two processes over a Unix socket")
	p("(the holder writes back what it reads). diskcache's keys were stored by one python process through")
	p("`memoize` and are called by a second one. Section 2's disk hit, in the holder's own process, for scale.")
	p("")
	p("| impl | time/op | mean | p50 | p99 | p99.9 | max | allocs/op |")
	p("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range []struct{ label, name string }{
		{"memostore, follower", r.res.Find(followerHit, "impl=memostore")},
		{"Unix socket round trip (floor)", r.res.Find(followerHit, "impl=unix-socket-floor")},
		{"python-diskcache, second process", r.res.Find(followerHit, "impl=diskcache")},
		{"memostore, holder (section 2)", r.res.Find("BenchmarkDiskHit/", "impl=memostore")},
	} {
		r.latencyRow(p, c.label, c.name, false)
	}
	p("")
	p("**Miss-and-store** (`BenchmarkFollowerMissStore`): the follower's `Call` on new keys with a trivial")
	p("fn, sustained: a lookup at the holder that claims the key (no other process computes it")
	p("meanwhile), fn, and the result sent to the holder, which writes it behind; the loop ends with")
	p("`Flush`, so every result is committed (fsynced) by the holder inside the timed region. With the")
	p("default memory tier, and without it (`MaxSize(0)`). diskcache memoizes new keys in one process, a")
	p("SQLite transaction per result, committed without fsync (WAL, `synchronous=NORMAL`: its default).")
	p("Section 3's miss-and-store, in the holder's own process, for scale.")
	p("")
	p("| impl | time/op | calls/s | mean | p50 | p99 | p99.9 | max | allocs/op |")
	p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range []struct{ label, name string }{
		{"memostore, follower", r.res.Find(followerMiss, "impl=memostore")},
		{"memostore, follower, MaxSize(0)", r.res.Find(followerMiss, "impl=memostore-nomemory")},
		{"python-diskcache", r.res.Find(followerMiss, "impl=diskcache")},
		{"memostore, holder (section 3)", r.res.Find("BenchmarkMissStore/", "impl=memostore")},
	} {
		r.latencyRow(p, c.label, c.name, true)
	}
}

// latencyRow prints a row of time/op, calls/s if withRate, and the
// call-mean-ns, call-p50-ns ... call-max-ns and allocs/op of name.
func (r *report) latencyRow(p printer, label, name string, withRate bool) {
	row := "| " + label + " | " + r.cell(name, "ns/op", "", dur)
	if withRate {
		per := "–"
		if v, ok := r.med(name, "ns/op"); ok && v > 0 {
			per = rate(v)
		}
		row += " | " + per
	}
	for _, unit := range []string{"call-mean-ns", "call-p50-ns", "call-p99-ns", "call-p99.9-ns", "call-max-ns"} {
		row += " | " + r.cell(name, unit, "", dur)
	}
	p("%s | %s |", row, r.cell(name, "allocs/op", "", plain))
}
