package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// RecordVersion is the version of the record layout this package writes.
// Records of version 1 are read too (see [Payload]).
const RecordVersion = 2

// HeaderSize is the size in bytes of a record's header.
const HeaderSize = 21

// A record is laid out as
//
//	offset  size  field
//	0       1     version (RecordVersion)
//	1       8     stored-at, Unix nanoseconds, big-endian
//	9       8     expires-at, Unix nanoseconds, big-endian; 0 = never
//	17      4     CRC-32C (Castagnoli) of bytes 0-16, of the key and of the payload, big-endian
//	21      ...   payload: one msgpack value
//
// The key is the one the record is stored under (the encoded key, as the
// store has it); it is not in the record, only in its checksum. The
// checksum covers the timestamps and the key as well as the payload, so
// that a flipped bit cannot make an entry live longer, escape eviction, or
// answer for another key unseen: a record moved under a damaged key fails
// its checksum, and is a miss.
//
// Version 1, which earlier releases wrote, has the same layout, but its
// checksum covers bytes 0-16 and the payload only, not the key.

// recordVersion1 is the version of records whose checksum leaves out the key.
const recordVersion1 = 1

// ErrBadRecord is returned, wrapped, for a record whose header or checksum
// does not hold.
var ErrBadRecord = errors.New("codec: bad record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the fixed part of a record, readable without decoding the
// payload.
type Header struct {
	Version   uint8
	StoredAt  int64  // Unix nanoseconds
	ExpiresAt int64  // Unix nanoseconds; 0 means never
	Checksum  uint32 // CRC-32C of the header's first 17 bytes, the key (version 2) and the payload
}

// Expired reports whether a record with this header has expired at now
// (Unix nanoseconds). An entry expires at the instant ExpiresAt.
func (h Header) Expired(now int64) bool {
	return h.ExpiresAt != 0 && now >= h.ExpiresAt
}

// ParseHeader reads the header at the start of rec, of either version. It
// does not check the checksum (see [Payload]).
func ParseHeader(rec []byte) (Header, error) {
	if len(rec) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than a header", ErrBadRecord, len(rec))
	}
	h := Header{
		Version:   rec[0],
		StoredAt:  int64(binary.BigEndian.Uint64(rec[1:])),
		ExpiresAt: int64(binary.BigEndian.Uint64(rec[9:])),
		Checksum:  binary.BigEndian.Uint32(rec[17:]),
	}
	if h.Version != RecordVersion && h.Version != recordVersion1 {
		return h, fmt.Errorf("%w: version %d, want %d or %d", ErrBadRecord, h.Version, recordVersion1, RecordVersion)
	}
	return h, nil
}

// Payload returns the payload of rec, the record stored under key, after
// checking its header and checksum, which covers the timestamps and, from
// version 2, key. A version 1 record is accepted under any key, as it was
// written. The result aliases rec.
func Payload(rec, key []byte) ([]byte, error) {
	h, err := ParseHeader(rec)
	if err != nil {
		return nil, err
	}
	if h.Version == recordVersion1 {
		key = nil
	}
	if sum := checksum(rec, key); sum != h.Checksum {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrBadRecord, sum, h.Checksum)
	}
	return rec[HeaderSize:], nil
}

// checksum is the CRC-32C of rec's version and timestamps, key and rec's
// payload.
func checksum(rec, key []byte) uint32 {
	sum := crc32.Checksum(rec[:17], castagnoli)
	sum = crc32.Update(sum, castagnoli, key)
	return crc32.Update(sum, castagnoli, rec[HeaderSize:])
}

// putHeader fills the header of rec, stored under key, whose payload is
// already in place.
func putHeader(rec, key []byte, storedAt, expiresAt int64) {
	rec[0] = RecordVersion
	binary.BigEndian.PutUint64(rec[1:], uint64(storedAt))
	binary.BigEndian.PutUint64(rec[9:], uint64(expiresAt))
	binary.BigEndian.PutUint32(rec[17:], checksum(rec, key))
}

// NewRecord returns a record, to be stored under key, holding payload,
// which must be one msgpack value.
func NewRecord(key []byte, storedAt, expiresAt int64, payload []byte) []byte {
	rec := make([]byte, HeaderSize+len(payload))
	copy(rec[HeaderSize:], payload)
	putHeader(rec, key, storedAt, expiresAt)
	return rec
}
