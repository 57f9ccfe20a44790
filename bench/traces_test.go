package bench

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// traceDir is where the access traces of BenchmarkHitRatio live: the
// directory shared/traces beside the repository checkout, or
// $MEMOSTORE_TRACES. Its README.md describes them.
func traceDir() string {
	if d := os.Getenv("MEMOSTORE_TRACES"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "traces")
}

// A trace is a sequence of requests for keys, replayed against each
// policy at each capacity.
type trace struct {
	name   string
	file   string // in traceDir; "" for a generated trace
	format string // "arc", "lirs", "corda" or "zipf"
	caps   []int  // capacities, in entries
	short  []int  // capacities under BENCH_SHORT=1

	once sync.Once
	keys []uint64
	err  error
}

// traces are the workloads of BenchmarkHitRatio. The capacities of the
// ARC, LIRS and Zipf traces are those of otter's simulator
// (benchmarks/simulator/configs), so that its published hit ratios can be
// set beside ours; Corda's bracket the range where the policies differ.
var traces = []*trace{
	{name: "oltp", file: "arc-oltp.gz", format: "arc",
		caps: []int{250, 500, 750, 1000, 1250, 1500, 1750, 2000}, short: []int{500, 2000}},
	{name: "p3", file: "arc-p3.gz", format: "arc",
		caps: []int{25_000, 50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000}, short: []int{5000}},
	{name: "gli", file: "lirs-gli.gz", format: "lirs",
		caps: []int{250, 500, 750, 1000, 1250, 1500, 1750, 2000}, short: []int{500, 2000}},
	{name: "loop", file: "lirs-loop.gz", format: "lirs",
		caps: []int{250, 500, 750, 1000, 1250, 1500, 1750, 2000}, short: []int{500, 2000}},
	{name: "corda", file: "corda-trace_vaultservice.gz", format: "corda",
		caps: []int{250, 500, 1000, 2000, 4000, 8000, 16_000, 32_000}, short: []int{1000, 8000}},
	{name: "zipf", format: "zipf",
		caps: []int{500, 1000, 2000, 5000, 10_000, 20_000, 40_000, 80_000}, short: []int{1000, 10_000}},
}

// Zipf is otter's synthetic trace: 1,000,000 requests for keys k in
// [0, 50,000,000] with P(k) proportional to (10 + k)^-1.0001 (math/rand's
// Zipf needs s > 1), from a fixed seed.
const (
	zipfS        = 1.0001
	zipfV        = 10
	zipfMax      = 50_000_000
	zipfRequests = 1_000_000
)

// load returns the trace's keys, read once per process.
func (t *trace) load() ([]uint64, error) {
	t.once.Do(func() {
		if t.format == "zipf" {
			z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), zipfS, zipfV, zipfMax)
			t.keys = make([]uint64, zipfRequests)
			for i := range t.keys {
				t.keys[i] = z.Uint64()
			}
			return
		}
		t.keys, t.err = readTrace(filepath.Join(traceDir(), t.file), t.format)
	})
	return t.keys, t.err
}

// readTrace reads a gzipped trace in one of the formats of the traces'
// README.md.
func readTrace(path, format string) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := bufio.NewReaderSize(z, 1<<16)
	var keys []uint64
	switch format {
	case "corda": // 8-byte big-endian keys, one after another
		var b [8]byte
		for {
			if _, err = io.ReadFull(r, b[:]); err != nil {
				break
			}
			keys = append(keys, binary.BigEndian.Uint64(b[:]))
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
	case "arc", "lirs":
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if keys, err = appendLine(keys, sc.Text(), format); err != nil {
				break
			}
		}
		if err == nil {
			err = sc.Err()
		}
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// appendLine appends the keys of one line of an ARC trace ("start count
// ignored ignored": keys start to start+count-1) or a LIRS trace (one
// decimal key; blank lines and a trailing '*' are ignored).
func appendLine(keys []uint64, line, format string) ([]uint64, error) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] == "*" {
		return keys, nil
	}
	start, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return keys, err
	}
	if format == "lirs" {
		return append(keys, start), nil
	}
	if len(f) < 2 {
		return keys, fmt.Errorf("%q: want start and count", line)
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return keys, err
	}
	for i := range n {
		keys = append(keys, start+i)
	}
	return keys, nil
}
