package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// A report is what one worker says when it has called every key.
type report struct {
	id       int
	pid      int
	computed int    // times it ran the function
	role     string // its role, and the one it ended with if it took the file over
}

// startWorkers runs n workers and returns their reports, once every one
// has exited.
//
// Each worker reports on its standard output when it has called every
// key, and then waits for its standard input to close before it closes
// the store; the input of every worker is closed once all have reported.
// Without this, the holder could finish first and close the file while a
// follower is computing a key that another follower waits for: the
// waiter would then ask the new holder, which knows nothing of the claim,
// and compute the key a second time. A pool of workers that come and go
// shares its results all the same, but a key can then be computed twice.
func startWorkers(ctx context.Context, path string, n, keys int, cost time.Duration) ([]report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bufio.Reader, n)
	ins := make([]io.WriteCloser, n)
	defer func() {
		for i, c := range cmds {
			if c != nil && c.Process != nil {
				ins[i].Close()
				c.Wait()
			}
		}
	}()
	for i := range n {
		c := exec.CommandContext(ctx, exe, "-db", path, "-keys", strconv.Itoa(keys), "-cost", cost.String())
		c.Env = append(os.Environ(), fmt.Sprintf("%s=%d", workerEnv, i+1))
		c.Stderr = os.Stderr
		if ins[i], err = c.StdinPipe(); err != nil {
			return nil, err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, err
		}
		outs[i] = bufio.NewReader(out)
		if err := c.Start(); err != nil {
			return nil, err
		}
		cmds[i] = c
	}
	reports := make([]report, n)
	for i := range n {
		r, err := readReport(outs[i])
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", i+1, err)
		}
		r.id, r.pid = i+1, cmds[i].Process.Pid
		reports[i] = r
	}
	// The followers close first, the holder last: a holder that closes
	// while others follow hands the file over to one of them, which is
	// harmless but takes a moment and says so in the log.
	for _, last := range []bool{false, true} {
		for i, c := range cmds {
			if c == nil || strings.HasSuffix(reports[i].role, "holder") != last {
				continue
			}
			ins[i].Close()
			if err := c.Wait(); err != nil {
				return nil, fmt.Errorf("worker %d: %w", i+1, err)
			}
			cmds[i] = nil
		}
	}
	return reports, nil
}

// readReport reads the line "COMPUTED ROLE" of a worker.
func readReport(out *bufio.Reader) (report, error) {
	line, err := out.ReadString('\n')
	if err != nil {
		return report{}, fmt.Errorf("no report: %w", err)
	}
	count, role, _ := strings.Cut(strings.TrimSpace(line), " ")
	computed, err := strconv.Atoi(count)
	if err != nil {
		return report{}, fmt.Errorf("report %q: %w", line, err)
	}
	return report{computed: computed, role: role}, nil
}

// work is a worker: it opens the store, calls the slow function on every
// key in an order of its own, reports how many it computed and its role,
// and closes the store when its standard input closes.
func work(id, path string, keys int, cost time.Duration) error {
	s, err := store.Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	role := s.Role().String()

	var computed atomic.Int64
	f, err := memo.New(s, name, func(ctx context.Context, k int) (int, error) {
		computed.Add(1)
		return square(cost)(ctx, k)
	})
	if err != nil {
		return err
	}

	seed, _ := strconv.ParseUint(id, 10, 64)
	ctx := context.Background()
	for _, k := range rand.New(rand.NewPCG(seed, 0)).Perm(keys) {
		v, err := f.Call(ctx, k)
		if err != nil {
			return err
		}
		if v != k*k {
			return fmt.Errorf("key %d: got %d, want %d", k, v, k*k)
		}
	}
	if now := s.Role().String(); now != role {
		role += ", then " + now
	}
	fmt.Printf("%d %s\n", computed.Load(), role)

	io.Copy(io.Discard, os.Stdin) // until every worker has reported
	return s.Close()
}

// square returns the slow function: k*k, after cost.
func square(cost time.Duration) func(context.Context, int) (int, error) {
	return func(ctx context.Context, k int) (int, error) {
		select {
		case <-time.After(cost):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return k * k, nil
	}
}
