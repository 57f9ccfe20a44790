package memostore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/store/redisstore"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// redisVariants runs test on one Redis server and on a Redis Cluster, as
// subtests "server" and "cluster", with the URL of each.
func redisVariants(t *testing.T, test func(t *testing.T, url string)) {
	for name, url := range map[string]func(testing.TB) string{
		"server": redistest.URL, "cluster": redistest.ClusterURL,
	} {
		t.Run(name, func(t *testing.T) { test(t, url(t)) })
	}
}

// TestRedisFibSurvivesRestart is TestFibSurvivesRestart on Redis: the
// second process is served what the first computed, through the server
// (or the cluster).
func TestRedisFibSurvivesRestart(t *testing.T) { redisVariants(t, testRedisFibSurvivesRestart) }

func testRedisFibSurvivesRestart(t *testing.T, url string) {
	prefix := redistest.Prefix(t, url)
	env := "MEMOSTORE_TEST_PREFIX=" + prefix
	first := runChild(t, "fib", url, env)
	want := memo.Info{Hits: 28, Misses: 31, MaxSize: 32, CurrSize: 31}
	if first.Value != 832040 || first.Info != want || first.Runs != 31 {
		t.Fatalf("fresh store: fib(30) = %d after %d runs, %v; want 832040, 31 runs, %v", first.Value, first.Runs, first.Info, want)
	}
	second := runChild(t, "fib", url, env)
	want = memo.Info{Hits: 1, DiskHits: 1, MaxSize: 32, CurrSize: 1}
	if second.Value != 832040 || second.Info != want || second.Runs != 0 {
		t.Fatalf("new process: fib(30) = %d after %d runs, %v; want 832040 from Redis, 0 runs, %v", second.Value, second.Runs, second.Info, want)
	}
	s, err := store.Open(url, redisstore.WithPrefix(prefix), store.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.StatsContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Namespaces) != 1 || st.Namespaces[0].Hits != 29 || st.Namespaces[0].Misses != 31 ||
		st.Namespaces[0].DiskHits != 1 || st.Namespaces[0].Writes != 31 {
		t.Fatalf("counters of both processes: %+v", st.Namespaces)
	}
}

// shareKeys is how many keys each "share" child computes.
const shareKeys = 20

// shareChild opens the Redis store at url, says "ready", waits for a line
// on stdin, then calls a slow function for keys 0..shareKeys-1 and reports
// how many it ran itself.
func shareChild(url, prefix string) error {
	s, err := store.Open(url, redisstore.WithPrefix(prefix))
	if err != nil {
		return err
	}
	var runs atomic.Int64
	f, err := memo.New(s, "square", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		time.Sleep(30 * time.Millisecond)
		return n * n, nil
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	for n := range shareKeys {
		v, err := f.Call(context.Background(), n)
		if err != nil {
			return err
		}
		if v != n*n {
			return fmt.Errorf("square(%d) = %d", n, v)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(report{Runs: runs.Load(), Info: f.Info()})
}

// TestRedisProcessesComputeOnce starts two processes on one Redis (and on
// a cluster) and lets them call the same keys at the same moment: each key
// is computed once, by one of them, and the other waits for the result.
func TestRedisProcessesComputeOnce(t *testing.T) { redisVariants(t, testRedisProcessesComputeOnce) }

func testRedisProcessesComputeOnce(t *testing.T, url string) {
	prefix := redistest.Prefix(t, url)
	var procs []liveChild
	for range 2 {
		procs = append(procs, startChild(t, "share", url, "ready", "MEMOSTORE_TEST_PREFIX="+prefix))
	}
	for _, p := range procs { // go
		fmt.Fprintln(p.stdin, "go")
	}
	var total int64
	for i, p := range procs {
		line, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("child %d printed %q: %v", i, line, err)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		t.Logf("child %d ran the function %d times: %v", i, r.Runs, r.Info)
		total += r.Runs
		if r.Info.Hits+r.Info.Misses != shareKeys {
			t.Errorf("child %d: %v, want %d calls", i, r.Info, shareKeys)
		}
	}
	if total != shareKeys {
		t.Fatalf("the two processes ran the function %d times for %d keys, want once per key", total, shareKeys)
	}
}

// TestRedisKilledMidRun stops the server while a Func uses it: calls keep
// returning correct values (from memory or computed), each within the
// timeout; once the server is back, results are stored again and a new
// process is served them.
func TestRedisKilledMidRun(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *store.Store {
		s, err := store.Open(srv.URL(), redisstore.WithTimeout(100*time.Millisecond), store.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	var runs atomic.Int64
	square := func(ctx context.Context, n int) (int, error) { runs.Add(1); return n * n, nil }
	f, err := memo.New(open(), "square", square)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(n int) {
		t.Helper()
		start := time.Now()
		v, err := f.Call(ctx, n)
		if err != nil || v != n*n {
			t.Fatalf("Call(%d) = %d, %v; want %d", n, v, err, n*n)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Call(%d) took %v", n, d)
		}
	}
	for n := range 10 {
		call(n)
	}
	srv.Stop()
	for n := range 20 { // 0..9 from memory, 10..19 computed
		call(n)
	}
	if got := runs.Load(); got != 20 {
		t.Errorf("the function ran %d times, want 20", got)
	}
	srv.Restart() // empty: it kept nothing
	n := 100
	deadline := time.Now().Add(15 * time.Second)
	for {
		call(n)
		other, err := memo.New(open(), "square", func(ctx context.Context, k int) (int, error) {
			return 0, fmt.Errorf("computed %d again", k)
		})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := other.Call(ctx, n); err == nil && v == n*n {
			break // stored by the first process, served to the second
		} else if !strings.Contains(fmt.Sprint(err), "computed") {
			t.Fatalf("second process: %d, %v", v, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume once the server was back")
		}
		n++
		time.Sleep(50 * time.Millisecond)
	}
}
