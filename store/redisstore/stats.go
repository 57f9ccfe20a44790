package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// StatsContext reads every namespace's metadata and tally.Counts from the
// server in two round trips (the names, then all the hashes), and adds what this process has not pushed.
// If the server does not answer, it returns what this process knows of
// the namespaces it claimed, with the error.
func (s *redisStore) Stats(ctx context.Context) (driver.Stats, error) {
	st := driver.Stats{Path: s.loc, Backend: "redis", FormatVersion: RedisFormatVersion, PID: os.Getpid()}
	if err := s.checkOpen(); err != nil {
		return st, err
	}
	// No push in flight: the server's counts and the ones this process
	// has not pushed do not overlap.
	s.pushMu.Lock()
	names, metas, counts, rerr := s.readStats(ctx)
	if rerr != nil {
		s.mu.Lock()
		names = names[:0]
		for n := range s.claims {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		metas, counts = make([]map[string]string, len(names)), make([]map[string]string, len(names))
	}
	num := func(m map[string]string, k string) int64 {
		v, _ := strconv.ParseInt(m[k], 10, 64)
		return v
	}
	var tiers []driver.MemoryTier
	s.mu.Lock()
	for i, n := range names {
		m, c := metas[i], counts[i]
		ns := driver.NamespaceStats{
			Name: n, Version: m["version"], KeyType: m["key_type"], ValueType: m["value_type"],
			Created: num(m, "created"),
			Hits:    num(c, "hits"), Misses: num(c, "misses"), DiskHits: num(c, "disk_hits"),
			DecodeErrors: num(c, "decode_errors"), WriteErrors: num(c, "write_errors"),
			ReadErrors: num(c, "read_errors"), Writes: num(c, "writes"),
		}
		var tier driver.MemoryTier
		if sp := s.claims[n]; sp != nil {
			ns.Claimed = true
			if m == nil {
				ns.Version, ns.KeyType, ns.ValueType = sp.spec.Version, sp.spec.KeyType, sp.spec.ValueType
			}
			u := sp.d.Peek()
			if sp.tier != nil {
				tier = sp.tier
				now := tally.Tier(sp.tier)
				d := now.Minus(&sp.pulled)
				u.Add(&d)
			}
			ns.Hits += u.Hits
			ns.Misses += u.Misses
			ns.DiskHits += u.DiskHits
			ns.DecodeErrors += u.DecodeErrors
			ns.WriteErrors += u.WriteErrors
			ns.ReadErrors += u.ReadErrors
		}
		tiers = append(tiers, tier)
		st.Namespaces = append(st.Namespaces, ns)
	}
	s.mu.Unlock()
	s.pushMu.Unlock()
	// Tiers, which take their own locks, are called with none of the
	// store's held; so is outcome, which may purge them.
	for i, t := range tiers {
		if t != nil {
			st.Namespaces[i].MemSize, st.Namespaces[i].MemMax = t.Size()
		}
	}
	var err error
	if rerr != nil {
		if !errors.Is(rerr, errNotAnswering) {
			rerr = s.outcome(ctx, rerr)
		}
		err = fmt.Errorf("store: stats %s: %w", s.loc, rerr)
	} else {
		s.outcome(ctx, nil)
	}
	return st, err
}

// readStats reads the namespaces' names (sorted), metadata and counters.
func (s *redisStore) readStats(ctx context.Context) (names []string, metas, counts []map[string]string, err error) {
	if !s.brk.Allow() {
		return nil, nil, nil, errNotAnswering
	}
	names, err = s.rdb.SMembers(ctx, s.namespacesKey()).Result()
	if err != nil {
		return nil, nil, nil, err
	}
	sort.Strings(names)
	mc := make([]*redis.MapStringStringCmd, len(names))
	cc := make([]*redis.MapStringStringCmd, len(names))
	if len(names) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, n := range names {
				mc[i] = p.HGetAll(ctx, s.keyBase(n)+"meta")
				cc[i] = p.HGetAll(ctx, s.keyBase(n)+"counts")
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	metas, counts = make([]map[string]string, len(names)), make([]map[string]string, len(names))
	for i := range names {
		metas[i], counts[i] = mc[i].Val(), cc[i].Val()
	}
	return names, metas, counts, nil
}
