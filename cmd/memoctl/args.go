package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// newFlagSet returns a flag set that reports errors instead of exiting or
// printing, for a command's Run to turn into a usage error.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parsePath parses args with fs, allowing flags before and after the one
// positional argument, the store path, which MEMOSTORE_PATH may stand in
// for. The standard flag package stops at the first non-flag; parsePath
// resumes after each one.
func parsePath(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", usagef("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		if p := os.Getenv("MEMOSTORE_PATH"); p != "" {
			return p, nil
		}
		return "", usagef("missing PATH (or set MEMOSTORE_PATH)")
	case 1:
		return pos[0], nil
	}
	return "", usagef("expected one PATH, got %d arguments: %q", len(pos), pos)
}

// requireFile fails unless path names an existing regular file: memoctl
// never creates a store.
func requireFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file", path)
		}
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}

// nameFlag is a --namespace flag of a command that deletes: a name given
// empty (a script's "$NS" with NS unset) or given twice is refused, where
// the flag package would take an empty one for no namespace at all (every
// namespace) and the last of two.
type nameFlag struct {
	name string
	set  bool
}

func (f *nameFlag) String() string { return f.name }

func (f *nameFlag) Set(s string) error {
	switch {
	case f.set:
		return fmt.Errorf("given twice (%q and %q): one namespace, or none for all of them", f.name, s)
	case s == "":
		return errors.New("empty: give a name, or leave --namespace out to take every namespace")
	}
	f.name, f.set = s, true
	return nil
}
