package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// Stats reads every namespace's metadata and counts from the server in
// two round trips (the names, then all the hashes), and adds what this
// process counted and has not pushed. If the server does not answer, it
// returns what this process knows of the namespaces it claimed, with the
// error.
func (s *redisStore) Stats(ctx context.Context) (driver.Stats, error) {
	st := driver.Stats{Path: s.loc, Backend: "redis", FormatVersion: RedisFormatVersion, PID: os.Getpid()}
	if err := s.checkOpen(); err != nil {
		return st, err
	}
	// No push in flight: the server's counts and the ones this process
	// has not pushed do not overlap.
	s.pushMu.Lock()
	names, metas, counts, rerr := s.readStats(ctx)
	local := s.claimed()
	s.pushMu.Unlock()
	if rerr != nil {
		names = slices.Sorted(maps.Keys(local))
		metas, counts = make([]map[string]string, len(names)), make([]map[string]string, len(names))
	}
	// Tiers, which take their own locks, are called with none of the
	// store's held; so is outcome, which may purge them.
	for i, n := range names {
		st.Namespaces = append(st.Namespaces, namespaceStats(n, metas[i], counts[i], local[n]))
	}
	if rerr != nil {
		if !errors.Is(rerr, errNotAnswering) {
			rerr = s.outcome(ctx, rerr)
		}
		return st, fmt.Errorf("store: stats %s: %w", s.loc, rerr)
	}
	s.outcome(ctx, nil)
	return st, nil
}

// A localNS is what this process knows of a namespace it claimed.
type localNS struct {
	spec     *driver.NamespaceSpec // nil if not claimed here
	unpushed tally.Counts          // counted here, not yet on the server
	tier     driver.MemoryTier     // or nil
}

// claimed returns what this process knows of the namespaces it claimed,
// by name.
func (s *redisStore) claimed() map[string]localNS {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]localNS, len(s.claims))
	for n, sp := range s.claims {
		u, _, _ := sp.unpushed()
		m[n] = localNS{spec: &sp.spec, unpushed: u, tier: sp.tier}
	}
	return m
}

// namespaceStats returns the stats of namespace name, from its meta and
// counts hashes (nil if the server did not answer) and from c, what this
// process knows of it.
func namespaceStats(name string, meta, counts map[string]string, c localNS) driver.NamespaceStats {
	ns := driver.NamespaceStats{Name: name, Version: meta["version"], KeyType: meta["key_type"], ValueType: meta["value_type"]}
	ns.Created, _ = strconv.ParseInt(meta["created"], 10, 64)
	total := parseCounts(counts)
	if c.spec != nil {
		ns.Claimed = true
		if meta == nil {
			ns.Version, ns.KeyType, ns.ValueType = c.spec.Version, c.spec.KeyType, c.spec.ValueType
		}
		total.Add(&c.unpushed)
		if c.tier != nil {
			ns.MemSize, ns.MemMax = c.tier.Size()
		}
	}
	total.Stats(&ns)
	return ns
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
