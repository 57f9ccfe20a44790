package main

import (
	"context"
	"fmt"
	"io"

	"github.com/memostore/memostore/store"
)

const sweepUsage = `usage: memoctl sweep PATH

Deletes the entries that have expired now, with the same code as the store's
background sweeper, and prints how many. On a store held by a running
process, the sweep runs in that process. On Redis, which expires entries by
itself, there is nothing to sweep.`

// RunSweep runs memoctl sweep.
func RunSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := parsePath(newFlagSet("sweep"), args)
	if err != nil {
		return err
	}
	return sweep(ctx, path, stdout, stderr)
}

func sweep(ctx context.Context, path string, stdout, stderr io.Writer) error {
	// Redis expires entries by itself: opened read-only, it is sent no
	// write (a URL naming no store creates none).
	t, err := openTarget(ctx, path, !store.IsURL(path))
	if err != nil {
		return err
	}
	var n int
	if t.live != nil {
		n, err = t.live.Sweep(ctx)
	} else {
		_, finish := newProgress(stderr, "sweeping", -1)
		n, err = t.s.Sweep(ctx)
		finish()
	}
	if cerr := t.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if t.isRedis() {
		_, err = fmt.Fprintln(stdout, "nothing to sweep: Redis expires entries by itself")
		return err
	}
	_, err = fmt.Fprintf(stdout, "swept %d expired entries\n", n)
	return err
}
