package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
)

// Generations. Every entry's key holds two generations, the store's
// (PREFIX:gen) and its namespace's (PREFIX:NAME:gen): a Clear of one
// namespace raises the namespace's, a Clear of all the store's, by one
// command, and the entries of older generations are never read again
// (they are reclaimed in the background, see reclaim). A process keeps
// the generations it last saw and reads them again with every lookup, in
// the same command (MGET): a Put still in flight when a Clear returns
// goes to an older generation, which no one reads. On a cluster, where
// the generations and the entry lie in different slots, they are read in
// one pipeline, not at one instant; that is enough: a lookup that begins
// after a Clear returned reads the raised generation, and then reads no
// entry of an older one (see getKeys).
//
// A generation missing on the server (after FLUSHALL, a restart without
// persistence, an eviction) counts as the one this process knew: the
// counters' push writes it back (SET NX), and a Clear raises the
// generation above both what the server and what the caller knew.

// genKey returns PREFIX:gen, the store's generation.
func (s *redisStore) genKey() string { return s.prefix + ":gen" }

// A gens is the pair of generations a namespace's entries are written
// under, and the key prefixes made from them.
type gens struct {
	store, ns int64
	data      string // PREFIX:NAME:VERSION:STORE.NS:d:
}

// gens returns the generations n writes and reads under now.
func (n *redisNS) gens() *gens {
	g := n.gen.Load()
	if st := n.s.gen.Load(); g == nil || g.store != st {
		g = n.setGens(st, 0)
	}
	return g
}

// gensAt returns the generations st and ns, without taking them.
func (n *redisNS) gensAt(st, ns int64) *gens {
	return &gens{store: st, ns: ns, data: n.verBase() + strconv.FormatInt(st, 10) + "." + strconv.FormatInt(ns, 10) + ":d:"}
}

// setGens raises n's generation to ns if it is lower, takes the store's
// as st, and returns the pair now current.
func (n *redisNS) setGens(st, ns int64) *gens {
	for {
		old := n.gen.Load()
		cur := int64(0)
		if old != nil {
			cur = old.ns
		}
		g := &gens{store: st, ns: max(cur, ns)}
		if old != nil && old.store == g.store && old.ns == g.ns {
			return old
		}
		g.data = n.verBase() + strconv.FormatInt(g.store, 10) + "." + strconv.FormatInt(g.ns, 10) + ":d:"
		if n.gen.CompareAndSwap(old, g) {
			return g
		}
	}
}

// raise sets a to v if v is higher, and reports whether it was.
func raise(a *atomic.Int64, v int64) bool {
	for {
		cur := a.Load()
		if v <= cur {
			return false
		}
		if a.CompareAndSwap(cur, v) {
			return true
		}
	}
}

// parseGen reads a generation as MGET returns it; missing or not a
// number is 0.
func parseGen(v any) int64 {
	s, _ := v.(string)
	g, _ := strconv.ParseInt(s, 10, 64)
	return g
}

// learn takes the generations the server holds, st and ns (as MGET gives
// them), and reports whether they are not those of used, the ones a read
// was made under: what it read is then of an older generation. If
// either is newer than what this process knew, a Clear happened that it
// may not have heard of, and its memory tiers are purged: the
// namespace's, or all of them for the store's.
func (n *redisNS) learn(used *gens, st, ns any) (changed bool) {
	s := n.s
	stGen, nsGen := parseGen(st), parseGen(ns)
	// Purged before the new generations are taken, as in onClear.
	done := func() {}
	switch {
	case stGen > s.gen.Load():
		done = s.purge("", false)
	case nsGen > n.gens().ns:
		done = s.purge(n.name, false)
	}
	raise(&s.gen, stGen)
	g := n.setGens(s.gen.Load(), nsGen)
	done()
	return g.store != used.store || g.ns != used.ns
}

// checkGens reads the generations of the store and of every namespace
// claimed here, in one round trip, and purges the memory tiers of those
// a Clear raised: a Clear whose message this process may have missed,
// while the server did not answer it or its subscription was down. If
// the server does not answer, it purges them all.
func (s *redisStore) checkGens(ctx context.Context) {
	s.mu.Lock()
	spaces := make([]*redisNS, 0, len(s.claims))
	keys := []string{s.genKey()}
	for _, sp := range s.claims {
		spaces = append(spaces, sp)
		keys = append(keys, sp.genKey)
	}
	s.mu.Unlock()
	vals, err := s.readKeys(ctx, keys...)
	if err != nil {
		s.log.Info("memostore: memory tiers purged, as clears may have been missed", "path", s.loc, "err", err)
		s.purge("", false)()
		return
	}
	for i, sp := range spaces {
		sp.learn(sp.gens(), vals[0], vals[i+1])
	}
}

// startCheckGens runs checkGens on a goroutine of the store's.
func (s *redisStore) startCheckGens() {
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.bg, times(2, s.opts.timeout))
		defer cancel()
		s.checkGens(ctx)
	})
}

// raiseGenSrc raises the generation KEYS[1] by one above what the server
// holds, ARGV[1] (what the caller knew) and the server's clock in
// milliseconds, and returns it. The clock is the floor for a server that
// lost the key (a restart without persistence, FLUSHALL, an eviction)
// and a caller that knew less than the processes still running under the
// lost generation (memoctl, a process that claimed the namespace after
// the loss): without it, the Clear raised the generation to 1, under
// what those processes read and write, and they never saw it. Clears
// more than one a millisecond still raise it by one each.
const raiseGenSrc = `local g = tonumber(redis.call("GET", KEYS[1]) or "0") or 0
local k = tonumber(ARGV[1])
if k > g then g = k end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > g then g = now end
g = g + 1
redis.call("SET", KEYS[1], string.format("%.0f", g))
return g`
