package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// The benchmarks of a follower (BenchmarkFollowerHit,
// BenchmarkFollowerMissStore) need a store file held by another process:
// they start this test binary again with holderEnv set to the file's path
// and holderKeysEnv to a number of keys. That process (holderMain) opens
// the file, which makes it the holder, stores the keys 0 to n-1 in the
// namespace holderName as memo.New[int, Result] over bigFn would, serves
// an echo socket beside the file (echoSuffix), prints "ready" and holds
// the file until its standard input closes.
const (
	holderEnv     = "BENCH_HOLDER"
	holderKeysEnv = "BENCH_HOLDER_KEYS"
	holderName    = "held"
)

// holderProfileEnv, if set in the environment of the benchmark, names a
// file where the holder writes its CPU profile: the follower's is
// -cpuprofile's, and the holder does the other half of the work.
const holderProfileEnv = "BENCH_HOLDER_CPUPROFILE"

// holderMain is the holder process; it returns its exit code.
func holderMain() int {
	if prof := os.Getenv(holderProfileEnv); prof != "" {
		f, err := os.Create(prof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "holder:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := hold(os.Getenv(holderEnv), os.Getenv(holderKeysEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	return 0
}

func hold(path, keys string) error {
	n, err := strconv.Atoi(keys)
	if err != nil {
		return fmt.Errorf("%s=%q: %v", holderKeysEnv, keys, err)
	}
	s, err := store.Open(path, warnings)
	if err != nil {
		return err
	}
	defer s.Close()
	if r := s.Role(); r != store.RoleHolder {
		return fmt.Errorf("%s: role %v, want holder", path, r)
	}
	f, err := memo.New(s, holderName, bigFn, memo.MaxSize(0))
	if err != nil {
		return err
	}
	ctx := context.Background()
	for k := range n {
		if _, err := f.Call(ctx, k); err != nil {
			return err
		}
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	l, err := net.Listen("unix", path+echoSuffix)
	if err != nil {
		return err
	}
	defer l.Close()
	go echo(l)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

// echoSuffix names the holder's echo socket: the file's path with it.
// The holder sends back whatever comes on it, for the floor of a
// follower's call, one round trip between two processes.
const echoSuffix = ".echo"

// echo serves every connection to l until l closes.
func echo(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// startHolder starts a holder process on the store file at path with n
// keys stored, and returns once they are. It stops the holder when tb
// ends.
func startHolder(tb testing.TB, path string, n int) {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holderEnv+"="+path, fmt.Sprintf("%s=%d", holderKeysEnv, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("holder: %v", err)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			tb.Errorf("holder of %s did not exit within a minute of its input's end", path)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		tb.Fatalf("holder of %s: %q, %v", path, line, err)
	}
}

// openFollower opens the store file at path, which another process holds,
// as a follower, and closes it when tb ends.
func openFollower(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.Open(path, warnings)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	if r := s.Role(); r != store.RoleFollower {
		tb.Fatalf("%s: role %v, want follower", path, r)
	}
	return s
}
