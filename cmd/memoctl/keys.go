package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/memostore/memostore/store"
)

const keysUsage = `usage: memoctl keys --namespace NAME [--limit N] PATH

Prints the stored keys of a namespace, decoded from msgpack, one JSON object
per line: {"key": ..., "stored_at": ..., "expires_at": ..., "bytes": ...},
times in Unix nanoseconds (expires_at 0 = never).

  --namespace NAME  the namespace (required)
  --limit N         print at most N keys (0 = all)`

// RunKeys runs memoctl keys.
func RunKeys(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("keys")
	ns := fs.String("namespace", "", "the namespace")
	limit := fs.Int("limit", 0, "print at most N keys")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	if *ns == "" {
		return usagef("--namespace is required")
	}
	if *limit < 0 {
		return usagef("--limit must be 0 or more")
	}
	if err := fileOnly(path, "keys"); err != nil {
		return err
	}
	t, err := openTarget(ctx, path, false)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	print := func(k store.KeyInfo) error { return enc.Encode(k) }
	if t.live != nil {
		err = t.live.Keys(ctx, *ns, *limit, print)
	} else {
		err = t.s.Keys(ctx, *ns, *limit, print)
	}
	if cerr := t.close(); err == nil {
		err = cerr
	}
	return err
}
