// Package codec turns memoized keys and values into the bytes that the disk
// tier stores, and back.
//
// Keys are encoded deterministically in MessagePack: equal keys give equal
// bytes in every process on every machine, and different keys give different
// bytes. Structs are encoded as maps of their fields in declaration order,
// arrays as arrays, and -0.0 is folded into 0.0 (they compare equal in Go).
// Integer and string keys take a fast path that uses no reflection.
//
// Values are encoded with github.com/vmihailenco/msgpack/v5 and wrapped in a
// record: a fixed header holding the format version, the stored-at and
// expires-at times and a CRC-32C of those, of the key the record is stored
// under and of the payload, followed by the payload (see [NewRecord]). The
// header can be read without decoding the payload, and a payload is decoded
// only after its checksum matches.
//
// [CheckKey] and [CheckValue] reject types that cannot be stored faithfully,
// naming the offending type and field.
//
// # Caveats
//
//   - time.Time values come back as the same instant in UTC, without a
//     monotonic clock reading: compare them with [time.Time.Equal]. A time
//     that was in UTC to begin with round-trips exactly.
//   - NaN keys all encode to the same bytes, so a NaN key can hit on disk
//     although it never hits in memory (NaN != NaN in Go).
//   - Keys cannot contain time.Time (its fields are unexported, and two
//     equal instants in different locations are different Go keys); use the
//     Unix nanoseconds instead.
package codec
