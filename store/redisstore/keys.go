package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

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

// fingerprint names a namespace's spec in its keys: a changed version or
// type moves the namespace to new keys.
func fingerprint(spec driver.NamespaceSpec) string {
	h := sha256.Sum256([]byte(strings.Join([]string{spec.Version, spec.KeyType, spec.KeyID, spec.ValueType, spec.ValueID}, "\x00")))
	return hex.EncodeToString(h[:8])
}

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
// error, which scan returns.
func (s *redisStore) scan(ctx context.Context, pattern string, page func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, pattern, 1000).Result()
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
