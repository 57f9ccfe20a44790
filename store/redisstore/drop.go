package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// startDrop deletes, on a goroutine of the store's, the entries and
// locks that other versions of sp's namespace left on the server (see
// dropOthers), so that a claim costs the same however many keys the
// server holds: a deletion is a SCAN of the whole database. Until it is
// done, the old keys take room, but they are never read: every key holds
// its version's fingerprint. Flush waits for it. Close stops it; the
// meta hash's dropping field, which dropOthers clears once done, has the
// next claim of the namespace, in any process, take it up again.
func (s *redisStore) startDrop(sp *redisNS) {
	done := make(chan struct{})
	s.mu.Lock()
	sp.dropped = done
	s.mu.Unlock()
	if !s.spawn(func() {
		defer close(done)
		s.dropOthers(s.bg, sp)
	}) {
		close(done) // closing: the next claim takes it up
	}
}

// errMovedOn stops dropOthers when the namespace is no longer of its
// version.
var errMovedOn = errors.New("namespace moved on to another version")

// dropOthers deletes the entries and locks of every version of sp's
// namespace but sp's own, a page of SCAN at a time, then clears the meta
// hash's dropping field. Before each page it checks that the namespace is
// still of sp's version, and stops if not: the keys it would delete might
// then be the current version's, and the claim that changed the version
// deletes the rest. (A claim in the instant between the check and the
// UNLINK could lose a few of its entries: recomputed, never wrong.)
func (s *redisStore) dropOthers(ctx context.Context, sp *redisNS) {
	mine := sp.base + sp.ver + ":"
	err := s.scan(ctx, globEscape(sp.base)+"*:[dl]:*", func(keys []string) error {
		keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, mine) })
		if len(keys) == 0 {
			return nil
		}
		if fp, err := s.rdb.HGet(ctx, sp.metaKey, "fingerprint").Result(); err != nil {
			return err
		} else if fp != sp.ver {
			return errMovedOn
		}
		return s.rdb.Unlink(ctx, keys...).Err()
	})
	if err == nil {
		err = s.rdb.Eval(ctx, undropSrc, []string{sp.metaKey}, sp.ver).Err()
	}
	if errors.Is(err, errMovedOn) {
		return
	}
	if err = s.outcome(ctx, err); err != nil && ctx.Err() == nil {
		s.log.Warn("memostore: old versions' entries not all deleted; the next claim of the namespace goes on",
			"path", s.loc, "namespace", sp.name, "err", err)
	}
}

// undropSrc clears the dropping field of the meta hash KEYS[1] if the
// namespace is still of the version whose fingerprint is ARGV[1].
const undropSrc = `if redis.call("HGET", KEYS[1], "fingerprint") == ARGV[1] then return redis.call("HDEL", KEYS[1], "dropping") end return 0`

// waitDrops waits until the deletions of old versions' keys that claims
// in this process started have ended, or ctx ends.
func (s *redisStore) waitDrops(ctx context.Context) error {
	s.mu.Lock()
	var drops []chan struct{}
	for _, sp := range s.claims {
		if sp.dropped != nil {
			drops = append(drops, sp.dropped)
		}
	}
	s.mu.Unlock()
	for _, done := range drops {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
