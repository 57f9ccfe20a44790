package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Results are the runs of the benchmarks in `go test -bench` output, by
// name without the GOMAXPROCS suffix, in order of first appearance.
type Results struct {
	Names []string
	Runs  map[string][]Run
}

// A Run is one line of benchmark output: its iterations and every value by
// unit ("ns/op", "allocs/op", "call-p99-ns", ...).
type Run struct {
	N      int
	Values map[string]float64
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// ParseResults reads `go test -bench` output; other lines are ignored.
func ParseResults(r io.Reader) (*Results, error) {
	type line struct {
		name string
		run  Run
	}
	var lines []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		run := Run{N: n, Values: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("bench: %q: %v", sc.Text(), err)
			}
			run.Values[f[i+1]] = v
		}
		lines = append(lines, line{f[0], run})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// go test appends -GOMAXPROCS to every name when it is not 1: strip it
	// only if every line has the same one, so that a name that ends in
	// digits of its own (GOMAXPROCS=1) is kept whole.
	suffix := ""
	for i, l := range lines {
		m := procsSuffix.FindString(l.name)
		if i == 0 {
			suffix = m
		}
		if m == "" || m != suffix {
			suffix = ""
			break
		}
	}
	res := &Results{Runs: map[string][]Run{}}
	for _, l := range lines {
		name := strings.TrimSuffix(l.name, suffix)
		if _, ok := res.Runs[name]; !ok {
			res.Names = append(res.Names, name)
		}
		res.Runs[name] = append(res.Runs[name], l.run)
	}
	return res, nil
}

// Median returns the median of unit over the runs of the named benchmark,
// and whether there was any.
func (r *Results) Median(name, unit string) (float64, bool) {
	var vs []float64
	for _, run := range r.Runs[name] {
		if v, ok := run.Values[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// Count returns how many runs the named benchmark has.
func (r *Results) Count(name string) int { return len(r.Runs[name]) }

// Find returns the first name with the given prefix whose remaining
// elements contain every one of parts (such as "impl=memostore"), or "".
func (r *Results) Find(prefix string, parts ...string) string {
	for _, name := range r.Names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		elems := strings.Split(name, "/")
		if !slices.ContainsFunc(parts, func(p string) bool { return !slices.Contains(elems, p) }) {
			return name
		}
	}
	return ""
}

// HeapSample is one measurement of the userdata heap chart, once calls
// calls have been made: the heap after Flush and one runtime.GC, and after
// a second, which drops what sync.Pools keep for reuse (bbolt pools its
// page buffers); examples/userdata measures after two.
type HeapSample struct {
	Calls      int     `json:"calls"`
	HeapAlloc  uint64  `json:"heap_alloc"`     // runtime.MemStats.HeapAlloc after Flush and GC: live objects
	HeapInuse  uint64  `json:"heap_inuse"`     // runtime.MemStats.HeapInuse then: spans in use
	HeapAlloc2 uint64  `json:"heap_alloc_2gc"` // HeapAlloc after a second GC
	MemSize    int     `json:"mem_size"`       // entries in the memory tier
	Entries    int64   `json:"entries"`        // entries in the file
	Bytes      int64   `json:"bytes"`          // bytes of entries in the file
	Seconds    float64 `json:"seconds"`        // since the first call
}

// HeapRun is the heap chart's measurement of one MaxSize.
type HeapRun struct {
	MaxSize  int          `json:"max_size"`
	MaxBytes int64        `json:"max_bytes"`
	Samples  []HeapSample `json:"samples"`
}

// At returns the sample taken at calls, if any.
func (h HeapRun) At(calls int) (HeapSample, bool) {
	for _, s := range h.Samples {
		if s.Calls == calls {
			return s, true
		}
	}
	return HeapSample{}, false
}
