package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// testKey is the key the tests' records are stored under.
var testKey = []byte{0xa3, 'k', 'e', 'y'}

// mustPayload returns the payload of rec, stored under testKey, or stops
// the test.
func mustPayload(tb testing.TB, rec []byte) []byte {
	tb.Helper()
	p, err := Payload(rec, testKey)
	if err != nil {
		tb.Fatalf("Payload: %v", err)
	}
	return p
}

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name                string
		storedAt, expiresAt int64
		cost, grace         time.Duration
		payload             []byte
	}{
		{"zero", 0, 0, 0, 0, []byte{0xc0}},
		{"typical", 1_700_000_000_123_456_789, 1_700_086_400_123_456_789, 1500 * time.Microsecond, time.Hour, []byte{0xa3, 'a', 'b', 'c'}},
		{"negative times", -1, -2, 0, 0, []byte{0x01}},
		{"extremes", math.MinInt64, math.MaxInt64, math.MaxUint32 * time.Microsecond, math.MaxUint32 * time.Millisecond, []byte{0x90}},
		{"extremes swapped", math.MaxInt64, math.MinInt64, 0, 0, []byte{0x80}},
		{"empty payload", 42, 0, time.Second, 0, nil},
		{"large payload", 7, 8, 0, time.Millisecond, bytes.Repeat([]byte{0xab}, 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Meta{StoredAt: tt.storedAt, ExpiresAt: tt.expiresAt, Cost: tt.cost, Grace: tt.grace}.Record(testKey, tt.payload)
			if len(rec) != HeaderSize+len(tt.payload) {
				t.Fatalf("record is %d bytes, want %d", len(rec), HeaderSize+len(tt.payload))
			}
			h, err := ParseHeader(rec)
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			// The checksum covers version and timestamps, cost and grace,
			// then the key, then the payload.
			covered := binary.BigEndian.AppendUint64([]byte{RecordVersion}, uint64(tt.storedAt))
			covered = binary.BigEndian.AppendUint64(covered, uint64(tt.expiresAt))
			covered = binary.BigEndian.AppendUint32(covered, uint32(tt.cost/time.Microsecond))
			covered = binary.BigEndian.AppendUint32(covered, uint32(tt.grace/time.Millisecond))
			covered = append(covered, testKey...)
			want := Header{
				Version:   RecordVersion,
				StoredAt:  tt.storedAt,
				ExpiresAt: tt.expiresAt,
				Checksum:  crc32.Checksum(append(covered, tt.payload...), crc32.MakeTable(crc32.Castagnoli)),
				Cost:      tt.cost,
				Grace:     tt.grace,
			}
			if tt.expiresAt == 0 {
				want.Grace = 0 // an entry that never expires has no stale window
			}
			if h != want {
				t.Errorf("header = %+v, want %+v", h, want)
			}
			// The documented layout, byte for byte.
			if rec[0] != RecordVersion ||
				int64(binary.BigEndian.Uint64(rec[1:9])) != tt.storedAt ||
				int64(binary.BigEndian.Uint64(rec[9:17])) != tt.expiresAt ||
				binary.BigEndian.Uint32(rec[17:21]) != want.Checksum ||
				time.Duration(binary.BigEndian.Uint32(rec[21:25]))*time.Microsecond != want.Cost ||
				time.Duration(binary.BigEndian.Uint32(rec[25:29]))*time.Millisecond != want.Grace {
				t.Errorf("layout differs from record.go's table: % x", rec[:HeaderSize])
			}
			p := mustPayload(t, rec)
			if !bytes.Equal(p, tt.payload) {
				t.Errorf("payload = % .16x, want % .16x", p, tt.payload)
			}
			// ParseHeader reads only the header.
			if h2, err := ParseHeader(rec[:HeaderSize]); err != nil || h2 != want {
				t.Errorf("ParseHeader(header only) = %+v, %v", h2, err)
			}
		})
	}
}

// TestMetaUnits: cost is kept in whole microseconds (rounded down), grace
// in whole milliseconds rounded up (an entry is never fresh past its TTL),
// both saturating, and neither negative.
func TestMetaUnits(t *testing.T) {
	tests := []struct {
		cost, grace         time.Duration
		wantCost, wantGrace time.Duration
	}{
		{1999 * time.Nanosecond, 1, time.Microsecond, time.Millisecond},
		{-time.Second, -time.Second, 0, 0},
		{100 * time.Hour, 100 * 24 * time.Hour, math.MaxUint32 * time.Microsecond, math.MaxUint32 * time.Millisecond},
		{time.Minute, 1500 * time.Microsecond, time.Minute, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		h, err := ParseHeader(Meta{StoredAt: 1, ExpiresAt: 2, Cost: tt.cost, Grace: tt.grace}.Record(testKey, []byte{0xc0}))
		if err != nil || h.Cost != tt.wantCost || h.Grace != tt.wantGrace {
			t.Errorf("cost %v, grace %v: header %+v, %v; want cost %v, grace %v", tt.cost, tt.grace, h, err, tt.wantCost, tt.wantGrace)
		}
	}
}

// TestHeaderStale: an entry with a grace is stale from expires-at less
// its grace to expires-at; without one, or never expiring, it never is.
func TestHeaderStale(t *testing.T) {
	h := Header{Version: RecordVersion, ExpiresAt: 10_000_000, Grace: 4 * time.Millisecond}
	for _, tt := range []struct {
		now  int64
		want bool
	}{{5_999_999, false}, {6_000_000, true}, {9_999_999, true}, {10_000_000, false}} {
		if got := h.Stale(tt.now); got != tt.want {
			t.Errorf("%+v: Stale(%d) = %v, want %v", h, tt.now, got, tt.want)
		}
	}
	if h.StaleAt() != 6_000_000 {
		t.Errorf("StaleAt = %d, want 6000000", h.StaleAt())
	}
	for _, h := range []Header{{ExpiresAt: 10}, {Grace: time.Hour}} {
		if h.StaleAt() != 0 || h.Stale(5) {
			t.Errorf("%+v: StaleAt %d, Stale(5) %v; want 0, false", h, h.StaleAt(), h.Stale(5))
		}
	}
}

func TestNewRecordCopiesPayload(t *testing.T) {
	payload := []byte{0xa2, 'h', 'i'}
	rec := NewRecord(testKey, 1, 2, payload)
	payload[1] = 'X'
	if p := mustPayload(t, rec); string(p) != "\xa2hi" {
		t.Errorf("record changed with its input: payload % x", p)
	}
}

func TestPayloadAliasesRecord(t *testing.T) {
	rec := NewRecord(testKey, 1, 2, []byte{0xa2, 'h', 'i'})
	p := mustPayload(t, rec)
	if &p[0] != &rec[HeaderSize] {
		t.Error("Payload copied; its doc says the result aliases rec")
	}
}

func TestHeaderExpired(t *testing.T) {
	tests := []struct {
		name      string
		expiresAt int64
		now       int64
		want      bool
	}{
		{"never, at zero", 0, 0, false},
		{"never, far future", 0, math.MaxInt64, false},
		{"never, far past", 0, math.MinInt64, false},
		{"before", 100, 99, false},
		{"at the instant", 100, 100, true},
		{"after", 100, 101, true},
		{"long after", 100, math.MaxInt64, true},
		{"long before", 100, math.MinInt64, false},
		{"negative deadline, before", -5, -6, false},
		{"negative deadline, at", -5, -5, true},
		{"negative deadline, now zero", -5, 0, true},
		{"max deadline", math.MaxInt64, math.MaxInt64 - 1, false},
		{"max deadline reached", math.MaxInt64, math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Header{Version: RecordVersion, StoredAt: 1, ExpiresAt: tt.expiresAt}
			if got := h.Expired(tt.now); got != tt.want {
				t.Errorf("Header{ExpiresAt: %d}.Expired(%d) = %v, want %v", tt.expiresAt, tt.now, got, tt.want)
			}
			// A record built with that deadline says the same.
			h2, err := ParseHeader(NewRecord(testKey, 1, tt.expiresAt, []byte{0xc0}))
			if err != nil || h2.Expired(tt.now) != tt.want {
				t.Errorf("record header %+v, %v: Expired(%d) = %v, want %v", h2, err, tt.now, h2.Expired(tt.now), tt.want)
			}
		})
	}
}

func TestPayloadDetectsCorruption(t *testing.T) {
	payload, err := msgpack.Marshal(map[string]any{"name": "Ada", "tags": []string{"x", "y"}, "n": 1234567})
	if err != nil {
		t.Fatal(err)
	}
	rec := Meta{StoredAt: 1_700_000_000, ExpiresAt: 1_800_000_000, Cost: time.Second, Grace: time.Minute}.Record(testKey, payload)
	mustPayload(t, rec)
	// CRC-32C catches every error burst of up to 32 bits, so every flipped
	// byte in the checksum, cost, grace or payload is caught, whatever the
	// flip.
	for i := 17; i < len(rec); i++ {
		for _, mask := range []byte{0x01, 0x80, 0x55, 0xff} {
			bad := bytes.Clone(rec)
			bad[i] ^= mask
			if _, err := Payload(bad, testKey); !errors.Is(err, ErrBadRecord) {
				t.Errorf("byte %d ^ %#02x: Payload error %v, want ErrBadRecord", i, mask, err)
			}
		}
	}
	// The version byte is checked too: relabelled version 1, whose
	// checksum leaves out the key, the record fails its checksum.
	for _, v := range []byte{0, recordVersion1, recordVersion2, RecordVersion + 1, 0xff} {
		bad := bytes.Clone(rec)
		bad[0] = v
		if _, err := Payload(bad, testKey); !errors.Is(err, ErrBadRecord) {
			t.Errorf("version %d: Payload error %v, want ErrBadRecord", v, err)
		}
	}
	// ParseHeader does not check the checksum: a change in the timestamps,
	// cost or grace is not its error, but it must show in the parsed
	// header.
	for i := 1; i < HeaderSize; i++ {
		if i >= 17 && i < 21 {
			continue // the checksum
		}
		bad := bytes.Clone(rec)
		bad[i] ^= 0x01
		h, err := ParseHeader(bad)
		if err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		if h.StoredAt == 1_700_000_000 && h.ExpiresAt == 1_800_000_000 && h.Cost == time.Second && h.Grace == time.Minute {
			t.Errorf("byte %d: flip not visible in header %+v", i, h)
		}
	}
	// Dropping or adding a byte is caught as well.
	if _, err := Payload(rec[:len(rec)-1], testKey); !errors.Is(err, ErrBadRecord) {
		t.Errorf("record missing its last byte: %v", err)
	}
	if _, err := Payload(append(bytes.Clone(rec), 0), testKey); !errors.Is(err, ErrBadRecord) {
		t.Errorf("record with an extra byte: %v", err)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	good := NewRecord(testKey, 5, 6, []byte{0x07})
	tests := []struct {
		name string
		rec  []byte
		want string
	}{
		{"nil", nil, "0 bytes"},
		{"empty", []byte{}, "0 bytes"},
		{"one byte", []byte{RecordVersion}, "1 bytes"},
		{"one short of version 2's", good[:20], "20 bytes"},
		{"one short of version 3's", good[:HeaderSize-1], "28 bytes"},
		{"version 0", append([]byte{0}, good[1:]...), "version 0"},
		{"version 4", append([]byte{4}, good[1:]...), "version 4"},
		{"version 255", append([]byte{255}, good[1:]...), "version 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHeader(tt.rec)
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("ParseHeader error %v, want ErrBadRecord", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if _, err := Payload(tt.rec, testKey); !errors.Is(err, ErrBadRecord) {
				t.Errorf("Payload error %v, want ErrBadRecord", err)
			}
		})
	}
}

// TestChecksumCoversKey: a record opened under any key but its own fails
// its checksum, whatever bit of the key changed, and whatever its length.
func TestChecksumCoversKey(t *testing.T) {
	key := AppendString(nil, "user-alice")
	rec := NewRecord(key, 1, 2, AppendString(nil, "alice's value"))
	if _, err := Payload(rec, key); err != nil {
		t.Fatalf("Payload under its own key: %v", err)
	}
	for i := range len(key) * 8 {
		other := bytes.Clone(key)
		other[i/8] ^= 1 << (i % 8)
		if _, err := Payload(rec, other); !errors.Is(err, ErrBadRecord) {
			t.Errorf("key bit %d flipped (%q): Payload error %v, want ErrBadRecord", i, other, err)
		}
	}
	for _, other := range [][]byte{nil, {}, key[:len(key)-1], append(bytes.Clone(key), 0)} {
		if _, err := Payload(rec, other); !errors.Is(err, ErrBadRecord) {
			t.Errorf("key %q: Payload error %v, want ErrBadRecord", other, err)
		}
	}
	// Encode covers the key too.
	enc, err := mustValues[string](t).Encode("alice's value", key, Meta{StoredAt: 1, ExpiresAt: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, rec) {
		t.Errorf("Encode = % x, want NewRecord's % x", enc, rec)
	}
}

// version1Record builds a record as version 1 wrote it: the checksum
// covers the version, the timestamps and the payload, not the key.
func version1Record(storedAt, expiresAt int64, payload []byte) []byte {
	rec := []byte{recordVersion1}
	rec = binary.BigEndian.AppendUint64(rec, uint64(storedAt))
	rec = binary.BigEndian.AppendUint64(rec, uint64(expiresAt))
	sum := crc32.Checksum(append(bytes.Clone(rec), payload...), crc32.MakeTable(crc32.Castagnoli))
	rec = binary.BigEndian.AppendUint32(rec, sum)
	return append(rec, payload...)
}

// TestVersion1Records: records written by version 1 are read as they were
// written, under any key, and still fail on any damage to what their
// checksum covers.
func TestVersion1Records(t *testing.T) {
	payload := AppendString(nil, "old")
	rec := version1Record(10, 20, payload)
	h, err := ParseHeader(rec)
	if err != nil || h.Version != 1 || h.StoredAt != 10 || h.ExpiresAt != 20 {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
	for _, key := range [][]byte{nil, testKey, AppendString(nil, "any other")} {
		if p, err := Payload(rec, key); err != nil || !bytes.Equal(p, payload) {
			t.Errorf("Payload under key %q = % x, %v; want the payload", key, p, err)
		}
	}
	for i := 1; i < len(rec); i++ {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x01
		if _, err := Payload(bad, testKey); !errors.Is(err, ErrBadRecord) {
			t.Errorf("byte %d flipped: Payload error %v, want ErrBadRecord", i, err)
		}
	}
}

// version2Record builds a record as version 2 wrote it: a 21-byte header
// without cost or grace, whose checksum covers the version, the
// timestamps, the key and the payload.
func version2Record(key []byte, storedAt, expiresAt int64, payload []byte) []byte {
	rec := []byte{recordVersion2}
	rec = binary.BigEndian.AppendUint64(rec, uint64(storedAt))
	rec = binary.BigEndian.AppendUint64(rec, uint64(expiresAt))
	covered := append(append(bytes.Clone(rec), key...), payload...)
	rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(covered, crc32.MakeTable(crc32.Castagnoli)))
	return append(rec, payload...)
}

// TestVersion2Records: records written by version 2 (the previous
// release) are read as they were written, with no cost and no grace, only
// under their own key, and fail on any damage.
func TestVersion2Records(t *testing.T) {
	payload := AppendString(nil, "older")
	rec := version2Record(testKey, 10, 20, payload)
	h, err := ParseHeader(rec)
	if err != nil || h.Version != 2 || h.StoredAt != 10 || h.ExpiresAt != 20 || h.Cost != 0 || h.Grace != 0 || h.Size() != 21 {
		t.Fatalf("ParseHeader = %+v (size %d), %v", h, h.Size(), err)
	}
	if p, err := Payload(rec, testKey); err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("Payload = % x, %v; want the payload", p, err)
	}
	if _, err := Payload(rec, AppendString(nil, "another")); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Payload under another key: %v, want ErrBadRecord", err)
	}
	for i := 1; i < len(rec); i++ {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x01
		if _, err := Payload(bad, testKey); !errors.Is(err, ErrBadRecord) {
			t.Errorf("byte %d flipped: Payload error %v, want ErrBadRecord", i, err)
		}
	}
}
