package main

import (
	"context"
	"fmt"
	"io"

	"github.com/memostore/memostore/store"
)

const clearUsage = `usage: memoctl clear [--namespace NAME] PATH

Deletes the entries of one namespace, or of every namespace, and resets their
counters. Namespaces keep their versions and types.

  --namespace NAME  clear only this namespace`

// RunClear runs memoctl clear.
func RunClear(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("clear")
	only := fs.String("namespace", "", "clear only this namespace")
	path, err := parsePath(fs, args)
	if err != nil {
		return err
	}
	if err := requireFile(path); err != nil {
		return err
	}
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		return err
	}
	before := s.Stats()
	if err := s.Clear(ctx, *only); err != nil {
		s.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	for _, ns := range before.Namespaces {
		if *only == "" || ns.Name == *only {
			fmt.Fprintf(stdout, "cleared %s: %d entries (%s)\n", ns.Name, ns.Entries, humanBytes(ns.Bytes))
		}
	}
	return nil
}
