package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// python-diskcache's memoize is the peer of the follower benchmarks: a
// persistent memoizer that many processes share through one directory (a
// SQLite database, in WAL mode). The script testdata/diskcache_peer.py
// does the calls; these functions run it and report its timings.

// diskcacheScript is the peer's script, relative to the package directory
// where go test runs.
const diskcacheScript = "testdata/diskcache_peer.py"

// python returns the interpreter that runs the peer: $BENCH_PYTHON, or
// else Debian's /usr/bin/python3, where bench/peers.sh installs
// python3-diskcache. It fails tb if that interpreter cannot import
// diskcache: a benchmark run that lacks its peer is not a benchmark run.
func python(tb testing.TB) string {
	tb.Helper()
	py := os.Getenv("BENCH_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	pythonCheck.Do(func() {
		out, err := exec.Command(py, "-c", "import diskcache").CombinedOutput()
		if err != nil {
			pythonCheck.err = fmt.Errorf("%s cannot import diskcache (%v: %s): run bench/peers.sh, which installs Debian's python3-diskcache, or set BENCH_PYTHON to an interpreter that has it",
				py, err, strings.TrimSpace(string(out)))
		}
	})
	if pythonCheck.err != nil {
		tb.Fatal(pythonCheck.err)
	}
	return py
}

var pythonCheck struct {
	sync.Once
	err error
}

// diskcacheFill stores keys 0 to n-1 in the cache directory dir through
// memoize, in a python process of its own.
func diskcacheFill(tb testing.TB, dir string, n int) {
	tb.Helper()
	start := time.Now()
	out, err := exec.Command(python(tb), diskcacheScript, "fill", dir, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		tb.Fatalf("diskcache fill: %v: %s", err, out)
	}
	tb.Logf("diskcache: stored %d keys in %v", n, time.Since(start).Round(time.Millisecond))
}

// diskcacheRun times b.N memoize calls in a new python process on the
// cache directory dir: mode "hit" calls the keys 0 to arg-1 (stored by
// diskcacheFill) in a shuffled order, mode "miss" new keys from arg on.
// The timer runs from the moment the process is told b.N to the moment
// it answers with its timings, which it measured call by call; it reports
// them as call-mean-ns, call-p50-ns ... call-max-ns.
func diskcacheRun(b *testing.B, mode, dir string, arg int) {
	cmd := exec.Command(python(b), diskcacheScript, mode, dir, strconv.Itoa(arg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); line != "ready\n" {
		b.Fatalf("diskcache %s: %q, %v", mode, line, err)
	}
	b.ResetTimer()
	fmt.Fprintln(stdin, b.N)
	line, err := out.ReadString('\n')
	b.StopTimer()
	if err != nil && err != io.EOF {
		b.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "done" {
		b.Fatalf("diskcache %s: %q", mode, line)
	}
	for i, unit := range []string{"call-mean-ns", "call-p50-ns", "call-p99-ns", "call-p99.9-ns", "call-max-ns"} {
		v, err := strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			b.Fatalf("diskcache %s: %q: %v", mode, line, err)
		}
		b.ReportMetric(v, unit)
	}
}
