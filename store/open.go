package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/boltstore"
	"github.com/memostore/memostore/store/driver"
)

// An Opener opens a backend's store at location, a URL of a scheme the
// backend registered, with the options Open gathered.
type Opener func(location string, o driver.Options) (driver.Store, error)

type registered struct {
	backend string
	open    Opener
}

var (
	schemesMu sync.RWMutex
	schemes   = map[string]registered{}
)

// Register makes Open give the URLs of scheme (such as "redis", for
// redis://...) to open, as the backend named backend (the name of
// Store.Backend and of the backend's options). Backend packages call it
// from an init function, as package redisstore does. Like sql.Register,
// it panics if the scheme is registered twice or open is nil: both are
// mistakes in a program, not in its input.
func Register(scheme, backend string, open Opener) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if open == nil {
		panic("store: Register of a nil opener for " + scheme)
	}
	if _, dup := schemes[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	schemes[scheme] = registered{backend: backend, open: open}
}

// wellKnown are the schemes of the backends memostore offers, with the
// package that registers them, for the error of an Open that lacks it.
var wellKnown = map[string]string{
	"redis":  "github.com/memostore/memostore/store/redisstore",
	"rediss": "github.com/memostore/memostore/store/redisstore",
	"unix":   "github.com/memostore/memostore/store/redisstore",
}

// scheme returns the scheme of location if it is a URL (SCHEME://...).
func scheme(location string) (string, bool) {
	s, _, ok := strings.Cut(location, "://")
	if !ok || s == "" || strings.ContainsAny(s, `/\.`) {
		return "", false
	}
	return s, true
}

// IsURL reports whether location names a server (a redis://, rediss://
// or unix:// URL, or one of a scheme a backend registered) rather than a
// file.
func IsURL(location string) bool {
	s, ok := scheme(location)
	if !ok {
		return false
	}
	schemesMu.RLock()
	_, reg := schemes[s]
	schemesMu.RUnlock()
	return reg || wellKnown[s] != ""
}

// Open opens the store at location. A path opens a bbolt file, creating
// it (mode 0600) if it does not exist: a file that is not a store gives
// ErrCorrupt and is left untouched. WithRecover changes what happens to a
// corrupt file: it is moved aside and a fresh store is opened in its
// place.
//
// Many processes of one user on a machine open one file at once: the
// first holds it (RoleHolder) and serves the others, which follow it
// (RoleFollower) over its control socket, at once; when the holder goes,
// a follower takes the file over (see "Many processes" in the package
// doc). With WithExclusive (or WithoutControl, or on Windows) a process
// holds the file alone, and a file held by another process gives
// ErrLocked after the lock timeout. So does a holder that does not answer
// on its socket within the lock timeout.
//
// A URL opens the store of the backend registered for its scheme (see
// Register): a program that imports package store/redisstore, even
// blank, opens redis://, rediss:// and unix:// URLs (see that package
// for their form). Without that import such a URL is an error that names
// it.
//
// An option that does not apply to the backend of location (WithMaxBytes
// on Redis, redisstore.WithPrefix on a file) is an error.
func Open(location string, opts ...Option) (*Store, error) {
	s, isURL := scheme(location)
	if !isURL {
		return openFile(location, opts)
	}
	schemesMu.RLock()
	r, ok := schemes[s]
	schemesMu.RUnlock()
	if !ok {
		loc := redact(location)
		if pkg := wellKnown[s]; pkg != "" {
			return nil, fmt.Errorf("store: open %s: no backend for %s:// URLs in this program: import _ %q", loc, s, pkg)
		}
		return nil, fmt.Errorf("store: open %s: no backend registered for %s:// URLs", loc, s)
	}
	return OpenBackend(r.backend, func(o driver.Options) (driver.Store, error) { return r.open(location, o) }, opts...)
}

// OpenBackend opens a store of the backend named backend with open,
// given the options opts gather; it refuses the options that do not
// apply to backend. It is for backend packages whose own Open takes
// something other than a URL, as redisstore.Open takes a client.
func OpenBackend(backend string, open func(driver.Options) (driver.Store, error), opts ...Option) (*Store, error) {
	o := gather(opts)
	if err := o.check(backend); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	b, err := open(o.Options.Options)
	if err != nil {
		return nil, err
	}
	role := RoleShared
	if o.ReadOnly {
		role = RoleReadOnly
	}
	return &Store{loc: b.Path(), backend: backend, role: role, opts: o, b: b}, nil
}

func openFile(path string, opts []Option) (*Store, error) {
	o := gather(opts)
	if err := o.check("bbolt"); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if o.ReadOnly || o.Exclusive || !o.Control || !control.PeerCredentials {
		f, err := boltstore.Open(path, o.Options)
		if err != nil {
			return nil, err
		}
		role := RoleHolder
		if o.ReadOnly {
			role = RoleReadOnly
		}
		return &Store{loc: path, backend: "bbolt", role: role, opts: o, b: f}, nil
	}
	f, err := boltstore.OpenShared(path, o.Options)
	if err != nil {
		return nil, err
	}
	return &Store{loc: path, backend: "bbolt", opts: o, b: f}, nil
}

// Compact rewrites the store file at path without its free pages: it
// copies the store into a temporary file beside it with bbolt's Compact,
// syncs it, and renames it over path, with path's permissions. It returns
// the file's sizes before and after. A path that is a symbolic link stays
// one: the file it leads to is compacted.
//
// Compact takes the store's lock file exclusively for the whole rewrite,
// so no process has the store open meanwhile and none opens the old file
// after the rename. A store held by a running process gives ErrLocked
// after the lock timeout (WithLockTimeout; the other file options do not
// matter here).
func Compact(ctx context.Context, path string, opts ...Option) (before, after int64, err error) {
	if IsURL(path) {
		return 0, 0, fmt.Errorf("store: compact %s: %w on a server", redact(path), ErrUnsupported)
	}
	o := gather(opts)
	if err := o.check("bbolt"); err != nil {
		return 0, 0, fmt.Errorf("store: compact %s: %w", path, err)
	}
	return boltstore.Compact(ctx, path, o.LockTimeout)
}

// redact returns the URL without its password, for messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// A Role is the part a process plays in a store (see Store.Role).
type Role int

// The roles.
const (
	// RoleHolder: this process opened the file for writing and holds it;
	// other processes reach it through its control endpoint.
	RoleHolder Role = iota + 1
	// RoleFollower: another process holds the file, and this one uses it
	// through the holder (or, for the moment of a takeover, through no
	// one: its calls then go on without the store).
	RoleFollower
	// RoleReadOnly: the store was opened WithReadOnly.
	RoleReadOnly
	// RoleShared: many processes use the store at once, as peers (Redis).
	RoleShared
)

func (r Role) String() string {
	switch r {
	case RoleHolder:
		return "holder"
	case RoleFollower:
		return "follower"
	case RoleReadOnly:
		return "read-only"
	case RoleShared:
		return "shared"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}
