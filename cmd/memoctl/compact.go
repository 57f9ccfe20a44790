package main

import (
	"context"
	"fmt"
	"io"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/boltstore"

	"github.com/memostore/memostore/store"
)

const compactUsage = `usage: memoctl compact PATH

Rewrites the store file without its free pages into a temporary file beside
it, syncs it, and atomically renames it into place; prints the sizes before
and after. No process can open the store meanwhile: compact holds the lock
file (PATH.lock) that every opener takes first. compact refuses a store that
a running process holds.`

// RunCompact runs memoctl compact.
func RunCompact(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := parsePath(newFlagSet("compact"), args)
	if err != nil {
		return err
	}
	if err := fileOnly(path, "compact"); err != nil {
		return err
	}
	if err := requireFile(path); err != nil {
		return err
	}
	if control.Live(ctx, boltstore.Resolve(path)) {
		return liveRefusal(path, "compact")
	}
	_, finish := newProgress(stderr, "compacting", -1)
	before, after, err := store.Compact(ctx, path)
	finish()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "compacted %s: %s -> %s\n", path, humanBytes(before), humanBytes(after))
	return err
}
