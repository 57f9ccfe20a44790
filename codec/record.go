package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// RecordVersion is the version of the record layout this package writes.
// Records of versions 1 and 2 are read too (see [Payload]).
const RecordVersion = 3

// HeaderSize is the size in bytes of the header of a record of
// RecordVersion. Records of versions 1 and 2 have a shorter header
// (headerSizeV2); [Header.Size] gives a record's own.
const HeaderSize = 29

// A record is laid out as
//
//	offset  size  field
//	0       1     version (RecordVersion)
//	1       8     stored-at, Unix nanoseconds, big-endian
//	9       8     expires-at, Unix nanoseconds, big-endian; 0 = never
//	17      4     CRC-32C (Castagnoli) of bytes 0-16 and 21-28, of the key and of the payload, big-endian
//	21      4     cost: how long the function took to compute the value, in microseconds, big-endian
//	25      4     grace: how long before expires-at the entry's TTL ended, in milliseconds, big-endian
//	29      ...   payload: one msgpack value
//
// The key is the one the record is stored under (the encoded key, as the
// store has it); it is not in the record, only in its checksum. The
// checksum covers the timestamps and the key as well as the payload, so
// that a flipped bit cannot make an entry live longer, escape eviction, or
// answer for another key unseen: a record moved under a damaged key fails
// its checksum, and is a miss.
//
// Cost and grace saturate at 2^32-1 units (about 71 minutes of cost, 49
// days of grace); grace is rounded up to the millisecond, so that an entry
// is never counted fresh after its TTL. An entry whose grace is not zero
// is stale (served only by StaleWhileRevalidate or StaleIfError) from
// expires-at less grace to expires-at.
//
// Versions 1 and 2, which earlier releases wrote, have neither cost nor
// grace: their header is bytes 0-20 and the payload starts at 21. Version 2's
// checksum covers bytes 0-16, the key and the payload; version 1's leaves
// out the key.

// recordVersion1 is the version of records whose checksum leaves out the
// key, and recordVersion2 of records without cost and grace.
const (
	recordVersion1 = 1
	recordVersion2 = 2
)

// headerSizeV2 is the header size of versions 1 and 2.
const headerSizeV2 = 21

// ErrBadRecord is returned, wrapped, for a record whose header or checksum
// does not hold.
var ErrBadRecord = errors.New("codec: bad record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the fixed part of a record, readable without decoding the
// payload.
type Header struct {
	Version   uint8
	StoredAt  int64         // Unix nanoseconds
	ExpiresAt int64         // Unix nanoseconds; 0 means never
	Checksum  uint32        // CRC-32C of the header (but the checksum), the key (from version 2) and the payload
	Cost      time.Duration // how long the function took; 0 if unknown (versions 1 and 2)
	Grace     time.Duration // how long before ExpiresAt the TTL ended (see StaleAt); 0 if none
}

// Size returns the size of the header of a record of h's version.
func (h Header) Size() int {
	if h.Version == RecordVersion {
		return HeaderSize
	}
	return headerSizeV2
}

// Expired reports whether a record with this header has expired at now
// (Unix nanoseconds). An entry expires at the instant ExpiresAt.
func (h Header) Expired(now int64) bool {
	return h.ExpiresAt != 0 && now >= h.ExpiresAt
}

// StaleAt returns the instant the entry's TTL ended and its stale windows
// began (Unix nanoseconds), or 0 if it has none: it never expires, or it
// was stored without StaleWhileRevalidate or StaleIfError.
func (h Header) StaleAt() int64 {
	if h.Grace <= 0 || h.ExpiresAt == 0 {
		return 0
	}
	return h.ExpiresAt - int64(h.Grace)
}

// Stale reports whether, at now, a record with this header is past its TTL
// but not yet expired: kept for StaleWhileRevalidate or StaleIfError.
func (h Header) Stale(now int64) bool {
	at := h.StaleAt()
	return at != 0 && now >= at && !h.Expired(now)
}

// ParseHeader reads the header at the start of rec, of any version. It
// does not check the checksum (see [Payload]).
func ParseHeader(rec []byte) (Header, error) {
	if len(rec) < headerSizeV2 {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than a header", ErrBadRecord, len(rec))
	}
	h := Header{
		Version:   rec[0],
		StoredAt:  int64(binary.BigEndian.Uint64(rec[1:])),
		ExpiresAt: int64(binary.BigEndian.Uint64(rec[9:])),
		Checksum:  binary.BigEndian.Uint32(rec[17:]),
	}
	switch h.Version {
	case recordVersion1, recordVersion2:
	case RecordVersion:
		if len(rec) < HeaderSize {
			return h, fmt.Errorf("%w: %d bytes is shorter than a version %d header", ErrBadRecord, len(rec), RecordVersion)
		}
		h.Cost = time.Duration(binary.BigEndian.Uint32(rec[21:])) * time.Microsecond
		h.Grace = time.Duration(binary.BigEndian.Uint32(rec[25:])) * time.Millisecond
	default:
		return h, fmt.Errorf("%w: version %d, want %d to %d", ErrBadRecord, h.Version, recordVersion1, RecordVersion)
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
	if sum := checksum(rec, key, h.Size()); sum != h.Checksum {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrBadRecord, sum, h.Checksum)
	}
	return rec[h.Size():], nil
}

// checksum is the CRC-32C of rec's header but its checksum (size bytes in
// all), key and rec's payload.
func checksum(rec, key []byte, size int) uint32 {
	sum := crc32.Checksum(rec[:17], castagnoli)
	sum = crc32.Update(sum, castagnoli, rec[21:size])
	sum = crc32.Update(sum, castagnoli, key)
	return crc32.Update(sum, castagnoli, rec[size:])
}

// Meta is what a record holds besides its payload.
type Meta struct {
	StoredAt  int64         // Unix nanoseconds
	ExpiresAt int64         // Unix nanoseconds; 0 = never
	Cost      time.Duration // how long the function took to compute the value
	Grace     time.Duration // how long before ExpiresAt the entry's TTL ended; at most MaxGrace (see Record)
}

// MaxGrace is the longest grace a record holds (2^32-1 milliseconds, about
// 49.7 days). A record made with a longer one keeps the end of its TTL and
// expires MaxGrace after it: an entry is never fresh after its TTL.
const MaxGrace = math.MaxUint32 * time.Millisecond

// units returns d in units of u, rounded up if up, within 0 to 2^32-1.
func units(d, u time.Duration, up bool) uint32 {
	if d <= 0 {
		return 0
	}
	n := d / u
	if up && d%u != 0 {
		n++
	}
	return uint32(min(n, math.MaxUint32))
}

// putHeader fills the header of rec, stored under key, whose payload is
// already in place after HeaderSize bytes.
func putHeader(rec, key []byte, m Meta) {
	if over := m.Grace - MaxGrace; m.ExpiresAt != 0 && over > 0 {
		m.ExpiresAt -= int64(over)
		m.Grace = MaxGrace
	}
	rec[0] = RecordVersion
	binary.BigEndian.PutUint64(rec[1:], uint64(m.StoredAt))
	binary.BigEndian.PutUint64(rec[9:], uint64(m.ExpiresAt))
	binary.BigEndian.PutUint32(rec[21:], units(m.Cost, time.Microsecond, false))
	grace := uint32(0)
	if m.ExpiresAt != 0 {
		grace = units(m.Grace, time.Millisecond, true)
	}
	binary.BigEndian.PutUint32(rec[25:], grace)
	binary.BigEndian.PutUint32(rec[17:], checksum(rec, key, HeaderSize))
}

// Record returns a record with m's times, to be stored under key, holding
// payload, which must be one msgpack value.
func (m Meta) Record(key, payload []byte) []byte {
	rec := make([]byte, HeaderSize+len(payload))
	copy(rec[HeaderSize:], payload)
	putHeader(rec, key, m)
	return rec
}

// NewRecord returns a record, to be stored under key, holding payload,
// which must be one msgpack value, with no cost and no grace (see
// [Meta.Record]).
func NewRecord(key []byte, storedAt, expiresAt int64, payload []byte) []byte {
	return Meta{StoredAt: storedAt, ExpiresAt: expiresAt}.Record(key, payload)
}
