// Crash consistency: a writer process is killed with SIGKILL at random
// moments, and every time the file must open, pass Check, and hold
// everything the writer said it had made durable.
package memostore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// long turns on the long versions of the reliability tests: many more kill
// cycles, a longer stress run. Run it with
//
//	go test -race -run 'Crash|Stress' -long .
var long = flag.Bool("long", false, "run the long versions of the reliability tests (crash cycles, stress)")

// crashVal is what the crash writer's function returns: a pure function of
// the key, of varying size, so that records span different page counts.
type crashVal struct {
	K int
	S string
}

func crashValue(k int) crashVal {
	return crashVal{K: k, S: strings.Repeat(string(rune('a'+k%26)), 40+k%700)}
}

// churnValue is the function of the crash writer's second namespace, whose
// entries are forgotten, expire, are swept and cleared while it runs.
func churnValue(k int) string { return fmt.Sprintf("churn-%d-%s", k, strings.Repeat("z", k%300)) }

const (
	crashWriters   = 4         // writer goroutines in a crash child
	crashStride    = 1_000_000 // keys of one writer goroutine: base + g*crashStride + i
	crashCycleKeys = 10 * crashStride
	crashFlushN    = 40 // calls between two Flushes, without sync writes
)

// crashWriter is a child process's role: it memoizes on new keys as fast
// as it can until it is killed. Without sync writes it flushes every
// crashFlushN calls and then prints "flushed G LO HI": keys LO..HI of
// writer goroutine G are durable. With sync writes it prints "called K" after
// every Call that returned K's value. Meanwhile a second namespace churns:
// calls, Forget, TTL expiry with a busy sweeper, Clear.
func crashWriter(path string, syncWrites bool) error {
	base, err := strconv.Atoi(os.Getenv("MEMOSTORE_TEST_BASE"))
	if err != nil {
		return err
	}
	opts := []store.Option{store.WithSweepInterval(20 * time.Millisecond)}
	if syncWrites {
		opts = append(opts, store.WithSyncWrites())
	}
	s, err := store.Open(path, opts...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	f, err := memo.New(s, "crash", func(_ context.Context, k int) (crashVal, error) { return crashValue(k), nil }, memo.MaxSize(64))
	if err != nil {
		return err
	}
	churn, err := memo.New(s, "churn", func(_ context.Context, k int) (string, error) { return churnValue(k), nil },
		memo.MaxSize(16), memo.TTL(30*time.Millisecond))
	if err != nil {
		return err
	}
	var out sync.Mutex // one line per write, whole
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, format, args...)
	}
	say("ready\n")
	errc := make(chan error, crashWriters)
	for g := range crashWriters {
		go func() {
			r := rand.New(rand.NewPCG(uint64(base), uint64(g)))
			lo := base + g*crashStride
			for i := 0; ; i++ {
				k := lo + i
				v, err := f.Call(ctx, k)
				if err != nil || v != crashValue(k) {
					errc <- fmt.Errorf("Call(%d) = %v, %v", k, v, err)
					return
				}
				if syncWrites {
					say("called %d\n", k)
				}
				c := r.IntN(400)
				if cv, err := churn.Call(ctx, c); err != nil || cv != churnValue(c) {
					errc <- fmt.Errorf("churn Call(%d) = %q, %v", c, cv, err)
					return
				}
				switch n := r.IntN(1000); {
				case n < 100:
					churn.Forget(ctx, r.IntN(400))
				case n < 101:
					churn.Clear(ctx)
				}
				if !syncWrites && (i+1)%crashFlushN == 0 {
					if err := s.Flush(ctx); err != nil {
						errc <- err
						return
					}
					say("flushed %d %d %d\n", g, lo, k)
				}
			}
		}()
	}
	return <-errc
}

// crashRun is one writer child, started and later killed.
type crashRun struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	lines  chan []string // the complete lines the child printed, once it is gone
	stderr bytes.Buffer
}

func startCrashWriter(t *testing.T, path string, syncWrites bool, base int) *crashRun {
	t.Helper()
	role := "crash-writer"
	if syncWrites {
		role = "crash-sync"
	}
	return startCrashChild(t, role, path, "MEMOSTORE_TEST_BASE="+strconv.Itoa(base))
}

// startCrashChild starts the test binary as a child in role on path, with
// env added, to be killed later. Its line "ready" closes ready; the other
// lines it prints are collected.
func startCrashChild(t *testing.T, role, path string, env ...string) *crashRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, "MEMOSTORE_TEST_PATH="+path), env...)
	r := &crashRun{cmd: cmd, ready: make(chan struct{}), lines: make(chan []string, 1)}
	cmd.Stderr = &r.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Only whole lines count: the kill may cut the last one short.
		var lines []string
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if line == "ready\n" {
				close(r.ready)
				continue
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
		io.Copy(io.Discard, stdout)
		r.lines <- lines
	}()
	return r
}

// kill kills the child with SIGKILL and returns the lines it printed.
func (r *crashRun) kill(t *testing.T) []string {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	err := r.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("crash writer did not die of SIGKILL: %v\nstderr:\n%s", err, r.stderr.String())
	}
	return <-r.lines
}

// durableKeys parses the child's reports into the keys it said are durable.
func durableKeys(t *testing.T, lines []string) []int {
	t.Helper()
	var keys []int
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "called":
			k, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("bad report %q", line)
			}
			keys = append(keys, k)
		case len(f) == 4 && f[0] == "flushed":
			lo, err1 := strconv.Atoi(f[2])
			hi, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil || hi < lo {
				t.Fatalf("bad report %q", line)
			}
			// Ranges of one goroutine grow from its lo: keep the newest
			// part only, the rest was reported before.
			for k := max(lo, hi-crashFlushN+1); k <= hi; k++ {
				keys = append(keys, k)
			}
		default:
			t.Fatalf("crash writer printed %q", line)
		}
	}
	return keys
}

var errNotStored = errors.New("not in the store")

// verifyCrashed opens the store a killed writer left, checks it, and
// checks that every key in keys is stored with its value and that the
// churned namespace never returns a wrong value.
func verifyCrashed(t *testing.T, path string, keys []int) {
	t.Helper()
	s := openCrashed(t, path, false, "after SIGKILL")
	defer s.Close()
	verifyDurable(t, s, keys)
	churn, err := memo.New(s, "churn", func(_ context.Context, k int) (string, error) { return churnValue(k), nil },
		memo.MaxSize(0), memo.TTL(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 400 {
		if v, err := churn.Call(context.Background(), k); err != nil || v != churnValue(k) {
			t.Fatalf("churn Call(%d) = %q, %v; want %q", k, v, err, churnValue(k))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// openCrashed opens the store at path and checks it, repairing with fix
// (check --fix), before this process writes anything: the check must find
// no problem. when says what happened to the file last, for messages.
func openCrashed(t *testing.T, path string, fix bool, when string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.WithLogger(nil), store.WithLockTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("Open %s: %v", when, err)
	}
	what := "Check"
	if fix {
		what = "Check with fix"
	}
	rep, err := s.Check(context.Background(), fix, nil)
	if err != nil {
		s.Close()
		t.Fatalf("%s %s: %v", what, when, err)
	}
	if !rep.OK() {
		s.Close()
		t.Fatalf("%s %s found %d problems:\n%s\nfixed:\n%s", what, when, len(rep.Problems),
			strings.Join(rep.Problems, "\n"), strings.Join(rep.Fixed, "\n"))
	}
	return s
}

// verifyDurable checks that every key in keys is stored in s, in the
// crash writer's namespace, with its value.
func verifyDurable(t *testing.T, s *store.Store, keys []int) {
	t.Helper()
	ctx := context.Background()
	f, err := memo.New(s, "crash", func(_ context.Context, k int) (crashVal, error) {
		return crashVal{}, fmt.Errorf("key %d: %w", k, errNotStored)
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, k := range keys {
		v, err := f.Call(ctx, k)
		switch {
		case errors.Is(err, errNotStored):
			if missing++; missing <= 5 {
				t.Errorf("key %d was reported durable and is not in the store", k)
			}
		case err != nil:
			t.Fatalf("Call(%d): %v", k, err)
		case v != crashValue(k):
			t.Fatalf("key %d: stored value %+v, want %+v", k, v, crashValue(k))
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d keys reported durable are missing", missing, len(keys))
	}
}

// Kill cycles: crashEpochs files, each killed crashCycles times (and
// crashCycles/6 more writers killed while they create a new file). Each
// file is checked whole after every kill, so a long run uses many files
// rather than one that grows without end.
const crashCycles = 30

func crashEpochs() int {
	if *long {
		return 16
	}
	return 1
}

// crashTest runs the kill cycles of every epoch.
func crashTest(t *testing.T, syncWrites bool) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	dir := t.TempDir()
	killed, durable := 0, 0
	for e := range crashEpochs() {
		k, d := crashEpoch(t, filepath.Join(dir, fmt.Sprintf("crash%d.db", e)), syncWrites, r, e*crashCycles)
		killed += k
		durable += d
	}
	t.Logf("%d kills; %d keys reported durable, all present", killed, durable)
}

// crashEpoch kills writers of the file at path crashCycles times, checking
// the file after each kill, and returns the kills and the keys reported
// durable. Cycle numbers start at first, to keep keys apart.
func crashEpoch(t *testing.T, path string, syncWrites bool, r *rand.Rand, first int) (killed, durable int) {
	var all []int // every key reported durable, by every cycle
	for cycle := first; cycle < first+crashCycles; cycle++ {
		run := startCrashWriter(t, path, syncWrites, (cycle+1)*crashCycleKeys)
		if cycle%6 == 5 {
			// Now and then, kill it while it is still opening the file.
			time.Sleep(time.Duration(r.IntN(int(30 * time.Millisecond))))
		} else {
			select {
			case <-run.ready:
			case <-time.After(30 * time.Second):
				run.kill(t)
				t.Fatalf("crash writer not ready after 30s\nstderr:\n%s", run.stderr.String())
			}
			time.Sleep(time.Duration(r.IntN(int(250 * time.Millisecond))))
		}
		lines := run.kill(t)
		killed++
		keys := durableKeys(t, lines)
		all = append(all, keys...)
		// This cycle's keys in full, and a sample of the earlier ones.
		check := keys
		for range min(300, len(all)) {
			check = append(check, all[r.IntN(len(all))])
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && len(keys) == 0 {
			continue // killed before it made the file
		}
		verifyCrashed(t, path, check)
		if t.Failed() {
			t.Fatalf("cycle %d; writer stderr:\n%s", cycle, run.stderr.String())
		}
	}
	if len(all) == 0 {
		t.Fatal("no writer reported anything durable: the kills came too early to test anything")
	}
	verifyCrashed(t, path, all)

	// A writer killed while it creates a new file leaves no file or a
	// good one.
	for i := range crashCycles / 6 {
		fresh := fmt.Sprintf("%s.fresh%d", path, i)
		run := startCrashWriter(t, fresh, syncWrites, 0)
		time.Sleep(time.Duration(r.IntN(int(40 * time.Millisecond))))
		run.kill(t)
		killed++
		if _, err := os.Stat(fresh); err == nil {
			verifyCrashed(t, fresh, nil)
		}
	}
	return killed, len(all)
}

// TestCrashConsistency kills a write-behind writer with SIGKILL at random
// moments: after each kill the file opens, passes Check, and holds every
// entry flushed before the kill.
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	crashTest(t, false)
}

// TestCrashConsistencySyncWrites does the same WithSyncWrites: every value
// a Call returned before the kill is in the file.
func TestCrashConsistencySyncWrites(t *testing.T) {
	t.Parallel()
	crashTest(t, true)
}
