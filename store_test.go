// End-to-end tests of the whole: memoize, close, reopen in a new process,
// see disk hits. Cross-process tests re-execute this test binary as a child
// (see TestMain and child).
package memostore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/store/redisstore"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

const childEnv = "MEMOSTORE_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := child(role, os.Getenv("MEMOSTORE_TEST_PATH")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// report is what a child prints on stdout, as JSON.
type report struct {
	Value int
	Runs  int64
	Info  memo.Info
}

// child plays a role in a cross-process test.
func child(role, path string) error {
	switch role {
	case "fib":
		var opts []store.Option
		if store.IsURL(path) {
			opts = append(opts, redisstore.WithPrefix(os.Getenv("MEMOSTORE_TEST_PREFIX")))
		}
		s, err := store.Open(path, opts...)
		if err != nil {
			return err
		}
		var runs atomic.Int64
		fib, err := newFib(s, &runs, memo.MaxSize(32))
		if err != nil {
			return err
		}
		v, err := fib.Call(context.Background(), 30)
		if err != nil {
			return err
		}
		if err := s.Close(); err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(report{Value: v, Runs: runs.Load(), Info: fib.Info()})
	case "hold":
		// Hold the store open until stdin closes; bounded to
		// MEMOSTORE_TEST_MAXBYTES if set.
		var opts []store.Option
		if mb := os.Getenv("MEMOSTORE_TEST_MAXBYTES"); mb != "" {
			n, err := strconv.ParseInt(mb, 10, 64)
			if err != nil {
				return err
			}
			opts = append(opts, store.WithMaxBytes(n))
		}
		s, err := store.Open(path, opts...)
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println("holding")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		return nil
	case "share":
		return shareChild(path, os.Getenv("MEMOSTORE_TEST_PREFIX"))
	case "crash-writer", "crash-sync":
		// Memoize until killed (crash_test.go).
		return crashWriter(path, role == "crash-sync")
	case "crash-versions":
		// Overwrite, forget and clear versioned values until killed
		// (crash_versions_test.go).
		return versionWriter(path)
	}
	if play := childRoles[role]; play != nil {
		return play(role, path)
	}
	return fmt.Errorf("unknown role %q", role)
}

// childRoles are the roles of child that other files add.
var childRoles = map[string]func(role, path string) error{}

// runChild runs the test binary as a child in role on path and decodes its
// report.
func runChild(t *testing.T, role, path string, env ...string) report {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, "MEMOSTORE_TEST_PATH="+path), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", role, err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child %s printed %q: %v", role, out, err)
	}
	// The time the hits saved depends on the machine: the tests that
	// compare whole Infos leave it out (memo's tests check it).
	r.Info.Saved = 0
	return r
}

func newFib(s *store.Store, runs *atomic.Int64, opts ...memo.Option) (*memo.Func[int, int], error) {
	var fib *memo.Func[int, int]
	fib, err := memo.New(s, "fib", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		if n < 2 {
			return n, nil
		}
		a, err := fib.Call(ctx, n-1)
		if err != nil {
			return 0, err
		}
		b, err := fib.Call(ctx, n-2)
		return a + b, err
	}, opts...)
	return fib, err
}

func TestFibSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fib.db")
	first := runChild(t, "fib", path)
	want := memo.Info{Hits: 28, Misses: 31, MaxSize: 32, CurrSize: 31}
	if first.Value != 832040 || first.Info != want || first.Runs != 31 {
		t.Fatalf("fresh store: fib(30) = %d after %d runs, %v; want 832040, 31 runs, %v", first.Value, first.Runs, first.Info, want)
	}
	second := runChild(t, "fib", path)
	want = memo.Info{Hits: 1, DiskHits: 1, MaxSize: 32, CurrSize: 1}
	if second.Value != 832040 || second.Info != want || second.Runs != 0 {
		t.Fatalf("new process: fib(30) = %d after %d runs, %v; want 832040 from disk, 0 runs, %v", second.Value, second.Runs, second.Info, want)
	}
	// Both processes' counts are in the file.
	s, err := store.Open(path, store.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := s.Stats().Namespaces
	if len(ns) != 1 || ns[0].Entries != 31 || ns[0].Hits != 29 || ns[0].Misses != 31 || ns[0].DiskHits != 1 {
		t.Fatalf("persisted stats %+v; want 31 entries, 29 hits, 31 misses, 1 disk hit", ns)
	}
}

// startHolder runs the test binary as a child that holds the store at
// path open until its stdin closes, and returns once it holds it. The
// child is killed, if still running, when the test ends.
func startHolder(t *testing.T, path string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	c := startChild(t, "hold", path, "holding")
	return c.cmd, c.stdin
}

// A liveChild is a child process started by startChild.
type liveChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader // the rest of its stdout
}

// startChild runs the test binary as a child in role on path, with env
// added, and returns once it has printed the line ready. The child is
// killed, if still running, when the test ends.
func startChild(t *testing.T, role, path, ready string, env ...string) liveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, "MEMOSTORE_TEST_PATH="+path), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != ready+"\n" {
		t.Fatalf("child %s: %q, %v", role, line, err)
	}
	return liveChild{cmd, stdin, out}
}

func TestGarbageFileIsCorruptAndUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	garbage := bytes.Repeat([]byte("not a store "), 5000)
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(path); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open of garbage: %v, want ErrCorrupt", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, garbage) {
		t.Fatal("Open changed a file that is not a store")
	}
}

func TestVersionAndTypeChangesInvalidate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	ctx := context.Background()
	open := func() *store.Store {
		s, err := store.Open(path, store.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := open()
	v1, err := memo.New(s, "f", func(_ context.Context, x int) (int, error) { return x + 1, nil }, memo.Version("1"))
	if err != nil {
		t.Fatal(err)
	}
	v1.Call(ctx, 1)
	s.Close()

	s = open()
	var runs atomic.Int64
	v2, err := memo.New(s, "f", func(_ context.Context, x int) (int, error) { runs.Add(1); return x + 2, nil }, memo.Version("2"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := v2.Call(ctx, 1); v != 3 || runs.Load() != 1 {
		t.Fatalf("after a version change: %d after %d runs, want 3 recomputed", v, runs.Load())
	}
	s.Close()

	// Same name and version, but the value type changed: int → string.
	s = open()
	defer s.Close()
	str, err := memo.New(s, "f", func(_ context.Context, x int) (string, error) { return fmt.Sprint("s", x), nil }, memo.Version("2"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := str.Call(ctx, 1); v != "s1" || str.Info().DiskHits != 0 {
		t.Fatalf("after a value type change: %q, %v; want a recomputed string", v, str.Info())
	}
}

func TestSweeperRemovesExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := store.Open(filepath.Join(t.TempDir(), "ttl.db"), store.WithSweepInterval(time.Minute), store.WithoutControl())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		short, err := memo.New(s, "short", func(_ context.Context, x int) (int, error) { return x, nil }, memo.TTL(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		long, err := memo.New(s, "long", func(_ context.Context, x int) (int, error) { return x, nil })
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2500 {
			short.Call(ctx, i)
			long.Call(ctx, i)
		}
		time.Sleep(2 * time.Minute) // the sweeper runs twice meanwhile
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ns := range s.Stats().Namespaces {
			switch {
			case ns.Name == "short" && (ns.Entries != 0 || ns.Expirations != 2500):
				t.Errorf("short: %d entries, %d expirations; want all 2500 swept", ns.Entries, ns.Expirations)
			case ns.Name == "long" && ns.Entries != 2500:
				t.Errorf("long: %d entries, want 2500 kept", ns.Entries)
			}
		}
	})
}

func TestManyCallersOneSlowKeyWithStore(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "slow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var runs atomic.Int64
	slow, err := memo.New(s, "slow", func(_ context.Context, x int) (int, error) {
		runs.Add(1)
		time.Sleep(100 * time.Millisecond)
		return x * x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if v, err := slow.Call(context.Background(), 9); v != 81 || err != nil {
				t.Errorf("Call = %d, %v", v, err)
			}
		})
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("64 concurrent callers ran fn %d times, want 1", runs.Load())
	}
}

func TestPanicThenNormalCallWithStore(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "panic.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boom := true
	f, err := memo.New(s, "f", func(_ context.Context, x int) (int, error) {
		if boom {
			panic(fmt.Sprint("boom ", x))
		}
		return x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom 5" {
				t.Fatalf("recovered %v", r)
			}
		}()
		f.Call(context.Background(), 5)
	}()
	boom = false
	if v, err := f.Call(context.Background(), 5); v != 5 || err != nil {
		t.Fatalf("after a panic: %d, %v", v, err)
	}
}

// TestNamespaceNamesValidated: memo.New rejects names that could not
// name a namespace, names them in the error, and stores nothing for them.
func TestNamespaceNamesValidated(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "names.db"))
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	for _, name := range []string{"", "has space", "semi;colon", "new\nline", "nul\x00", "ünï", "tab\t", "quote\"", "back\\slash",
		strings.Repeat("x", store.MaxNamespaceLen+1)} {
		f, err := memo.New(s, name, fn)
		if err == nil {
			t.Errorf("memo.New(%q) succeeded", name)
			continue
		}
		if f != nil {
			t.Errorf("memo.New(%q) returned a Func with its error", name)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("memo.New(%q) = %q, which does not name it", name, err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ns := s.Stats().Namespaces; len(ns) != 0 {
		t.Errorf("rejected names made namespaces: %+v", ns)
	}
	for _, name := range []string{"a", "A.b_c-d:e/f", strings.Repeat("y", store.MaxNamespaceLen)} {
		if _, err := memo.New(s, name, fn); err != nil {
			t.Errorf("memo.New(%q) = %v", name, err)
		}
	}
}
