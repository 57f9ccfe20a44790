package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// Clear deletes the entries of one namespace or all, resets their
// counters, and tells every process sharing the server to purge its
// memory tiers of them.
func (s *redisStore) Clear(ctx context.Context, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("store: clear %s: read-only", s.loc)
	}
	names := []string{name}
	if name == "" {
		var err error
		if names, err = s.rdb.SMembers(ctx, s.namespacesKey()).Result(); err != nil {
			return fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
		}
	} else if ok, err := s.rdb.SIsMember(ctx, s.namespacesKey(), name).Result(); err != nil {
		return fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
	} else if !ok {
		return fmt.Errorf("store: clear: no namespace %q in %s", name, s.loc)
	}
	// The memory tiers first: from here until the entries are deleted,
	// this process's computations keep nothing (see MemoryTier).
	defer s.purge(name, true)()
	for _, n := range names {
		// Every version's entries and locks; not the meta and counts.
		if err := s.unlinkMatching(ctx, globEscape(s.keyBase(n))+"*:[dl]:*"); err != nil {
			return fmt.Errorf("store: clear %q in %s: %w", n, s.loc, s.outcome(ctx, err))
		}
		s.pushMu.Lock()
		err := s.rdb.Del(ctx, s.keyBase(n)+"counts").Err()
		if err == nil {
			s.forgetCounts(n)
		}
		s.pushMu.Unlock()
		if err != nil {
			return fmt.Errorf("store: clear %q in %s: %w", n, s.loc, s.outcome(ctx, err))
		}
	}
	if err := s.rdb.Publish(ctx, s.clearChannel(), s.id+" "+name).Err(); err != nil {
		return fmt.Errorf("store: clear %s: entries deleted, but other processes were not told: %w", s.loc, s.outcome(ctx, err))
	}
	return nil
}

// forgetCounts drops what this process counted for namespace name and not
// yet pushed: the namespace's tally.Counts were just reset. s.pushMu is held.
func (s *redisStore) forgetCounts(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp := s.claims[name]; sp != nil {
		d := sp.d.Peek()
		sp.d.Drop(&d)
		if sp.tier != nil {
			sp.pulled = tally.Tier(sp.tier)
		}
	}
}

// purge empties the memory tiers attached in this process to namespace
// name, or to every namespace if name is "" (see MemoryTier.Purge), and
// returns the function that lets them keep results again.
func (s *redisStore) purge(name string, cleared bool) (done func()) {
	s.mu.Lock()
	var tiers []driver.MemoryTier
	for n, sp := range s.claims {
		if (name == "" || n == name) && sp.tier != nil {
			tiers = append(tiers, sp.tier)
		}
	}
	s.mu.Unlock()
	dones := make([]func(), len(tiers))
	for i, t := range tiers {
		dones[i] = t.Purge(cleared)
	}
	return func() {
		for _, d := range dones {
			d()
		}
	}
}

// runClearListener purges memory tiers when any process clears their
// namespace. The subscription reconnects by itself; as messages sent
// while it was down are lost, every memory tier is purged when it comes
// back. Close ends it.
func (s *redisStore) runClearListener() {
	defer s.wg.Done()
	subscribed := false
	for m := range s.sub.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Message:
			s.onClear(m.Payload)
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if subscribed {
				// Subscribed again after the connection dropped: a
				// clear published meanwhile was lost.
				s.log.Info("memostore: clear messages resumed; memory tiers purged, as clears may have been missed", "path", s.loc)
				s.purge("", false)()
			}
			subscribed = true
		}
	}
}

// onClear handles a clear message, "STOREID NAME" (NAME "" for all), as
// Clear publishes it.
func (s *redisStore) onClear(payload string) {
	from, name, _ := strings.Cut(payload, " ")
	if from == s.id {
		return // this store's own Clear did it all already
	}
	// The namespace's tally.Counts were reset: what this process counted
	// before the clear must not be pushed after it.
	s.pushMu.Lock()
	s.mu.Lock()
	var names []string
	for n := range s.claims {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	for _, n := range names {
		s.forgetCounts(n)
	}
	s.pushMu.Unlock()
	s.purge(name, true)()
}
