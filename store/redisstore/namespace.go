package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// A redisNS is a namespace of the Redis backend.
type redisNS struct {
	s           *redisStore
	name        string
	spec        driver.NamespaceSpec
	ver         string // fingerprint of spec, the VERSION part of its keys
	base        string // PREFIX:NAME: (NAME with ':' escaped)
	lock        string // PREFIX:NAME:VERSION:l:
	metaKey     string // PREFIX:NAME:meta
	countKey    string // PREFIX:NAME:counts
	genKey      string // PREFIX:NAME:gen
	versionsKey string // PREFIX:NAME:versions

	gen    atomic.Pointer[gens] // the generations known here (see gens)
	held   sync.Map             // computation locks held here: lock key → token
	d      tally.Deltas         // counted here, not yet pushed
	tier   driver.MemoryTier    // guarded by s.mu
	pulled tally.Counts         // the tier's counts already pushed; guarded by s.mu
}

// Namespace claims the namespace name for this process (see
// Store.Namespace), in two round trips, however many keys the server
// holds. Other versions of the namespace keep their entries (see claim).
func (s *redisStore) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (driver.Namespace, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if s.opts.ReadOnly {
		return nil, fmt.Errorf("store: namespace %q: %s is open read-only", name, s.loc)
	}
	sp := s.newNS(name, spec)
	s.mu.Lock()
	if s.claims[name] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q is already in use in this process", name)
	}
	s.claims[name] = sp
	s.mu.Unlock()
	if err := s.claim(ctx, sp); err != nil {
		s.mu.Lock()
		delete(s.claims, name)
		s.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q in %s: %w", name, s.loc, s.outcome(ctx, err))
	}
	return sp, nil
}

func (s *redisStore) newNS(name string, spec driver.NamespaceSpec) *redisNS {
	base := s.keyBase(name)
	ver := fingerprint(spec)
	return &redisNS{
		s: s, name: name, spec: spec, ver: ver, base: base,
		lock:        base + ver + ":l:",
		metaKey:     base + "meta",
		countKey:    base + "counts",
		genKey:      base + "gen",
		versionsKey: base + "versions",
	}
}

// metaFields returns the fields of n's meta hash, as of now.
func (n *redisNS) metaFields() []any {
	return []any{
		"version", n.spec.Version, "key_type", n.spec.KeyType, "key_id", n.spec.KeyID,
		"value_type", n.spec.ValueType, "value_id", n.spec.ValueID,
		"fingerprint", n.ver, "created", strconv.FormatInt(n.s.opts.Clock.Now().UnixNano(), 10),
	}
}

// claim records sp's spec in the namespace's meta hash, marks its version
// used now in the versions hash, and learns the generations. Versions
// coexist, as in a rolling deploy: every key holds its version's
// fingerprint, so that no version reads another's entries, and a claim
// deletes none. The entries of a version that no process has used for
// the grace period (WithVersionGrace) are reclaimed in the background: a
// claim that finds one starts it (see startReclaim).
func (s *redisStore) claim(ctx context.Context, sp *redisNS) error {
	var (
		meta     *redis.MapStringStringCmd
		versions *redis.MapStringStringCmd
		gen      func() ([]any, error)
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HGetAll(ctx, sp.metaKey)
		versions = p.HGetAll(ctx, sp.versionsKey)
		gen = s.getKeys(ctx, p, s.genKey(), sp.genKey)
		return nil
	})
	g, gerr := gen()
	if err = firstErr(meta.Err(), versions.Err(), gerr); err != nil {
		return err
	}
	now := s.opts.Clock.Now()
	cmds, err := s.together(ctx, func(p redis.Pipeliner) error {
		if meta.Val()["fingerprint"] != sp.ver {
			p.HSet(ctx, sp.metaKey, sp.metaFields()...)
		}
		p.HSet(ctx, sp.versionsKey, sp.ver, now.UnixMilli())
		p.SAdd(ctx, s.namespacesKey(), sp.name)
		return nil
	})
	if err != nil && meta.Val()["fingerprint"] == sp.ver && oomIn(err, cmds) {
		// Out of memory, the server refuses writes, but the namespace is
		// there at this version: it reads as before. Only the mark of
		// the version's use is missing, which the counters put back.
		s.writeFailed(ctx, err)
		err = nil
	}
	if err != nil {
		if errorCode(err) != "" {
			return s.explain(nil, err)
		}
		return err
	}
	if old := meta.Val(); old["fingerprint"] != "" && old["fingerprint"] != sp.ver {
		s.log.Info("memostore: namespace claimed at another version; the other's entries stay until no process has used it for the grace period",
			"path", s.loc, "namespace", sp.name,
			"old_version", old["version"], "new_version", sp.spec.Version,
			"old_key", old["key_type"], "new_key", sp.spec.KeyType,
			"old_value", old["value_type"], "new_value", sp.spec.ValueType,
			"grace", s.opts.grace)
	}
	sp.learn(sp.gens(), g[0], g[1])
	if len(staleVersions(versions.Val(), sp.ver, now, s.opts.grace)) > 0 {
		s.startReclaim(globEscape(sp.base) + "*")
	}
	return nil
}

// Lookup reads key from the server, with the generations, in one round
// trip (see Namespace.Lookup); a second one if a Clear changed them.
func (n *redisNS) Lookup(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, error) {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	if !s.brk.Allow() {
		n.d.ReadErrors.Add(1)
		return false, nil
	}
	g := n.gens()
	vals, err := s.readKeys(ctx, s.genKey(), n.genKey, g.entryKey(key))
	var rec []byte
	if err == nil {
		if n.learn(g, vals[0], vals[1]) {
			// A Clear: what was read is of an older generation.
			g = n.gens()
			rec, err = s.rdb.Get(ctx, g.entryKey(key)).Bytes()
		} else if v, ok := vals[2].(string); ok {
			rec = []byte(v)
		}
	}
	if err = s.outcome(ctx, err); err != nil && !errors.Is(err, redis.Nil) {
		if err == driver.ErrClosed {
			return false, driver.ErrClosed
		}
		if ended(ctx) == nil {
			// A caller that gave up is not a server that did not answer.
			n.d.ReadErrors.Add(1)
		}
		return false, nil
	}
	return n.decodeFound(ctx, g.entryKey(key), key, rec, decode), nil
}

// decodeFound decodes rec, the record read from the Redis key k (nil if absent)
// for the store's key, and reports whether decode took it. A record that
// fails its checksum (which covers key, not k) or that decode rejects is
// counted, logged and deleted.
func (n *redisNS) decodeFound(ctx context.Context, k string, key, rec []byte, decode driver.DecodeFunc) bool {
	if rec == nil {
		return false
	}
	s := n.s
	ok, err := driver.OpenRecord(rec, key, s.opts.Clock.Now().UnixNano(), decode)
	if err == nil {
		return ok
	}
	n.d.DecodeErrors.Add(1)
	s.log.Warn("memostore: dropping a record that does not decode", "path", s.loc, "namespace", n.name, "err", err)
	// Delete it only if it is still the bad record: another process may
	// have replaced it with a good one meantime.
	ctx = context.WithoutCancel(ctx)
	s.outcome(ctx, s.rdb.Eval(ctx, delIfEqualSrc, []string{k}, rec).Err())
	return false
}

// Put writes rec under key with its TTL, in the generations known here,
// and counts the write, in one round trip (see Namespace.Put). A Clear
// that raised the generations meanwhile makes the write unread.
func (n *redisNS) Put(ctx context.Context, key, rec []byte) error {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return err
	}
	h, err := codec.ParseHeader(rec) // checked by store: no error
	if err != nil {
		return err
	}
	var ttl time.Duration // 0: no expiry
	if h.ExpiresAt != 0 {
		ttl = time.Duration(h.ExpiresAt - s.opts.Clock.Now().UnixNano())
		if ttl <= 0 {
			// Expired already: nothing to keep, and not counted; but it
			// replaces what key held, as on a file.
			return n.Delete(ctx, key)
		}
		ttl = keyTTL(ttl)
	}
	if !s.brk.Allow() {
		n.d.WriteErrors.Add(1)
		s.writeFailed(ctx, errNotAnswering)
		return fmt.Errorf("store: put in %q: %w; write dropped", n.name, driver.ErrUnavailable)
	}
	// The record, its count and the release of the caller's computation
	// lock on key, if it holds one, go in one round trip. If it fails,
	// the lock stays held here for the caller's release to delete.
	lockKey := n.lockKey(key)
	token, locked := n.held.Load(lockKey)
	// The namespaces set is put back by every Put, should the server have
	// lost it.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.gens().entryKey(key), rec, ttl)
		p.HIncrBy(ctx, n.countKey, "writes", 1)
		p.SAdd(ctx, s.namespacesKey(), n.name)
		if locked {
			p.Eval(ctx, delIfEqualSrc, []string{lockKey}, token)
		}
		return nil
	})
	if err = s.outcome(ctx, err); err != nil {
		n.d.WriteErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w", n.name, s.writeFailed(ctx, err))
	}
	s.writeOK()
	if locked {
		n.held.CompareAndDelete(lockKey, token)
	}
	return nil
}

// Delete removes key from the server at once.
func (n *redisNS) Delete(ctx context.Context, key []byte) error {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return err
	}
	if !s.brk.Allow() {
		// A server given up on is left alone, as by lookups: not waited
		// for, for each Forget, the whole timeout.
		return fmt.Errorf("store: delete in %q: %w: %v", n.name, driver.ErrUnavailable, errNotAnswering)
	}
	// The generations are read in the same round trip as the key is
	// unlinked under those this process knows: if a Clear it has not heard
	// of raised them, the key is unlinked again under the new ones, where a
	// Put since that Clear wrote it. They are not taken here (learn), as
	// taking them purges the memory tiers, and Delete may be called by a
	// computation keeping its result, whose flight's lock the purge takes:
	// the next Lookup, or the Clear's message, takes them.
	g := n.gens()
	var read func() ([]any, error)
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Unlink(ctx, g.entryKey(key))
		read = s.getKeys(ctx, p, s.genKey(), n.genKey)
		return nil
	})
	var vals []any
	if err = pipeErr(cmds, err); err == nil {
		vals, err = read()
	}
	if err == nil {
		if st, ns := max(parseGen(vals[0]), g.store), max(parseGen(vals[1]), g.ns); st != g.store || ns != g.ns {
			err = s.rdb.Unlink(ctx, n.gensAt(st, ns).entryKey(key)).Err()
		}
	}
	if err := s.outcome(ctx, err); err != nil {
		return fmt.Errorf("store: delete in %q: %w", n.name, err)
	}
	return nil
}

// Clear clears the namespace (see Store.Clear).
func (n *redisNS) Clear(ctx context.Context) error { return n.s.Clear(ctx, n.name) }

// Refused counts a write that store refused, pushed with the next
// counters.
func (n *redisNS) Refused() { n.d.WriteErrors.Add(1) }

// Attach attaches a memory tier, whose counts are pushed with the
// namespace's and which Clear purges in every process.
func (n *redisNS) Attach(t driver.MemoryTier) {
	n.s.mu.Lock()
	n.tier = t
	n.pulled = tally.Tier(t)
	n.s.mu.Unlock()
}

// keyTTL returns the TTL of a key whose record expires d (> 0) from now,
// in the whole milliseconds PX takes: rounded up, so that Redis never drops
// the key before the record expires.
func keyTTL(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}
