package driver

import (
	"fmt"

	"github.com/memostore/memostore/codec"
)

// MaxRecordBytes is the largest record a store persists. Larger values
// are still returned and kept in memory, but not written; the write is
// counted as a write error and logged.
const MaxRecordBytes = 64 << 20

// MaxKeyBytes is the longest key a store persists: bbolt's limit (32
// KiB) less the 8-byte time prefix of the index keys made from it. It
// is one limit for every backend, so that a key is stored by all or by
// none.
const MaxKeyBytes = 32<<10 - 8

// CheckPut reports why key and rec, a record made by package codec, must
// not be stored: a record over MaxRecordBytes, a key that is empty or
// over MaxKeyBytes, a header that does not parse or has a time before
// 1970. store calls it before every Put.
func CheckPut(key, rec []byte) error {
	if len(rec) > MaxRecordBytes {
		return fmt.Errorf("record of %d bytes exceeds MaxRecordBytes (%d)", len(rec), MaxRecordBytes)
	}
	if len(key) == 0 || len(key) > MaxKeyBytes {
		return fmt.Errorf("key of %d bytes, want 1 to %d", len(key), MaxKeyBytes)
	}
	h, err := codec.ParseHeader(rec)
	if err != nil {
		return err
	}
	// The file's indexes order times as unsigned: one before 1970 would
	// sort after every other, and never be swept.
	if h.StoredAt < 0 || h.ExpiresAt < 0 {
		return fmt.Errorf("record stored at %d, expiring at %d: a time before 1970", h.StoredAt, h.ExpiresAt)
	}
	return nil
}

// OpenRecord hands the payload of rec, the record stored under key, to
// decode, unless rec has expired at now (false, nil). The error is the
// record's (a bad header, or a checksum that does not hold for rec under
// key) or decode's: the record is then bad, on any backend.
func OpenRecord(rec, key []byte, now int64, decode DecodeFunc) (bool, error) {
	h, err := codec.ParseHeader(rec)
	if err != nil {
		return false, err
	}
	if h.Expired(now) {
		return false, nil
	}
	payload, err := codec.Payload(rec, key)
	if err == nil {
		err = decode(payload, h)
	}
	return err == nil, err
}
