package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/boltstore"

	"github.com/memostore/memostore/store"
)

const checkUsage = `usage: memoctl check [--fix] PATH

Verifies the whole store: bbolt's consistency check, then every record
(header, checksum, payload), the expiry and age indexes against the records,
and the counters against the data. Exits 0 only when all is well, naming each
problem found. Unlike info, check reads every entry.

  --fix  repair what can be repaired: drop bad records, records missing
         from an index (their key may be damaged) and index keys that point
         nowhere, and rewrite the counters

On a store that a running process holds, check runs in that process,
through its control endpoint; check --fix refuses such a store.`

// errProblems is returned when check finds problems it was not asked to fix.
var errProblems = errors.New("problems found")

// RunCheck runs memoctl check.
func RunCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check")
	fix := fs.Bool("fix", false, "repair what can be repaired")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	rep, err := check(ctx, path, *fix, stderr)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	for _, f := range rep.Fixed {
		fmt.Fprintln(stdout, "fixed:", f)
	}
	switch {
	case rep.OK():
		fmt.Fprintf(stdout, "ok: %d records checked, no problems\n", rep.Records)
		return nil
	case *fix:
		fmt.Fprintf(stdout, "%d records checked, %d problems, %d repairs\n", rep.Records, len(rep.Problems), len(rep.Fixed))
		// Some problems --fix cannot repair (a bucket of no namespace,
		// damage to bbolt's pages): check again, and exit 0 only if
		// all is well now.
		after, err := check(ctx, path, false, stderr)
		if err != nil {
			return err
		}
		if !after.OK() {
			for _, p := range after.Problems {
				fmt.Fprintln(stdout, "not repaired:", p)
			}
			return fmt.Errorf("%s: %d %w that --fix cannot repair", path, len(after.Problems), errProblems)
		}
		return nil
	}
	fmt.Fprintf(stdout, "%d records checked, %d problems; memoctl check --fix repairs what it can\n", rep.Records, len(rep.Problems))
	return fmt.Errorf("%s: %d %w", path, len(rep.Problems), errProblems)
}

// check runs the check: through the holder's control endpoint when a
// running process holds the store (not with fix), else here.
func check(ctx context.Context, path string, fix bool, stderr io.Writer) (*store.CheckReport, error) {
	if err := fileOnly(path, "check"); err != nil {
		return nil, err
	}
	if !fix {
		if err := requireFile(path); err != nil {
			return nil, err
		}
		if c, err := control.Dial(ctx, boltstore.Resolve(path)); err == nil {
			defer c.Close()
			return c.Check(ctx)
		}
	}
	what := "check"
	if fix {
		what = "check --fix"
	}
	s, err := offline(ctx, path, what, fix)
	if err != nil {
		return nil, err
	}
	update, finish := newProgress(stderr, "checking", 0)
	rep, err := s.Check(ctx, fix, update)
	finish()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return rep, err
}
