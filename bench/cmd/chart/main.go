// Command chart draws memostore's benchmark charts into PNG images:
//
//   - heap.png: heap in use over calls of examples/userdata's loop, with
//     an unbounded memory tier (MaxSize(-1), functools.cache) against
//     MaxSize(1000) (lru_cache(maxsize=1000)): the classic picture of a
//     cache that grows with every call against one that stays flat.
//   - latency.png: what one call costs when it hits memory, hits the file
//     or misses, against the peers, from the medians of a `go test -bench`
//     output of this module (bench/run.sh makes one).
//   - hitratio.png: hit ratio against capacity on each trace of
//     BenchmarkHitRatio, memostore's tiers against the reference policies.
//
// It also writes the heap measurements as JSON, for cmd/report.
//
//	go run ./cmd/chart -bench results/bench.txt -hitratio results/hitratio.txt -out ../docs -json results/heap.json
//
// The heap is measured as examples/userdata measures it: the same loop
// (get_user_data for ids 0..n-1, WithMaxBytes(64 MiB)), and every -every
// calls a Flush, so that records in transit to the file are not counted,
// then two runtime.GCs (the second empties the sync.Pools: bbolt keeps
// page buffers in one) and runtime.ReadMemStats. The heap after the first
// GC alone is recorded too, to show what the pools hold. Each MaxSize runs
// in a child process of its own, so that neither sees the other's heap.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/memostore/memostore/bench"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func main() {
	benchFile := flag.String("bench", "results/bench.txt", "`go test -bench` output to chart latencies from; \"\" skips latency.png")
	hitFile := flag.String("hitratio", "", "`go test -bench HitRatio` output to chart hit ratios from; \"\" skips hitratio.png")
	out := flag.String("out", "../docs", "directory of the PNG images")
	jsonOut := flag.String("json", "results/heap.json", "file for the heap measurements; \"\" skips heap.png")
	n := flag.Int("n", 1_000_000, "calls of the userdata loop")
	every := flag.Int("every", 50_000, "measure the heap every this many calls")
	maxBytes := flag.Int64("maxbytes", 64<<20, "WithMaxBytes of the userdata store, as in examples/userdata")
	child := flag.Bool("child", false, "internal: measure the heap for -maxsize only, and print it as JSON")
	maxSize := flag.Int("maxsize", 1000, "with -child: the MaxSize to measure")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("chart: ")

	if *child {
		run, err := measureHeap(*maxSize, *n, *every, *maxBytes)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(run); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if *jsonOut != "" {
		var runs []bench.HeapRun
		for _, size := range []int{1000, -1} {
			run, err := heapChild(size, *n, *every, *maxBytes)
			if err != nil {
				log.Fatal(err)
			}
			runs = append(runs, run)
		}
		b, err := json.MarshalIndent(runs, "", "  ")
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := heapChart(runs, filepath.Join(*out, "heap.png")); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s and %s", *jsonOut, filepath.Join(*out, "heap.png"))
	}
	if *benchFile != "" {
		f, err := os.Open(*benchFile)
		if err != nil {
			log.Fatal(err)
		}
		res, err := bench.ParseResults(f)
		f.Close()
		if err != nil {
			log.Fatal(err)
		}
		if err := latencyChart(res, filepath.Join(*out, "latency.png")); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s", filepath.Join(*out, "latency.png"))
	}
	if *hitFile != "" {
		f, err := os.Open(*hitFile)
		if os.IsNotExist(err) {
			log.Printf("no %s: hitratio.png not drawn", *hitFile)
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		res, err := bench.ParseResults(f)
		f.Close()
		if err != nil {
			log.Fatal(err)
		}
		if err := hitChart(res, filepath.Join(*out, "hitratio.png")); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s", filepath.Join(*out, "hitratio.png"))
	}
}

// heapChild runs the userdata loop for one MaxSize in a child process.
func heapChild(maxSize, n, every int, maxBytes int64) (bench.HeapRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return bench.HeapRun{}, err
	}
	cmd := exec.Command(exe, "-child", "-maxsize", strconv.Itoa(maxSize), "-n", strconv.Itoa(n),
		"-every", strconv.Itoa(every), "-maxbytes", strconv.FormatInt(maxBytes, 10))
	cmd.Stderr = os.Stderr
	start := time.Now()
	outb, err := cmd.Output()
	if err != nil {
		return bench.HeapRun{}, fmt.Errorf("MaxSize(%d): %w", maxSize, err)
	}
	var run bench.HeapRun
	if err := json.NewDecoder(bytes.NewReader(outb)).Decode(&run); err != nil {
		return bench.HeapRun{}, fmt.Errorf("MaxSize(%d): %w", maxSize, err)
	}
	log.Printf("MaxSize(%d): %d calls in %v", maxSize, n, time.Since(start).Round(time.Millisecond))
	return run, nil
}

// measureHeap is examples/userdata's loop, measuring the heap at rest
// after 1,000 calls and every every calls.
func measureHeap(maxSize, n, every int, maxBytes int64) (bench.HeapRun, error) {
	run := bench.HeapRun{MaxSize: maxSize, MaxBytes: maxBytes}
	dir, err := os.MkdirTemp("", "memostore-chart-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "userdata.db"), store.WithMaxBytes(maxBytes))
	if err != nil {
		return run, err
	}
	defer s.Close()
	users, err := memo.New(s, "get_user_data", bench.GetUserData, memo.MaxSize(maxSize))
	if err != nil {
		return run, err
	}
	ctx := context.Background()
	start := time.Now()
	sample := func(calls int) error {
		if err := s.Flush(ctx); err != nil {
			return err
		}
		var m, m2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		runtime.GC()
		runtime.ReadMemStats(&m2)
		st := s.Stats()
		run.Samples = append(run.Samples, bench.HeapSample{
			Calls: calls, HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, HeapAlloc2: m2.HeapAlloc,
			MemSize: users.Info().CurrSize, Entries: st.Entries, Bytes: st.Bytes,
			Seconds: time.Since(start).Seconds(),
		})
		return nil
	}
	if err := sample(0); err != nil {
		return run, err
	}
	for i := range n {
		if _, err := users.Call(ctx, i); err != nil {
			return run, err
		}
		if calls := i + 1; calls%every == 0 || calls == 1000 || calls == n {
			if err := sample(calls); err != nil {
				return run, err
			}
		}
	}
	return run, s.Close()
}
