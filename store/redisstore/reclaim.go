package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/store/driver"
)

// Reclamation. The keys that no process reads any more are deleted in the
// background, a page of SCAN at a time, so that neither a claim nor a
// Clear waits for a SCAN of the whole database: the entries of
// generations older than the current ones (left by a Clear), and the
// entries and locks of versions that no process has used for the grace
// period (WithVersionGrace). A version's last use is in the namespace's
// versions hash (PREFIX:NAME:versions, fingerprint → Unix milliseconds),
// set by claims and by every push of counters. A version whose keys are
// found but which the hash does not name (the server lost the hash) is
// entered as used now: it goes after the grace period.
//
// A Clear starts one; so does a claim that finds a stale version, and
// every store, once per reclaimInterval, for the namespaces it claimed
// (one store at a time per namespace: see runReclaims). Flush waits for
// the ones this process started; Close cuts them short, and the next one
// does the rest.

// reclaimInterval is how often a namespace's keys are looked over for
// stale versions and old generations, when nothing else starts it.
const reclaimInterval = time.Hour

// startReclaim runs reclaim on the keys that match pattern on a
// goroutine of the store's, which Flush waits for.
func (s *redisStore) startReclaim(pattern string) {
	done := make(chan struct{})
	s.mu.Lock()
	// Those ended are dropped here too, not only by Flush, which a
	// program may never call: one is started by every Clear.
	live := s.reclaims[:0]
	for _, d := range s.reclaims {
		select {
		case <-d:
		default:
			live = append(live, d)
		}
	}
	clear(s.reclaims[len(live):])
	s.reclaims = append(live, done)
	s.mu.Unlock()
	if !s.spawn(func() {
		defer close(done)
		if _, err := s.reclaim(s.bg, pattern, s.opts.grace); err != nil && s.bg.Err() == nil {
			s.log.Warn("memostore: keys no one reads were not all deleted; the next reclamation goes on",
				"path", s.loc, "err", s.outcome(s.bg, err))
		}
	}) {
		close(done) // closing: the next reclamation does it
	}
}

// waitReclaims waits until the reclamations this process started have
// ended, or ctx ends.
func (s *redisStore) waitReclaims(ctx context.Context) error {
	s.mu.Lock()
	pending := s.reclaims
	s.reclaims = nil
	s.mu.Unlock()
	for i, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			s.mu.Lock()
			s.reclaims = append(s.reclaims, pending[i:]...)
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// reclaimDue starts a reclamation of every namespace claimed here whose
// lease (PREFIX:NAME:reclaim) it takes: one store per namespace per
// reclaimInterval.
func (s *redisStore) reclaimDue(ctx context.Context) {
	s.mu.Lock()
	bases := make([]string, 0, len(s.claims))
	for _, sp := range s.claims {
		bases = append(bases, sp.base)
	}
	s.mu.Unlock()
	for _, base := range bases {
		ok, err := s.rdb.SetNX(ctx, base+"reclaim", s.id, reclaimInterval).Result()
		if err != nil {
			s.outcome(ctx, err)
			return
		}
		if ok {
			s.startReclaim(globEscape(base) + "*")
		}
	}
}

// A nsState is what reclaim reads of a namespace once, the first time it
// meets one of its keys.
type nsState struct {
	store, ns int64            // the current generations
	versions  map[string]int64 // fingerprint → last use, Unix milliseconds
}

// reclaim deletes the keys matching pattern (a whole prefix, or one
// namespace's base) that belong to older generations, or to versions
// unused for grace, and returns how many it deleted. Each namespace's
// state is read when its first key is met, so that a Clear that raises
// a generation afterwards keeps its new entries.
func (s *redisStore) reclaim(ctx context.Context, pattern string, grace time.Duration) (int, error) {
	now := s.opts.Clock.Now()
	states := map[string]*nsState{} // by base
	deleted := 0
	err := s.scan(ctx, pattern, func(keys []string) error {
		var doomed []string
		for _, k := range keys {
			base, ver, gen, ok := s.parseKey(k)
			if !ok {
				continue
			}
			st := states[base]
			if st == nil {
				var err error
				if st, err = s.readState(ctx, base); err != nil {
					return err
				}
				states[base] = st
			}
			used, known := st.versions[ver]
			if !known {
				// Lost from the hash: its grace starts now.
				st.versions[ver] = now.UnixMilli()
				if err := s.rdb.HSetNX(ctx, base+"versions", ver, now.UnixMilli()).Err(); err != nil {
					return err
				}
				continue
			}
			if now.Sub(time.UnixMilli(used)) >= grace || gen != "" && st.older(gen) {
				doomed = append(doomed, k)
			}
		}
		if len(doomed) == 0 {
			return nil
		}
		deleted += len(doomed)
		return s.unlink(ctx, doomed...)
	})
	if err != nil {
		return deleted, err
	}
	// The stale versions leave the hash, unless a process used one again
	// meanwhile.
	for base, st := range states {
		for _, ver := range staleVersions(stringVersions(st.versions), "", now, grace) {
			err := s.rdb.Eval(ctx, hdelIfEqualSrc, []string{base + "versions"}, ver, st.versions[ver]).Err()
			if err != nil {
				return deleted, err
			}
		}
	}
	return deleted, nil
}

// hdelIfEqualSrc deletes the field ARGV[1] of the hash KEYS[1] if it
// holds ARGV[2].
const hdelIfEqualSrc = `if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then return redis.call("HDEL", KEYS[1], ARGV[1]) end return 0`

// readState reads the generations and the versions hash of the namespace
// whose keys start with base, in one round trip.
func (s *redisStore) readState(ctx context.Context, base string) (*nsState, error) {
	var (
		gen      func() ([]any, error)
		versions *redis.MapStringStringCmd
	)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		gen = s.getKeys(ctx, p, s.genKey(), base+"gen")
		versions = p.HGetAll(ctx, base+"versions")
		return nil
	})
	g, err := gen()
	if err = firstErr(err, versions.Err()); err != nil {
		return nil, err
	}
	st := &nsState{versions: map[string]int64{}}
	st.store, st.ns = max(parseGen(g[0]), s.gen.Load()), parseGen(g[1])
	for ver, used := range versions.Val() {
		st.versions[ver], _ = strconv.ParseInt(used, 10, 64)
	}
	return st, nil
}

// older reports whether gen, the STORE.NS part of an entry's key, is of
// a generation older than the current ones.
func (st *nsState) older(gen string) bool {
	a, b, _ := strings.Cut(gen, ".")
	g, err1 := strconv.ParseInt(a, 10, 64)
	n, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && (g < st.store || n < st.ns)
}

// parseKey splits an entry's or a lock's key, PREFIX:NAME:VERSION:GEN:d:KEY
// or PREFIX:NAME:VERSION:l:KEY, into the namespace's base (PREFIX:NAME:),
// its version and its generations (GEN, "" for a lock). ok is false for
// every other key (meta, counts, ...).
func (s *redisStore) parseKey(k string) (base, ver, gen string, ok bool) {
	rest, found := strings.CutPrefix(k, s.prefix+":")
	if !found {
		return "", "", "", false
	}
	name, rest, found := strings.Cut(rest, ":")
	if !found {
		return "", "", "", false
	}
	base = s.prefix + ":" + name + ":"
	ver, rest, found = strings.Cut(rest, ":")
	if !found || len(ver) != 16 {
		return "", "", "", false
	}
	if strings.HasPrefix(rest, "l:") {
		return base, ver, "", true
	}
	gen, rest, found = strings.Cut(rest, ":")
	if !found || !strings.HasPrefix(rest, "d:") || !strings.Contains(gen, ".") {
		return "", "", "", false
	}
	return base, ver, gen, true
}

// staleVersions returns the versions of a versions hash, other than
// except, that no process has used for grace at now.
func staleVersions(versions map[string]string, except string, now time.Time, grace time.Duration) []string {
	var stale []string
	for ver, used := range versions {
		ms, err := strconv.ParseInt(used, 10, 64)
		if ver != except && err == nil && now.Sub(time.UnixMilli(ms)) >= grace {
			stale = append(stale, ver)
		}
	}
	return stale
}

func stringVersions(m map[string]int64) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = strconv.FormatInt(v, 10)
	}
	return out
}

// ClearStale deletes now, on the server at rawURL (a URL as store.Open
// takes it, prefix parameter included), the keys that no process reads
// any more, which stores otherwise delete in the background: the entries
// of generations older than the current ones (left by Clear), and the
// entries of versions that no process has used for grace
// (DefaultVersionGrace if grace is zero or less). It returns how many
// keys it deleted. It runs a SCAN of the whole database. memoctl clear
// --stale calls it.
func ClearStale(ctx context.Context, rawURL string, grace time.Duration) (int, error) {
	if grace <= 0 {
		grace = DefaultVersionGrace
	}
	d, err := openURL(rawURL, driver.Options{Logger: slog.New(slog.DiscardHandler), Clock: expiry.SystemClock{}, ReadOnly: true})
	if err != nil {
		return 0, err
	}
	s := d.(*redisStore)
	defer s.Close()
	n, err := s.reclaim(ctx, globEscape(s.prefix)+":*", grace)
	if err != nil {
		return n, fmt.Errorf("store: clear stale keys in %s: %w", s.loc, err)
	}
	return n, nil
}
