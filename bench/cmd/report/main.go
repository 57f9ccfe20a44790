// Command report writes BENCHMARKS.md from one run of the benchmark
// suite: the targets with their verdicts, the tables of memostore against
// its peers (medians of the run's counts), the charts, and benchstat's
// summary. bench/run.sh runs it; the numbers come only from its inputs.
//
//	go run ./cmd/report -bench results/bench.txt -benchstat results/benchstat.txt \
//		-heap results/heap.json -hitratio results/hitratio.txt -machine results/machine.txt -o ../BENCHMARKS.md
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/memostore/memostore/bench"
)

func main() {
	benchFile := flag.String("bench", "results/bench.txt", "`go test -bench` output")
	statFile := flag.String("benchstat", "results/benchstat.txt", "benchstat's summary of -bench (optional)")
	heapFile := flag.String("heap", "results/heap.json", "cmd/chart's heap measurements (optional)")
	hitFile := flag.String("hitratio", "results/hitratio.txt", "`go test -bench HitRatio` output (optional; else the hit ratios in -bench, if any)")
	machineFile := flag.String("machine", "results/machine.txt", "description of the machine (optional)")
	command := flag.String("command", "bench/run.sh", "the command that reproduces the run")
	notesFile := flag.String("notes", "misses.md", "hand-written notes on missed targets, included after the targets (optional)")
	out := flag.String("o", "../BENCHMARKS.md", "output file; - for stdout")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("report: ")

	f, err := os.Open(*benchFile)
	if err != nil {
		log.Fatal(err)
	}
	res, err := bench.ParseResults(f)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	if len(res.Names) == 0 {
		log.Fatalf("no benchmark results in %s", *benchFile)
	}
	r := &report{res: res, hr: res, command: *command, stat: readOptional(*statFile), machine: readOptional(*machineFile), notes: readOptional(*notesFile)}
	if b := readOptional(*hitFile); b != "" {
		if r.hr, err = bench.ParseResults(strings.NewReader(b)); err != nil {
			log.Fatalf("%s: %v", *hitFile, err)
		}
	}
	if b := readOptional(*heapFile); b != "" {
		if err := json.Unmarshal([]byte(b), &r.heap); err != nil {
			log.Fatalf("%s: %v", *heapFile, err)
		}
	}
	md := r.markdown()
	if *out == "-" {
		fmt.Print(md)
		return
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	met, missed, nodata := r.tally()
	log.Printf("wrote %s: %d targets met, %d missed, %d without data", *out, met, missed, nodata)
}

func readOptional(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Fatal(err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

type report struct {
	res     *bench.Results
	hr      *bench.Results // the hit ratios: -hitratio, or else res
	heap    []bench.HeapRun
	stat    string
	machine string
	command string
	notes   string // misses.md: what stands in the way of the missed targets
	targets []target
}

// med returns the median of unit in the named benchmark.
func (r *report) med(name, unit string) (float64, bool) {
	if name == "" {
		return 0, false
	}
	return r.res.Median(name, unit)
}

// counts describes how many runs the medians are of.
func (r *report) counts() string {
	lo, hi := 0, 0
	for i, name := range r.res.Names {
		c := r.res.Count(name)
		if i == 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}
