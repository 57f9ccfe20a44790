package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// A redisNS is a namespace of the Redis backend.
type redisNS struct {
	s        *redisStore
	name     string
	spec     driver.NamespaceSpec
	ver      string // fingerprint of spec, the VERSION part of its keys
	base     string // PREFIX:NAME: (NAME with ':' escaped)
	data     string // PREFIX:NAME:VERSION:d:
	lock     string // PREFIX:NAME:VERSION:l:
	metaKey  string // PREFIX:NAME:meta
	countKey string // PREFIX:NAME:counts

	held   sync.Map          // computation locks held here: lock key → token
	d      tally.Deltas      // counted here, not yet pushed
	tier   driver.MemoryTier // guarded by s.mu
	pulled tally.Counts      // the tier's counts already pushed; guarded by s.mu

	// dropped is closed when the deletion of other versions' keys that
	// the claim started has ended; nil if it started none. Guarded by s.mu.
	dropped chan struct{}
}

// Namespace claims the namespace name for this process (see
// Store.Namespace), in two round trips. A changed spec moves the
// namespace to new keys; the old ones are deleted in the background (see
// startDrop): how long a claim takes does not depend on how many keys the
// server holds.
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
		data:     base + ver + ":d:",
		lock:     base + ver + ":l:",
		metaKey:  base + "meta",
		countKey: base + "counts",
	}
}

// claim records sp's spec on the server. If another spec was recorded,
// its entries are dropped and the drop is logged: they are never read
// again, as every key holds its version's fingerprint, and they are
// deleted in the background (see startDrop). The meta hash's dropping
// field marks a deletion not yet done, which a claim of the same spec
// takes up again.
func (s *redisStore) claim(ctx context.Context, sp *redisNS) error {
	meta, err := s.rdb.HGetAll(ctx, sp.metaKey).Result()
	if err != nil {
		return err
	}
	old := meta["fingerprint"]
	if old == sp.ver {
		if err := s.rdb.SAdd(ctx, s.namespacesKey(), sp.name).Err(); err != nil {
			return err
		}
		if meta["dropping"] != "" {
			s.startDrop(sp) // cut short by a Close, or failed
		}
		return nil
	}
	fields := map[string]any{
		"version": sp.spec.Version, "key_type": sp.spec.KeyType, "key_id": sp.spec.KeyID,
		"value_type": sp.spec.ValueType, "value_id": sp.spec.ValueID,
		"fingerprint": sp.ver, "created": strconv.FormatInt(s.opts.Clock.Now().UnixNano(), 10),
	}
	if old != "" {
		s.log.Warn("memostore: namespace changed; dropping its entries",
			"path", s.loc, "namespace", sp.name,
			"old_version", meta["version"], "new_version", sp.spec.Version,
			"old_key", meta["key_type"], "new_key", sp.spec.KeyType,
			"old_value", meta["value_type"], "new_value", sp.spec.ValueType)
		fields["dropping"] = "1"
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, sp.countKey)
		p.HSet(ctx, sp.metaKey, fields)
		p.SAdd(ctx, s.namespacesKey(), sp.name)
		return nil
	})
	if err == nil && old != "" {
		s.startDrop(sp)
	}
	return err
}

// Lookup reads key from the server (see Namespace.Lookup).
func (n *redisNS) Lookup(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, error) {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	if !s.brk.Allow() {
		n.d.ReadErrors.Add(1)
		return false, nil
	}
	k := n.data + string(key)
	rec, err := s.rdb.Get(ctx, k).Bytes()
	if err = s.outcome(ctx, err); err != nil && !errors.Is(err, redis.Nil) {
		if err == driver.ErrClosed {
			return false, driver.ErrClosed
		}
		n.d.ReadErrors.Add(1)
		return false, nil
	}
	return n.decodeFound(ctx, k, key, rec, decode), nil
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

// Put writes rec under key with its TTL, and counts the write, in one
// round trip (see Namespace.Put).
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
			return nil // expired already: nothing to keep
		}
		ttl = max(ttl.Round(time.Millisecond), time.Millisecond)
	}
	if !s.brk.Allow() {
		n.d.WriteErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w; write dropped", n.name, driver.ErrUnavailable)
	}
	// The record, its count and the release of the caller's computation
	// lock on key, if it holds one, go in one round trip. If it fails,
	// the lock stays held here for the caller's release to delete.
	lockKey := n.lock + string(key)
	token, locked := n.held.Load(lockKey)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.data+string(key), rec, ttl)
		p.HIncrBy(ctx, n.countKey, "writes", 1)
		if locked {
			p.Eval(ctx, delIfEqualSrc, []string{lockKey}, token)
		}
		return nil
	})
	if err = s.outcome(ctx, err); err != nil {
		n.d.WriteErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w", n.name, err)
	}
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
	if err := s.outcome(ctx, s.rdb.Unlink(ctx, n.data+string(key)).Err()); err != nil {
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
