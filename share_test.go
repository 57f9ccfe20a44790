//go:build !windows

package memostore_test

// Many processes, one file: a holder and its followers, in real processes
// (the test binary re-executed in the roles of followChild).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/boltstore"
	"github.com/memostore/memostore/store/redisstore"
)

func init() {
	for _, role := range []string{"follow-keys", "follow-churn", "follow-inv", "follow-hang", "follow-storm"} {
		childRoles[role] = followChild
	}
}

// followKeys is how many keys each "follow-keys" child computes.
const followKeys = 30

// followReport is what a "follow-keys" child prints.
type followReport struct {
	Runs int64
	Role string
}

// followChild plays a role of this file's tests in a child process.
func followChild(role, path string) error {
	s, err := store.Open(path, store.WithLockTimeout(10*time.Second), store.WithLogger(nil))
	if err != nil {
		return err
	}
	defer s.Close()
	in := bufio.NewReader(os.Stdin)
	ctx := context.Background()
	switch role {
	case "follow-keys":
		// Compute followKeys slow keys, overlapping with the other
		// children, once told to go; report the runs here.
		var runs atomic.Int64
		f, err := memo.New(s, "slow", func(ctx context.Context, n int) (int, error) {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
			return n * n, nil
		})
		if err != nil {
			return err
		}
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
		for _, n := range rand.Perm(followKeys) {
			if v, err := f.Call(ctx, n); err != nil || v != n*n {
				return fmt.Errorf("slow(%d) = %d, %v", n, v, err)
			}
		}
		if err := json.NewEncoder(os.Stdout).Encode(followReport{Runs: runs.Load(), Role: s.Role().String()}); err != nil {
			return err
		}
		_, _ = in.ReadString('\n') // hold on until told
		return nil

	case "follow-churn":
		// Until stdin closes: call new keys (even ones), counting the
		// calls that fail, and set new keys (odd ones), flushing every 20
		// sets: print "flushed FROM TO" for each range of odd keys that a
		// Flush reported durable, and at the end "done FAILED". (A call
		// running when its process loses the holder keeps nothing, as for
		// any purge: the sets are what this test follows.)
		f, err := memo.New(s, "churn", func(ctx context.Context, n int) (int, error) {
			return 3 * n, nil
		})
		if err != nil {
			return err
		}
		stop := make(chan struct{})
		go func() {
			io.Copy(io.Discard, in)
			close(stop)
		}()
		fmt.Println("ready")
		base := os.Getpid() * 1_000_000
		failed, from := 0, base+1
		for i := base; ; i += 2 {
			select {
			case <-stop:
				fmt.Println("done", failed)
				return nil
			default:
			}
			if v, err := f.Call(ctx, i); err != nil || v != 3*i {
				failed++
				fmt.Fprintf(os.Stderr, "churn(%d) = %d, %v\n", i, v, err)
			}
			f.Set(ctx, i+1, 3*(i+1)) // an error is for Flush to report
			if (i-base)%40 == 38 {
				fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := s.Flush(fctx); err == nil {
					fmt.Println("flushed", from, i+1)
				}
				cancel()
				from = i + 3
			}
			time.Sleep(time.Millisecond)
		}

	case "follow-storm":
		// Call one key that is due for a refresh every stormRefresh, for
		// stormFor once told to go; report the runs of fn here.
		var runs atomic.Int64
		f, err := memo.New(s, "storm", func(ctx context.Context, n int) (int, error) {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
			return n, nil
		}, memo.RefreshAfter(stormRefresh))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
		for end := time.Now().Add(stormFor); time.Now().Before(end); {
			if v, err := f.Call(ctx, 1); err != nil || v != 1 {
				return fmt.Errorf("storm(1) = %d, %v", v, err)
			}
			time.Sleep(time.Millisecond)
		}
		if err := json.NewEncoder(os.Stdout).Encode(followReport{Runs: runs.Load(), Role: s.Role().String()}); err != nil {
			return err
		}
		_, _ = in.ReadString('\n')
		return nil

	case "follow-hang":
		// Compute key 1 forever, saying so once it has the claim.
		f, err := memo.New(s, "hang", func(ctx context.Context, n int) (int, error) {
			fmt.Println("computing")
			select {}
		})
		if err != nil {
			return err
		}
		fmt.Println("ready")
		f.Call(ctx, 1)
		return nil

	case "follow-inv":
		// Answer "call K" with the value, "peek K" with "hit V" or "miss".
		f, err := memo.New(s, "inv", func(ctx context.Context, n int) (int, error) {
			return 10 * n, nil
		}, memo.MaxSize(100))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		for {
			line, err := in.ReadString('\n')
			if err != nil {
				return nil
			}
			cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
			k, _ := strconv.Atoi(arg)
			switch cmd {
			case "call":
				v, err := f.Call(ctx, k)
				fmt.Println(v, err)
			case "peek":
				if v, ok := f.Peek(ctx, k); ok {
					fmt.Println("hit", v)
				} else {
					fmt.Println("miss")
				}
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// runTogether starts n children in role on path, tells them all to go
// once all are ready, and returns their reports, in order. The children
// stay until the test ends.
func runTogether(t *testing.T, n int, role, path string) []followReport {
	t.Helper()
	var procs []liveChild
	for range n {
		procs = append(procs, startChild(t, role, path, "ready"))
	}
	for _, p := range procs {
		fmt.Fprintln(p.stdin, "go")
	}
	reports := make([]followReport, n)
	for i, p := range procs {
		line, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		if err := json.Unmarshal([]byte(line), &reports[i]); err != nil {
			t.Fatalf("child %d: %q: %v", i, line, err)
		}
	}
	return reports
}

// shortTemp returns a new directory with a short path (control sockets
// must fit in 108 bytes), removed when the test ends.
func shortTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "share")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestFollowersComputeEachKeyOnce: four processes call the same 30 slow
// keys at once, in different orders, on one file: the first holds it, the
// others follow, and each key is computed once in all.
func TestFollowersComputeEachKeyOnce(t *testing.T) {
	path := filepath.Join(shortTemp(t), "keys.db")
	var total int64
	roles := map[string]int{}
	for i, r := range runTogether(t, 4, "follow-keys", path) {
		t.Logf("process %d (%s): %d computations", i, r.Role, r.Runs)
		total += r.Runs
		roles[r.Role]++
	}
	if total != followKeys {
		t.Errorf("%d computations in all; want %d, each key once", total, followKeys)
	}
	if roles["holder"] != 1 || roles["follower"] != 3 {
		t.Errorf("roles %v; want 1 holder and 3 followers", roles)
	}
}

// TestFollowerOpensAtOnce: beside a live holder, Open returns a follower
// at once (not after the lock timeout), and every Func method works on
// it; WithExclusive still gives ErrLocked.
func TestFollowerOpensAtOnce(t *testing.T) {
	path := filepath.Join(shortTemp(t), "open.db")
	startHolder(t, path)
	start := time.Now()
	s, err := store.Open(path, store.WithLockTimeout(10*time.Second))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("a follower opened in %v", elapsed)
	if s.Role() != store.RoleFollower {
		t.Fatalf("Role = %v, want follower", s.Role())
	}
	if elapsed > 2*time.Second {
		t.Errorf("Open took %v: it waited for the lock (10s) instead of following", elapsed)
	}
	ctx := context.Background()
	var runs atomic.Int64
	f, err := memo.New(s, "m", func(ctx context.Context, n int) (string, error) {
		runs.Add(1)
		return fmt.Sprint("v", n, "-", runs.Load()), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := f.Call(ctx, 1)
	if err != nil || v1 != "v1-1" {
		t.Fatalf("Call = %q, %v", v1, err)
	}
	if v, err := f.Call(ctx, 1); err != nil || v != v1 || runs.Load() != 1 {
		t.Errorf("second Call = %q, %v after %d runs; want the stored %q", v, err, runs.Load(), v1)
	}
	if i := f.Info(); i.DiskHits != 1 {
		t.Errorf("Info = %+v; want 1 disk hit", i)
	}
	if err := f.Set(ctx, 2, "set"); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Peek(ctx, 2); !ok || v != "set" {
		t.Errorf("Peek after Set = %q, %v", v, ok)
	}
	if v, err := f.Refresh(ctx, 2); err != nil || v != "v2-2" {
		t.Errorf("Refresh = %q, %v", v, err)
	}
	if err := f.Forget(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Peek(ctx, 2); ok {
		t.Error("Peek after Forget found the key")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.StatsContext(ctx)
	if err != nil || len(st.Namespaces) != 1 || st.Namespaces[0].Entries != 1 || st.PID == os.Getpid() {
		t.Errorf("Stats through the holder = %+v, %v; want 1 entry, the holder's PID", st, err)
	}
	if err := f.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Peek(ctx, 1); ok {
		t.Error("Peek after Clear found the key")
	}
	if _, err := store.Open(path, store.WithExclusive(), store.WithLockTimeout(100*time.Millisecond)); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Open WithExclusive beside a holder: %v, want ErrLocked", err)
	}
}

// childOutput collects a child's stdout lines as they come.
type childOutput struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func collect(r io.Reader) *childOutput {
	o := &childOutput{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			o.mu.Lock()
			o.lines = append(o.lines, sc.Text())
			o.mu.Unlock()
		}
	}()
	return o
}

// TestHolderKilledInALoop: three processes call and store keys all
// along, flushing every 20 stores; the holder is killed with SIGKILL 20 times (and replaced by a
// new process each time). Each time a follower takes over within about a
// second; no Call fails; every key that a Flush reported durable is in
// the file at the end, and the file passes Check.
func TestHolderKilledInALoop(t *testing.T) {
	path := filepath.Join(shortTemp(t), "kill.db")
	type proc struct {
		c   liveChild
		out *childOutput
	}
	procs := map[int]*proc{}
	var all []*proc
	start := func() {
		c := startChild(t, "follow-churn", path, "ready")
		p := &proc{c, collect(c.out)}
		procs[c.cmd.Process.Pid] = p
		all = append(all, p)
	}
	for range 3 {
		start()
	}
	const cycles = 20
	var worst time.Duration
	for i := range cycles {
		time.Sleep(150 * time.Millisecond) // let them work
		pid, ok := boltstore.HolderPID(path)
		p := procs[pid]
		if !ok || p == nil {
			t.Fatalf("cycle %d: the holder is pid %d (%v), not one of the children", i, pid, ok)
		}
		p.c.cmd.Process.Signal(syscall.SIGKILL)
		p.c.cmd.Wait()
		delete(procs, pid)
		killed := time.Now()
		for {
			if np, ok := boltstore.HolderPID(path); ok && np != pid && procs[np] != nil && control.Live(context.Background(), path) {
				break
			}
			if time.Since(killed) > 10*time.Second {
				t.Fatalf("cycle %d: no new holder 10s after the kill", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		took := time.Since(killed)
		worst = max(worst, took)
		if took > 3*time.Second {
			t.Errorf("cycle %d: a new holder took %v", i, took)
		}
		start()
	}
	t.Logf("%d kills; the slowest takeover took %v", cycles, worst)
	for _, p := range procs {
		p.c.stdin.Close()
		if err := p.c.cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
	flushed := 0
	var keys [][2]int
	for _, p := range all {
		<-p.out.done
		for _, line := range p.out.lines {
			var a, b int
			switch {
			case strings.HasPrefix(line, "flushed"):
				fmt.Sscan(strings.TrimPrefix(line, "flushed"), &a, &b)
				keys = append(keys, [2]int{a, b})
				flushed += (b-a)/2 + 1
			case strings.HasPrefix(line, "done"):
				fmt.Sscan(strings.TrimPrefix(line, "done"), &a)
				if a != 0 {
					t.Errorf("a process saw %d failed calls", a)
				}
			}
		}
	}
	if flushed == 0 {
		t.Fatal("no flush succeeded")
	}
	s, err := store.Open(path, store.WithExclusive())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := memo.New(s, "churn", func(ctx context.Context, n int) (int, error) { return 0, errors.New("not stored") })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lost := 0
	for _, r := range keys {
		for k := r[0]; k <= r[1]; k += 2 {
			if v, ok := f.Peek(ctx, k); !ok || v != 3*k {
				lost++
			}
		}
	}
	t.Logf("%d keys reported flushed, %d entries in the file", flushed, s.Stats().Entries)
	if lost > 0 {
		t.Errorf("%d of %d keys reported flushed are not in the file", lost, flushed)
	}
	rep, err := s.Check(ctx, false, nil)
	if err != nil || !rep.OK() {
		t.Errorf("Check after %d kills: %+v, %v", cycles, rep, err)
	}
}

// TestHolderStopped: a holder stopped with SIGSTOP holds the lock and
// answers nothing: a follower's calls go on without the store (within
// about a second, counted as read errors), and use the store again once
// the holder goes on.
func TestHolderStopped(t *testing.T) {
	path := filepath.Join(shortTemp(t), "stop.db")
	cmd, _ := startHolder(t, path)
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var runs atomic.Int64
	f, err := memo.New(s, "stop", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		return n + 1, nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Call(ctx, 1); err != nil || v != 2 {
		t.Fatalf("Call = %d, %v", v, err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	for k := range 20 {
		start := time.Now()
		v, err := f.Call(ctx, k)
		if err != nil || v != k+1 {
			t.Errorf("Call(%d) with the holder stopped = %d, %v", k, v, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Call(%d) with the holder stopped took %v", k, d)
		}
	}
	cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	deadline := time.Now().Add(10 * time.Second)
	before := f.Info().DiskHits
	for {
		if v, err := f.Call(ctx, 1); err != nil || v != 2 {
			t.Fatalf("Call(1) after SIGCONT = %d, %v", v, err)
		}
		if f.Info().DiskHits > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower did not use the store again within 10s of SIGCONT")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := s.StatsContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ns := st.Namespaces; len(ns) != 1 || ns[0].ReadErrors == 0 {
		t.Errorf("Stats after the stop = %+v; want the calls without the store counted as read errors", ns)
	}
	if s.Role() != store.RoleFollower {
		t.Errorf("Role = %v, want follower", s.Role())
	}
}

// TestInvalidationAcrossProcesses: Forget, Func.Clear and memoctl's clear
// in one process empty the memory tiers of the others (a holder and a
// follower in child processes) before they return.
func TestInvalidationAcrossProcesses(t *testing.T) {
	path := filepath.Join(shortTemp(t), "inv.db")
	a := startChild(t, "follow-inv", path, "ready") // the holder
	b := startChild(t, "follow-inv", path, "ready")
	ask := func(c liveChild, cmd string) string {
		t.Helper()
		fmt.Fprintln(c.stdin, cmd)
		line, err := c.out.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return strings.TrimSpace(line)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := memo.New(s, "inv", func(ctx context.Context, n int) (int, error) { return 10 * n, nil }, memo.MaxSize(100))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, clear := range []func() error{
		func() error { return f.Forget(ctx, 0) },
		func() error { return f.Clear(ctx) },
		func() error {
			c, err := control.Dial(ctx, path)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Clear(ctx, "")
			return err
		},
	} {
		for _, c := range []liveChild{a, b} {
			if got := ask(c, "call 0"); got != "0 <nil>" {
				t.Fatalf("call: %q", got)
			}
			if got := ask(c, "peek 0"); got != "hit 0" {
				t.Fatalf("peek before: %q", got)
			}
		}
		if err := clear(); err != nil {
			t.Fatal(err)
		}
		for i, c := range []liveChild{a, b} {
			if got := ask(c, "peek 0"); got != "miss" {
				t.Errorf("invalidation %d: process %d still has the key: %q", k, i, got)
			}
		}
	}
}

// TestStrangersHolderNotFollowed: a holder that runs as another user is
// not followed (its socket's peer is checked): Open gives ErrLocked.
func TestStrangersHolderNotFollowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: running a holder as another user needs root")
	}
	const nobody = 65534
	dir := shortTemp(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "holder.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.db")
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=hold", "MEMOSTORE_TEST_PATH="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "holding\n" {
		t.Fatalf("holder as uid %d: %q, %v", nobody, line, err)
	}
	// Root may connect to the 0600 socket of uid 65534; it must not trust it.
	s, err := store.Open(path, store.WithLockTimeout(300*time.Millisecond), store.WithLogger(nil))
	if err == nil {
		s.Close()
		t.Fatalf("Open beside another user's holder gave a %v", s.Role())
	}
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "another user") {
		t.Errorf("Open beside another user's holder: %v; want ErrLocked, saying why", err)
	}
}

// TestKilledClaimantReleasesKey: a process killed while it computes a key
// (holding its claim) does not keep the others waiting for the claim's
// lease: its connection closes, the claim ends, and the next process
// computes the key at once.
func TestKilledClaimantReleasesKey(t *testing.T) {
	path := filepath.Join(shortTemp(t), "hang.db")
	startHolder(t, path)
	c := startChild(t, "follow-hang", path, "ready")
	if line, err := c.out.ReadString('\n'); err != nil || line != "computing\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := memo.New(s, "hang", func(ctx context.Context, n int) (int, error) { return 7, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waited := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		f.Call(ctx, 1)
		waited <- time.Since(start)
	}()
	select {
	case d := <-waited:
		t.Fatalf("Call returned after %v while another process computed the key", d)
	case <-time.After(300 * time.Millisecond):
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	c.cmd.Wait()
	select {
	case <-waited:
		t.Logf("the call went on %v after the claimant was killed", time.Since(killed))
	case <-time.After(boltstore.ClaimLease / 3):
		t.Fatalf("the call still waits %v after the claimant was killed", boltstore.ClaimLease/3)
	}
}

// TestForgetEndsClaims: a Forget of a key that another process is
// computing ends that process's claim, so that a Call after the Forget
// computes a fresh value instead of waiting for the old computation (two
// stores in one process here: a holder and its follower).
func TestForgetEndsClaims(t *testing.T) {
	path := filepath.Join(shortTemp(t), "claims.db")
	holder, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	follower, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if follower.Role() != store.RoleFollower {
		t.Fatalf("second store: %v", follower.Role())
	}
	started, release := make(chan struct{}), make(chan struct{})
	slow, err := memo.New(follower, "c", func(ctx context.Context, n int) (string, error) {
		close(started)
		<-release
		return "old", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := memo.New(holder, "c", func(ctx context.Context, n int) (string, error) { return "new", nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	go slow.Call(ctx, 1)
	<-started
	defer close(release)
	if err := fresh.Forget(ctx, 1); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		v, _ := fresh.Call(ctx, 1)
		got <- v
	}()
	select {
	case v := <-got:
		if v != "new" {
			t.Errorf("Call after Forget = %q, want a fresh value", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call after Forget waits for the computation that began before it")
	}
}

// TestRefreshOnceAcrossProcesses: when an entry is due for a refresh
// (RefreshAfter) in two processes, one refreshes it and the other leaves
// it to it, then takes its result: fn runs once (two stores in one
// process here: a holder and its follower, or two clients of Redis, on one
// server or on a cluster).
func TestRefreshOnceAcrossProcesses(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(shortTemp(t), "refresh.db")
		testRefreshOnce(t, func(opts ...store.Option) (*store.Store, error) { return store.Open(path, opts...) })
	})
	for name, url := range map[string]func(testing.TB) string{
		"redis": redistest.URL, "redis-cluster": redistest.ClusterURL,
	} {
		t.Run(name, func(t *testing.T) {
			url := url(t)
			prefix := redistest.Prefix(t, url)
			testRefreshOnce(t, func(opts ...store.Option) (*store.Store, error) {
				return store.Open(url, append(opts, redisstore.WithPrefix(prefix))...)
			})
		})
	}
}

// testRefreshOnce is TestRefreshOnceAcrossProcesses with two stores that
// open opens on one location (on a file, the second follows the first).
func testRefreshOnce(t *testing.T, open func(...store.Option) (*store.Store, error)) {
	clock := mtesting.NewFakeClock()
	holder, err := open(store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	follower, err := open(store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	var runs atomic.Int64
	gate := make(chan struct{})
	var once sync.Once
	openGate := func() { once.Do(func() { close(gate) }) }
	defer openGate() // before the stores close, which wait for refreshes
	fn := func(ctx context.Context, n int) (int, error) {
		r := runs.Add(1)
		if r > 1 {
			<-gate
		}
		return int(r), nil
	}
	fH, err := memo.New(holder, "r", fn, memo.RefreshAfter(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fF, err := memo.New(follower, "r", fn, memo.RefreshAfter(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(f *memo.Func[int, int]) int {
		t.Helper()
		v, err := f.Call(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if call(fH) != 1 || call(fF) != 1 || runs.Load() != 1 {
		t.Fatalf("first calls: %d runs, want 1", runs.Load())
	}
	clock.Advance(2 * time.Minute)
	if v := call(fH); v != 1 {
		t.Fatalf("due entry in the holder = %d, want 1 at once", v)
	}
	waitFor(t, "the holder's refresh to start", func() bool { return runs.Load() == 2 })
	if v := call(fF); v != 1 {
		t.Fatalf("due entry in the follower = %d, want 1 at once", v)
	}
	time.Sleep(100 * time.Millisecond)
	if n := runs.Load(); n != 2 {
		t.Fatalf("fn ran %d times while the holder refreshed; want 2 (the follower left it to the holder)", n)
	}
	openGate()
	waitFor(t, "the holder's refresh to end", func() bool { return fH.Info().Refreshes == 1 })
	// Past the follower's back-off, which grows if its next try still
	// finds the key claimed (the holder's Put and release may lag the
	// count of its refresh): a second at a time, well within RefreshAfter.
	waitFor(t, "the follower to take the refreshed value", func() bool {
		clock.Advance(time.Second)
		return call(fF) == 2
	})
	if n := runs.Load(); n != 2 {
		t.Errorf("fn ran %d times; want 2: the first computation and one refresh in all", n)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKilledHolderReleasesFile: a second process that asks for the file
// alone (WithExclusive, or read-only) gets ErrLocked, naming the holder,
// within the lock timeout; once the holder is killed with
// SIGKILL the next Open works at once, without manual cleanup, and
// replaces the stale lock record and control socket.
func TestKilledHolderReleasesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	cmd, _ := startHolder(t, path)
	pid := cmd.Process.Pid
	ctx := context.Background()

	for _, opts := range [][]store.Option{{store.WithExclusive()}, {store.WithReadOnly()}} {
		start := time.Now()
		_, err := store.Open(path, append(opts, store.WithLockTimeout(300*time.Millisecond), store.WithLogger(nil))...)
		elapsed := time.Since(start)
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("Open of a held file = %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
			t.Errorf("ErrLocked = %q does not name the holder, pid %d", err, pid)
		}
		if elapsed < 200*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("ErrLocked after %v with a 300ms lock timeout", elapsed)
		}
	}
	if got, ok := boltstore.HolderPID(path); !ok || got != pid {
		t.Errorf("HolderPID = %d, %v; want %d", got, ok, pid)
	}
	if !control.Live(ctx, path) {
		t.Fatal("the holder does not answer on its control socket")
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if fi, err := os.Lstat(control.Path(path)); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("after SIGKILL: control socket %v, %v; the test expects a stale one", fi, err)
	}
	if control.Live(ctx, path) {
		t.Fatal("a dead holder's socket answers")
	}

	start := time.Now()
	s, err := store.Open(path, store.WithLockTimeout(5*time.Second), store.WithLogger(nil))
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	defer s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open after the holder was killed took %v: the dead holder's lock was waited for", d)
	}
	if got, ok := boltstore.HolderPID(path); !ok || got != os.Getpid() {
		t.Errorf("HolderPID = %d, %v; want this process, %d", got, ok, os.Getpid())
	}
	c, err := control.Dial(ctx, path)
	if err != nil {
		t.Fatalf("the new holder's control socket: %v", err)
	}
	defer c.Close()
	if st, err := c.Info(ctx); err != nil || st.PID != os.Getpid() {
		t.Fatalf("control socket answered %+v, %v; want this process, %d", st, err, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(control.Path(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket after Close: %v", err)
	}
}

// TestLockedFileAcrossProcesses: WithExclusive beside a holder gives
// ErrLocked within the lock timeout; once the holder exits, Open works.
func TestLockedFileAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	cmd, stdin := startHolder(t, path)
	start := time.Now()
	_, err := store.Open(path, store.WithExclusive(), store.WithLockTimeout(200*time.Millisecond))
	elapsed := time.Since(start)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Open of a held file WithExclusive: %v, want ErrLocked", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("ErrLocked after %v; the lock timeout was 200ms", elapsed)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatalf("Open after the holder exited: %v", err)
	}
	s.Close()
}

// The refresh storm: stormFor of calls on a key due every stormRefresh.
const (
	stormRefresh = 200 * time.Millisecond
	stormFor     = 1500 * time.Millisecond
)

// TestRefreshStormAcrossProcesses: four processes call one key that is
// due for a refresh every 200 ms, for 1.5 s: each refresh runs in one of
// them, not in all four (about 8 runs of fn in all, where four processes
// refreshing on their own would run it about 30 times).
func TestRefreshStormAcrossProcesses(t *testing.T) {
	path := filepath.Join(shortTemp(t), "storm.db")
	var total int64
	for i, r := range runTogether(t, 4, "follow-storm", path) {
		t.Logf("process %d (%s): %d runs", i, r.Role, r.Runs)
		total += r.Runs
	}
	periods := int64(stormFor / stormRefresh)
	if limit := 1 + periods + 3; total > limit {
		t.Errorf("%d runs of fn in all over %d refresh periods; want at most %d: refreshes ran in several processes at once", total, periods, limit)
	}
}

// TestEvictionHearsFollowerMemoryHits is TestEvictionHearsMemoryHits in a
// follower: a child process holds the file, bounded, and this process's
// memory tier serves the hot keys; their hits reach the holder's eviction
// with the counts a follower sends. The file must still hold 40 of the 50
// hot keys at least (50 in 5 runs); when followers kept their memory hits
// to themselves, it held 3, and 6 when they told them only every second.
func TestEvictionHearsFollowerMemoryHits(t *testing.T) {
	path := filepath.Join(shortTemp(t), "hot.db")
	startChild(t, "hold", path, "holding", "MEMOSTORE_TEST_MAXBYTES="+strconv.Itoa(hotBound))
	s := openT(t, path)
	if s.Role() != store.RoleFollower {
		t.Fatalf("Role = %v, want follower", s.Role())
	}
	f, err := memo.New(s, "f", hotFn)
	if err != nil {
		t.Fatal(err)
	}
	callHotAndZipf(t, f, 30_000)
	if err := s.Flush(context.Background()); err != nil { // the counts of what was written
		t.Fatal(err)
	}
	if ev := nsStats(t, s, "f").Evictions; ev < 3_000 {
		t.Fatalf("%d evictions: the bound was not tested", ev)
	}
	wantHotHeld(t, s, 40, 30_000/50)
}
