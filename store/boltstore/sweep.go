package boltstore

import (
	"bytes"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// indexed is one index key, split, copied out of its transaction's pages.
type indexed struct {
	ik  []byte // the whole index key
	at  int64
	key []byte
}

// firstIndexed returns up to limit index keys from the start of b whose
// time is at most until. bbolt's cursor may skip keys when the bucket
// changes under it, so keys are collected first and deleted after.
func firstIndexed(b *bolt.Bucket, until int64, limit int) []indexed {
	var out []indexed
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		at, _, err := expiry.ParseIndexKey(k)
		if err != nil {
			// Not an index key of ours; drop it with the rest.
			out = append(out, indexed{ik: bytes.Clone(k)})
			continue
		}
		if at > until {
			break
		}
		ik := bytes.Clone(k)
		out = append(out, indexed{ik: ik, at: at, key: ik[expiry.IndexKeySize:]})
	}
	return out
}

// matches reports whether rec, found under key, an index key's entry key, is the
// record the index key was made for. A record whose header does not parse
// is reported as matching, so that the caller removes it (and counts it).
//
// A record whose timestamps disagree with the index key is checked: if it
// fails its checksum (a timestamp was damaged), it is reported as matching
// too, else the index key is stale (the entry was replaced).
func matches(rec, key []byte, at int64, stored bool, c *counters) bool {
	h, err := codec.ParseHeader(rec)
	if err == nil && (stored && h.StoredAt == at || !stored && h.ExpiresAt == at) {
		return true
	}
	if err == nil {
		_, err = codec.Payload(rec, key)
	}
	if err != nil {
		c.DecodeErrors++
		return true
	}
	return false
}

// sweep deletes up to limit index keys of entries that expired at or before
// now, with their entries, across all namespaces. It returns how many
// entries it deleted and whether it stopped at limit.
func (st *txState) sweep(tx *bolt.Tx, now int64, limit int) (removed int, full bool, err error) {
	seen := 0
	for _, sp := range st.spaces {
		if seen >= limit {
			return removed, true, nil
		}
		b, err := st.bucketsOf(tx, sp)
		if err != nil {
			return removed, false, err
		}
		due := firstIndexed(b.e, now, limit-seen)
		seen += len(due)
		for _, x := range due {
			rec, _ := seek(b.d, &b.cd, x.key)
			if rec != nil && x.key != nil && matches(rec, x.key, x.at, false, st.counters(sp)) {
				if err := st.remove(b, sp, x.key, rec); err != nil {
					return removed, false, err
				}
				st.counters(sp).Expirations++
				removed++
				continue
			}
			// A stale index key: its entry was replaced or is gone.
			if err := b.e.Delete(x.ik); err != nil {
				return removed, false, err
			}
		}
	}
	return removed, seen >= limit, nil
}
