package expiry

import (
	"encoding/binary"
	"errors"
)

// An index key orders entries by a time, then by their key:
//
//	offset  size  field
//	0       8     time, Unix nanoseconds, big-endian
//	8       ...   the entry's key (its msgpack encoding)
//
// Big-endian makes bbolt's byte order the time order, so a cursor from
// First() visits the soonest-expiring (or oldest-stored) entries first and
// a sweep stops at the first key still in the future: O(entries removed).
// Each namespace has its own index buckets, so the namespace is implied by
// the bucket.

// IndexKeySize is the size of an index key's time prefix.
const IndexKeySize = 8

// ErrIndexKey is returned for an index key too short to hold its time.
var ErrIndexKey = errors.New("expiry: index key shorter than 8 bytes")

// AppendIndexKey appends the index key of key at time at to dst.
func AppendIndexKey(dst []byte, at int64, key []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(at))
	return append(dst, key...)
}

// ParseIndexKey splits an index key into its time and the entry's key. The
// key aliases ik.
func ParseIndexKey(ik []byte) (at int64, key []byte, err error) {
	if len(ik) < IndexKeySize {
		return 0, nil, ErrIndexKey
	}
	return int64(binary.BigEndian.Uint64(ik)), ik[IndexKeySize:], nil
}
