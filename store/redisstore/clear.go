package redisstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// Clear clears one namespace, or all if name is "": it raises the
// namespace's generation, or the store's, so that no process reads the
// entries written before (see gens), resets the counters, and tells every
// process sharing the server to purge its memory tiers, in three round
// trips however many keys the server holds. The old entries are deleted
// in the background (see startReclaim). It needs neither the namespaces
// set nor the meta hash, which the server may have lost.
func (s *redisStore) Clear(ctx context.Context, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("store: clear %s: read-only", s.loc)
	}
	names, err := s.clearing(ctx, name)
	if err != nil {
		return err
	}
	// The memory tiers first: from here until the generation is raised,
	// this process's computations keep nothing (see MemoryTier).
	defer s.purge(name, true)()
	genKey, known := s.genKey(), s.gen.Load()
	if name != "" {
		sp := s.newNS(name, driver.NamespaceSpec{})
		genKey = sp.genKey
		if mine := s.claimed1(name); mine != nil {
			known = mine.gens().ns
		} else {
			known = 0
		}
	}
	var raised *redis.Cmd
	s.pushMu.Lock()
	_, err = s.together(ctx, func(p redis.Pipeliner) error {
		raised = p.Eval(ctx, raiseGenSrc, []string{genKey}, known)
		for _, n := range names {
			p.Del(ctx, s.keyBase(n)+"counts")
		}
		return nil
	})
	if err == nil {
		for _, n := range names {
			s.forgetCounts(n)
		}
	}
	s.pushMu.Unlock()
	if err != nil {
		return fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
	}
	gen, _ := raised.Int64()
	s.learnCleared(name, gen)
	pattern := globEscape(s.prefix) + ":*"
	if name != "" {
		pattern = globEscape(s.keyBase(name)) + "*"
	}
	s.startReclaim(pattern)
	msg := s.id + " " + strconv.FormatInt(gen, 10) + " " + name
	if err := s.rdb.Publish(ctx, s.clearChannel(), msg).Err(); err != nil {
		return fmt.Errorf("store: clear %s: entries cleared, but other processes were not told to purge their memory: %w", s.loc, s.outcome(ctx, err))
	}
	return nil
}

// clearing returns the namespaces whose counters a Clear of name resets:
// name, or every namespace the namespaces set or this process knows. A
// name that neither knows, and that has no generation or meta hash on
// the server, is an error.
func (s *redisStore) clearing(ctx context.Context, name string) ([]string, error) {
	var (
		members *redis.StringSliceCmd
		exists  func() int64
	)
	base := s.keyBase(name)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		members = p.SMembers(ctx, s.namespacesKey())
		if name != "" {
			exists = s.exists(ctx, p, base+"gen", base+"meta", base+"counts")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
	}
	known := map[string]bool{}
	for _, n := range members.Val() {
		known[n] = true
	}
	s.mu.Lock()
	for n := range s.claims {
		known[n] = true
	}
	s.mu.Unlock()
	if name == "" {
		return slices.Sorted(maps.Keys(known)), nil
	}
	if !known[name] && exists() == 0 {
		return nil, fmt.Errorf("store: clear: no namespace %q in %s", name, s.loc)
	}
	return []string{name}, nil
}

// claimed1 returns namespace name if this process claimed it, else nil.
func (s *redisStore) claimed1(name string) *redisNS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims[name]
}

// learnCleared takes gen, the generation a Clear of name (or of all, for
// "") raised, as this process's, without purging: the Clear purges.
func (s *redisStore) learnCleared(name string, gen int64) {
	if name == "" {
		raise(&s.gen, gen)
		return
	}
	if sp := s.claimed1(name); sp != nil {
		sp.setGens(s.gen.Load(), gen)
	}
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
// while it was down are lost, the generations are checked when it comes
// back (see checkGens). Close ends it.
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
				// clear published meanwhile was lost, if the
				// generations moved.
				s.log.Info("memostore: clear messages resumed; checking for clears missed", "path", s.loc)
				s.startCheckGens()
			}
			subscribed = true
		}
	}
}

// onClear handles a clear message, "STOREID GEN NAME" (NAME "" for all,
// GEN the generation the Clear raised), as Clear publishes it.
func (s *redisStore) onClear(payload string) {
	from, rest, _ := strings.Cut(payload, " ")
	if from == s.id {
		return // this store's own Clear did it all already
	}
	genText, name, _ := strings.Cut(rest, " ")
	// The memory tiers are purged before the new generation is taken, as
	// Clear does: a purge waits for the keeps (Puts) under way, and one
	// of a result computed before the clear would otherwise be written
	// under the new generation, and served everywhere.
	done := s.purge(name, true)
	defer done()
	if gen, err := strconv.ParseInt(genText, 10, 64); err == nil {
		s.learnCleared(name, gen)
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
}
