package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/memostore/memostore/internal/control"

	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/redisstore"
)

const clearUsage = `usage: memoctl clear [--namespace NAME] [--expired] [--stale [--grace D]] PATH

Deletes the entries of one namespace, or of every namespace, and resets their
counters; namespaces keep their versions and types. With --expired, deletes
only the entries that have expired (as memoctl sweep). On a store held by a
running process, the clear goes through that process, which clears its
memory tiers too: its next call recomputes. On Redis (PATH is a redis://
URL), the clear raises the namespace's generation, so that no process reads
its entries again, and every process sharing the server empties its memory
tier; then memoctl deletes the old keys, a page at a time (SCAN and UNLINK).

With --stale (Redis only), deletes now what the processes sharing the server
would delete in the background: the entries of versions that no process has
used for the grace period, and those of generations older than a clear.

  --namespace NAME  clear only this namespace
  --expired         delete only expired entries
  --stale           delete the entries of stale versions and old generations
  --grace D         with --stale: a version unused for D is stale (default 24h)`

// RunClear runs memoctl clear.
func RunClear(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clear")
	var ns nameFlag
	fs.Var(&ns, "namespace", "clear only this namespace")
	only := &ns.name
	expired := fs.Bool("expired", false, "delete only expired entries")
	stale := fs.Bool("stale", false, "delete the entries of stale versions and old generations")
	grace := fs.Duration("grace", redisstore.DefaultVersionGrace, "with --stale: a version unused for this long is stale")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	graceSet := false
	fs.Visit(func(f *flag.Flag) { graceSet = graceSet || f.Name == "grace" })
	switch {
	case graceSet && !*stale:
		// Else a forgotten --stale clears everything.
		return usagef("--grace goes with --stale")
	case graceSet && *grace <= 0:
		return usagef("--grace must be positive, not %v", *grace)
	}
	if *stale {
		return clearStale(ctx, path, *only, *expired, *grace, stdout)
	}
	if *expired {
		if *only != "" {
			return usagef("--expired sweeps every namespace; it takes no --namespace")
		}
		return sweep(ctx, path, stdout, stderr)
	}
	if store.IsURL(path) {
		// Looked at read-only first: a URL under which no store is (a
		// mistyped prefix or database) is sent no write.
		found, err := redisHas(ctx, path, *only)
		if err != nil || !found {
			return err
		}
	}
	t, err := openTarget(ctx, path, true)
	if err != nil {
		return err
	}
	var cleared []store.NamespaceStats
	if t.live != nil {
		var res control.ClearResult
		res, err = t.live.Clear(ctx, *only)
		cleared = res.Cleared
	} else {
		cleared, err = clearOffline(ctx, t.s, *only, stderr)
	}
	if cerr := t.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, ns := range cleared {
		if t.isRedis() {
			// Redis does not count entries; every process sharing it
			// was told to empty its memory tier.
			fmt.Fprintf(stdout, "cleared %s (and the memory tiers of the processes sharing it)\n", ns.Name)
			continue
		}
		fmt.Fprintf(stdout, "cleared %s: %d entries (%s)\n", ns.Name, ns.Entries, humanBytes(ns.Bytes))
	}
	return nil
}

// redisHas reports whether the Redis server at path holds the namespace
// only (any namespace if only is ""); a namespace it does not hold is an
// error, as on a file.
func redisHas(ctx context.Context, path, only string) (bool, error) {
	t, err := openTarget(ctx, path, false)
	if err != nil {
		return false, err
	}
	st, err := t.s.StatsContext(ctx)
	t.close()
	if err != nil {
		return false, err
	}
	for _, ns := range st.Namespaces {
		if only == "" || ns.Name == only {
			return true, nil
		}
	}
	if only != "" {
		return false, fmt.Errorf("store: clear: no namespace %q", only)
	}
	return false, nil
}

// clearStale runs memoctl clear --stale on the Redis server at path.
func clearStale(ctx context.Context, path, only string, expired bool, grace time.Duration, stdout io.Writer) error {
	if only != "" || expired {
		return usagef("--stale clears every namespace's stale keys; it takes no --namespace or --expired")
	}
	if !store.IsURL(path) {
		return usagef("--stale applies to Redis (a redis:// URL): a file keeps one version of each namespace")
	}
	n, err := redisstore.ClearStale(ctx, path, grace)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d keys of stale versions and old generations\n", n)
	return nil
}

func clearOffline(ctx context.Context, s *store.Store, only string, stderr io.Writer) ([]store.NamespaceStats, error) {
	var cleared []store.NamespaceStats
	st, err := s.StatsContext(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range st.Namespaces {
		if only == "" || ns.Name == only {
			cleared = append(cleared, ns)
		}
	}
	_, finish := newProgress(stderr, "clearing", -1)
	defer finish()
	if err := s.Clear(ctx, only); err != nil {
		return nil, err
	}
	if s.Backend() == "redis" {
		// The old keys go in the background (see redisstore): wait.
		if err := s.Flush(ctx); err != nil {
			return nil, err
		}
	}
	return cleared, nil
}
