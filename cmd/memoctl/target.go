package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/boltstore"

	"github.com/memostore/memostore/store"
)

// A target is a store as memoctl reaches it: held by another process and
// reached through its control endpoint (live), or opened here (offline).
type target struct {
	path   string
	live   *control.Client // set when another process holds the store
	s      *store.Store    // set when memoctl opened the store itself
	holder int             // the live holder's PID, when known
}

func (t *target) close() error {
	if t.live != nil {
		t.live.Close()
		return nil
	}
	return t.s.Close()
}

// openTarget reaches the store at path: through its control endpoint if a
// process holds it and answers there, else by opening it here, read-only
// unless write. It never creates a file, and never waits longer than the
// control endpoint's greeting (2 s) and the lock timeout.
//
// A Redis URL is opened here too: the server is shared, so there is no
// holder to go through.
func openTarget(ctx context.Context, path string, write bool) (*target, error) {
	if store.IsURL(path) {
		opts := []store.Option{store.WithLogger(nil)}
		if !write {
			opts = append(opts, store.WithReadOnly())
		}
		s, err := store.Open(path, opts...)
		if err != nil {
			return nil, err
		}
		return &target{path: path, s: s}, nil
	}
	if err := requireFile(path); err != nil {
		return nil, err
	}
	// The holder's endpoint is beside the file a link leads to.
	if c, err := control.Dial(ctx, boltstore.Resolve(path)); err == nil {
		pid, _ := boltstore.HolderPID(boltstore.Resolve(path))
		return &target{path: path, live: c, holder: pid}, nil
	}
	opts := []store.Option{store.WithLogger(nil), store.WithoutControl()}
	if !write {
		opts = append(opts, store.WithReadOnly())
	}
	s, err := store.Open(path, opts...)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w, and its control endpoint %s does not answer", err, control.Path(boltstore.Resolve(path)))
	}
	if err != nil {
		return nil, err
	}
	return &target{path: path, s: s}, nil
}

// offline opens the store at path for a command that must not run beside
// its holder (check --fix, compact): a live store is refused politely.
func offline(ctx context.Context, path, what string, write bool) (*store.Store, error) {
	if err := fileOnly(path, what); err != nil {
		return nil, err
	}
	if err := requireFile(path); err != nil {
		return nil, err
	}
	if control.Live(ctx, boltstore.Resolve(path)) {
		return nil, liveRefusal(path, what)
	}
	opts := []store.Option{store.WithLogger(nil), store.WithoutControl()}
	if !write {
		opts = append(opts, store.WithReadOnly())
	}
	s, err := store.Open(path, opts...)
	if errors.Is(err, store.ErrLocked) {
		return nil, liveRefusal(path, what)
	}
	return s, err
}

func liveRefusal(path, what string) error {
	who := "a running process"
	if pid, ok := boltstore.HolderPID(boltstore.Resolve(path)); ok {
		who = fmt.Sprintf("process %d", pid)
	}
	return fmt.Errorf("%s is open in %s; %s needs the store to itself: stop that process first", path, who, what)
}

// fileOnly refuses a Redis URL for a command that works on files only.
func fileOnly(path, what string) error {
	if store.IsURL(path) {
		return fmt.Errorf("%s works on store files only, not on a Redis server (%s): %w", what, hidePassword(path), store.ErrUnsupported)
	}
	return nil
}

// isRedis reports whether t is a Redis store.
func (t *target) isRedis() bool { return t.s != nil && t.s.Backend() == "redis" }

// hidePassword returns path, a Redis URL's password hidden (as
// store.Stats.Path gives it), for messages; a file path as is.
func hidePassword(path string) string {
	if !store.IsURL(path) {
		return path
	}
	u, err := url.Parse(path)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
