package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// maxExpiredCount bounds how many expired index keys Inspect counts per
// namespace, so that it stays quick on a store whose sweeper is off.
const maxExpiredCount = 100_000

// Inspect returns Stats completed with what the file's indexes tell
// cheaply: each namespace's oldest and newest stored-at (the ends of its age
// index), its expired entries awaiting the sweeper (counted from the
// start of its expiry index, up to 100,000) and its stale entries (see
// countStale), and the file's free pages. Its cost grows with the number
// of expired and stale entries, never with the number stored.
func (s *Store) Inspect(ctx context.Context) (driver.Stats, error) {
	st := s.stats()
	release, err := s.hold()
	if err != nil {
		return st, err
	}
	defer release()
	st.PageSize = s.db.Info().PageSize
	st.FreePages = s.db.Stats().FreePageN
	now := s.Now()
	err = s.db.View(func(tx *bolt.Tx) error {
		for i := range st.Namespaces {
			if err := ctx.Err(); err != nil {
				return err
			}
			ns := &st.Namespaces[i]
			if b := tx.Bucket([]byte("a/" + ns.Name)); b != nil {
				c := b.Cursor()
				if k, _ := c.First(); k != nil {
					ns.OldestStoredAt, _, _ = expiry.ParseIndexKey(k)
				}
				if k, _ := c.Last(); k != nil {
					ns.NewestStoredAt, _, _ = expiry.ParseIndexKey(k)
				}
			}
			if b := tx.Bucket([]byte("e/" + ns.Name)); b != nil {
				c := b.Cursor()
				for k, _ := c.First(); k != nil && ns.ExpiredPending < maxExpiredCount; k, _ = c.Next() {
					if at, _, err := expiry.ParseIndexKey(k); err == nil && at > now {
						break
					}
					ns.ExpiredPending++
				}
			}
			ns.Stale = countStale(tx, ns.Name, now)
		}
		return nil
	})
	return st, err
}

// keysChunk is how many keys Keys reads per read transaction: a long read
// transaction would hold up the writer when the file grows.
const keysChunk = 1000

// Keys calls fn for each entry of the namespace, in key order, up to limit
// entries (0 = all). fn runs outside any transaction.
func (s *Store) Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error {
	s.mu.RLock()
	sp := s.spaces[namespace]
	s.mu.RUnlock()
	if sp == nil {
		return fmt.Errorf("store: keys: no namespace %q in %s", namespace, s.path)
	}
	var after []byte
	seen := 0
	for {
		var chunk []driver.KeyInfo
		release, err := s.hold()
		if err != nil {
			return err
		}
		err = s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(sp.dataName)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(chunk) < keysChunk && (limit == 0 || seen+len(chunk) < limit); k, v = c.Next() {
				chunk = append(chunk, keyInfo(k, v))
				after = bytes.Clone(k)
			}
			return nil
		})
		release()
		if err != nil {
			return err
		}
		for _, ki := range chunk {
			if err := fn(ki); err != nil {
				return err
			}
		}
		seen += len(chunk)
		if len(chunk) < keysChunk || (limit != 0 && seen >= limit) {
			return nil
		}
	}
}

func keyInfo(k, rec []byte) driver.KeyInfo {
	ki := driver.KeyInfo{Bytes: len(k) + len(rec)}
	key, err := codec.DecodeAny(k)
	if err != nil {
		ki.RawKey, ki.Error = hex.EncodeToString(k), err.Error()
	}
	if _, jerr := json.Marshal(key); jerr != nil {
		ki.RawKey = hex.EncodeToString(k)
		key = jsonSafe(key)
		if _, jerr := json.Marshal(key); jerr != nil {
			key, ki.Error = nil, jerr.Error()
		}
	}
	ki.Key = key
	h, err := codec.ParseHeader(rec)
	if err != nil {
		ki.Error = err.Error()
	}
	ki.StoredAt, ki.ExpiresAt = h.StoredAt, h.ExpiresAt
	return ki
}

// jsonSafe returns v, a decoded key, with the floats JSON has no number
// for made strings, and maps with keys other than strings keyed by their
// printed keys.
func jsonSafe(v any) any {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
	case float32:
		return jsonSafe(float64(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonSafe(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonSafe(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonSafe(e)
		}
		return out
	}
	return v
}

// countStale counts the entries of namespace name that are stale at now:
// past their TTL, kept for StaleWhileRevalidate or StaleIfError, and not
// yet expired. They are the start of its stale index, up to now, whose
// expires-at (the index value) is after now and whose record is still the
// one indexed; at most maxExpiredCount index keys are read.
func countStale(tx *bolt.Tx, name string, now int64) int64 {
	b, d := tx.Bucket([]byte("s/"+name)), tx.Bucket([]byte("d/"+name))
	if b == nil || d == nil {
		return 0
	}
	var n int64
	c := b.Cursor()
	read := 0
	for k, v := c.First(); k != nil && read < maxExpiredCount; k, v = c.Next() {
		read++
		at, key, err := expiry.ParseIndexKey(k)
		if err != nil {
			continue
		}
		if at > now {
			break
		}
		if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now {
			continue // expired, awaiting the sweeper
		}
		if h, err := codec.ParseHeader(d.Get(key)); err == nil && h.StaleAt() == at && h.Stale(now) {
			n++
		}
	}
	return n
}
