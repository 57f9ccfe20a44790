package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

const holderEnv = "MEMOCTL_TEST_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) != "" {
		if err := holder(os.Getenv("MEMOCTL_TEST_PATH"), os.Getenv(holderEnv) == "nocontrol"); err != nil {
			fmt.Fprintln(os.Stderr, "holder:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder is the application holding a store, run as a child process. It
// memoizes "double" and answers lines on stdin: "call N" prints "ran" or
// "cached" for double(N); end of input closes the store.
func holder(path string, noControl bool) error {
	var opts []store.Option
	if noControl {
		opts = append(opts, store.WithoutControl())
	}
	s, err := store.Open(path, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	var runs atomic.Int64
	double, err := memo.New(s, "double", func(_ context.Context, x int) (int, error) {
		runs.Add(1)
		return 2 * x, nil
	}, memo.MaxSize(16))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(in.Text(), "call "))
		if err != nil {
			return err
		}
		before := runs.Load()
		double.Call(context.Background(), n)
		if runs.Load() > before {
			fmt.Println("ran")
		} else {
			fmt.Println("cached")
		}
	}
	return in.Err()
}

// liveHolder starts a holder on path and returns a function that sends it
// one call and returns its answer.
type liveHolder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHolder(t *testing.T, path, mode string) *liveHolder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+mode, "MEMOCTL_TEST_PATH="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &liveHolder{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	if line, err := h.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	return h
}

func (h *liveHolder) call(t *testing.T, n int) string {
	t.Helper()
	fmt.Fprintf(h.stdin, "call %d\n", n)
	line, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("holder: %v", err)
	}
	return strings.TrimSpace(line)
}

func liveInfo(t *testing.T, path string) infoJSON {
	t.Helper()
	out, errOut, code := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	var info infoJSON
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestLiveStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	h := startHolder(t, path, "control")
	for i := range 5 {
		if got := h.call(t, i); got != "ran" {
			t.Fatalf("first call %d: %s", i, got)
		}
	}
	if got := h.call(t, 1); got != "cached" {
		t.Fatalf("repeat call: %s", got)
	}

	// info reads the holder's live counters, memory tier included.
	info := liveInfo(t, path)
	if !info.Live || info.PID != h.cmd.Process.Pid {
		t.Fatalf("info: live=%v pid=%d, want live from pid %d", info.Live, info.PID, h.cmd.Process.Pid)
	}
	ns := info.Namespaces[0]
	if ns.Name != "double" || ns.Hits != 1 || ns.Misses != 5 || ns.MemSize != 5 || ns.MemMax != 16 {
		t.Fatalf("live namespace %+v; want 1 hit, 5 misses, memory tier 5/16", ns)
	}
	out, _, code := runCmd(t, "info", path)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("held by process %d", h.cmd.Process.Pid)) || !strings.Contains(out, "5/16") {
		t.Fatalf("info table:\n%s", out)
	}

	// keys lists what the holder stored, through the holder.
	out, errOut, code := runCmd(t, "keys", "--namespace", "double", "--limit", "3", path)
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"key":0`) {
		t.Fatalf("keys: exit %d, %s%s", code, out, errOut)
	}

	// check runs in the holder.
	if out, errOut, code := runCmd(t, "check", path); code != 0 || !strings.Contains(out, "ok: ") {
		t.Fatalf("check on a live store: exit %d, %s%s", code, out, errOut)
	}

	// check --fix and compact refuse a live store, politely.
	for _, args := range [][]string{{"check", "--fix", path}, {"compact", path}} {
		_, errOut, code := runCmd(t, args...)
		if code != 1 || !strings.Contains(errOut, "stop that process first") {
			t.Fatalf("%v on a live store: exit %d, %q", args, code, errOut)
		}
	}

	// clear goes through the holder and empties both of its tiers.
	out, errOut, code = runCmd(t, "clear", "--namespace", "double", path)
	if code != 0 || !strings.Contains(out, "cleared double") {
		t.Fatalf("clear: exit %d, %s%s", code, out, errOut)
	}
	if got := h.call(t, 1); got != "ran" {
		t.Fatalf("after a live clear the holder's call was %s, want ran", got)
	}
	if info := liveInfo(t, path); info.Namespaces[0].MemSize != 1 {
		t.Fatalf("memory tier after clear and one call: %d", info.Namespaces[0].MemSize)
	}
	if out, _, code := runCmd(t, "sweep", path); code != 0 || !strings.Contains(out, "swept 0") {
		t.Fatalf("live sweep: %d %s", code, out)
	}

	// Killed, the holder leaves its socket behind: memoctl sees it is
	// stale and opens the store itself.
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.cmd.Wait()
	if _, err := os.Lstat(control.Path(path)); err != nil {
		t.Fatalf("expected a stale socket after SIGKILL: %v", err)
	}
	if info := liveInfo(t, path); info.Live || info.Entries == 0 {
		t.Fatalf("after the holder died: live=%v entries=%d", info.Live, info.Entries)
	}
	// And the next application's Open replaces the stale socket.
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !control.Live(context.Background(), path) {
		t.Fatal("a new holder does not answer on the control socket")
	}
}

func TestHeldWithoutControlEndpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	h := startHolder(t, path, "nocontrol")
	start := time.Now()
	_, errOut, code := runCmd(t, "info", path)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("pid %d", h.cmd.Process.Pid)) || !strings.Contains(errOut, "does not answer") {
		t.Fatalf("info on a held store without control: exit %d, %q", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v; the lock timeout is %v", d, store.DefaultLockTimeout)
	}
}

func TestControlSocketIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Lstat(control.Path(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("control socket mode %v, want 0600", perm)
	}
	s.Close()
	if _, err := os.Lstat(control.Path(path)); !os.IsNotExist(err) {
		t.Fatalf("control socket left after Close: %v", err)
	}
}
