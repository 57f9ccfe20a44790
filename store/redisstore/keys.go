package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/store/driver"
)

// clearChannel names the channel of clear messages, PREFIX:clear:DB.
// Pub/Sub is server-wide, not per database: without the database number,
// a Clear on one database would purge the memory tiers of a tenant of
// another that uses the same prefix.
func (s *redisStore) clearChannel() string {
	return s.prefix + ":clear:" + strconv.Itoa(s.db)
}

func (s *redisStore) namespacesKey() string { return s.prefix + ":namespaces" }

// keyBase returns PREFIX:NAME: for a namespace. Names may hold ':', which
// is escaped as %3A ('%' is not allowed in names), so that no namespace's
// keys start with another's base and a SCAN of one never sees another.
func (s *redisStore) keyBase(name string) string {
	return s.prefix + ":" + strings.ReplaceAll(name, ":", "%3A") + ":"
}

// keyLayout names the layout of entries' and locks' keys in every
// fingerprint: entries written under an older layout (without slotTag)
// belong to another version, which no process of this one reads, and
// which is reclaimed once no process of the old layout has used it for
// the grace period, as any version is.
const keyLayout = "slot-tagged"

// fingerprint names a namespace's spec in its keys: a changed version or
// type moves the namespace to new keys.
func fingerprint(spec driver.NamespaceSpec) string {
	h := sha256.Sum256([]byte(strings.Join([]string{spec.Version, spec.KeyType, spec.KeyID, spec.ValueType, spec.ValueID, keyLayout}, "\x00")))
	return hex.EncodeToString(h[:8])
}

// slotTag returns {HASH}, 8 hex digits of a hash of key (FNV-1a, 32
// bits), which an entry's key and its lock's hold before key: a Redis
// Cluster hashes a key by its first {...}, so that the two lie in one
// slot, on one node, which receives the Put's write of the entry and
// release of the lock in that order. Keys of different store keys spread
// over the slots. No '{' comes before it: neither the prefix (see open)
// nor a namespace's name (see store.Namespace) may hold one.
func slotTag(key []byte) [10]byte {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	const digits = "0123456789abcdef"
	t := [10]byte{'{', 9: '}'}
	for i := 8; i >= 1; i-- {
		t[i] = digits[h&0xf]
		h >>= 4
	}
	return t
}

// tagged returns base + slotTag(key) + key.
func tagged(base string, key []byte) string {
	t := slotTag(key)
	b := make([]byte, 0, len(base)+len(t)+len(key))
	b = append(b, base...)
	b = append(b, t[:]...)
	b = append(b, key...)
	return string(b)
}

// entryKey returns the key of the entry of key under g:
// PREFIX:NAME:VERSION:STORE.NS:d:{HASH}KEY.
func (g *gens) entryKey(key []byte) string { return tagged(g.data, key) }

// lockKey returns the key of key's computation lock:
// PREFIX:NAME:VERSION:l:{HASH}KEY.
func (n *redisNS) lockKey(key []byte) string { return tagged(n.lock, key) }

// globEscape escapes the characters SCAN's MATCH gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scan calls page with each page of the keys that match pattern, as SCAN
// returns them (never empty), until the scan is done or page returns an
// error, which scan returns. On a cluster (or a Ring) it scans every
// master (every shard), one after the other.
func (s *redisStore) scan(ctx context.Context, pattern string, page func(keys []string) error) error {
	var nodes []*redis.Client
	var mu sync.Mutex
	collect := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, c)
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, collect)
	case *redis.Ring:
		err = c.ForEachShard(ctx, collect)
	default:
		return scanNode(ctx, s.rdb, pattern, page)
	}
	if err != nil {
		return err
	}
	for _, c := range nodes {
		if err := scanNode(ctx, c, pattern, page); err != nil {
			return err
		}
	}
	return nil
}

// scanNode is scan on the server that c talks to.
func scanNode(ctx context.Context, c redis.Cmdable, pattern string, page func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := page(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// verBase returns PREFIX:NAME:VERSION:, which starts every key of n's
// version.
func (n *redisNS) verBase() string { return n.base + n.ver + ":" }

// sharded reports whether client spreads keys over several servers by
// their hash slot: a Cluster (whose nodes refuse a command naming keys
// of two slots with CROSSSLOT) or a Ring (which would send such a command
// to the server of its first key).
func sharded(client redis.UniversalClient) bool {
	switch client.(type) {
	case *redis.ClusterClient, *redis.Ring:
		return true
	}
	return false
}

// getKeys adds to p the reads of keys, and returns the function that
// gives their values once p is sent, as MGET gives them: a string, or nil
// for a missing key. On one server that is one MGET; on a cluster, a GET
// a key, as the keys lie in different slots (the client sends each node
// its GETs, all nodes at once). The error is the first one other than
// redis.Nil.
func (s *redisStore) getKeys(ctx context.Context, p redis.Pipeliner, keys ...string) func() ([]any, error) {
	if !s.sharded {
		mget := p.MGet(ctx, keys...)
		return mget.Result
	}
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = p.Get(ctx, k)
	}
	return func() ([]any, error) {
		vals := make([]any, len(gets))
		for i, g := range gets {
			switch v, err := g.Result(); {
			case err == nil:
				vals[i] = v
			case !errors.Is(err, redis.Nil):
				return nil, err
			}
		}
		return vals, nil
	}
}

// readKeys reads keys in one round trip (see getKeys).
func (s *redisStore) readKeys(ctx context.Context, keys ...string) ([]any, error) {
	if !s.sharded {
		return s.rdb.MGet(ctx, keys...).Result()
	}
	var read func() ([]any, error)
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		read = s.getKeys(ctx, p, keys...)
		return nil
	})
	if err = pipeErr(cmds, err); err != nil {
		return nil, err
	}
	return read()
}

// together sends the commands fn adds in one round trip: a transaction
// (MULTI/EXEC) on one server; on a cluster, where one may not span slots,
// a pipeline, which the client splits by node.
func (s *redisStore) together(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	if s.sharded {
		return s.rdb.Pipelined(ctx, fn)
	}
	return s.rdb.TxPipelined(ctx, fn)
}

// unlink deletes keys, in one round trip: one UNLINK on one server, one
// a key on a cluster.
func (s *redisStore) unlink(ctx context.Context, keys ...string) error {
	if !s.sharded {
		return s.rdb.Unlink(ctx, keys...).Err()
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	return err
}

// exists adds to p the count of which of keys exist, and returns the
// function that gives it once p is sent (see getKeys).
func (s *redisStore) exists(ctx context.Context, p redis.Pipeliner, keys ...string) func() int64 {
	if !s.sharded {
		return p.Exists(ctx, keys...).Val
	}
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = p.Exists(ctx, k)
	}
	return func() int64 {
		var n int64
		for _, c := range cmds {
			n += c.Val()
		}
		return n
	}
}

// firstErr returns the first of errs that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pipeErr returns the first error of cmds, a pipeline's commands, other
// than redis.Nil (a GET of a missing key), which go-redis's Pipelined
// returns as err in its place when it comes first; or else err, unless
// it is redis.Nil (a hook may fail a pipeline without setting its
// commands' errors).
func pipeErr(cmds []redis.Cmder, err error) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
