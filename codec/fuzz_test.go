package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzValue is a value type with a bit of every shape msgpack decodes.
type fuzzValue struct {
	I    int64
	U    uint16
	S    string
	F    float64
	B    bool
	Raw  []byte
	List []string
	M    map[string]int
	P    *point
	At   time.Time
	Arr  [2]int8
	Kids []*fuzzValue
}

// fuzzSeeds are well-formed payloads to start the decoders from.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	v := fuzzValue{
		I: -5, U: 300, S: "seed", F: 1.5, B: true, Raw: []byte{1, 2}, List: []string{"a", ""},
		M: map[string]int{"k": 1}, P: &point{1, 2}, At: time.Unix(1700000000, 5).UTC(), Arr: [2]int8{-1, 1},
		Kids: []*fuzzValue{{S: "kid"}, nil},
	}
	return [][]byte{
		encodePayload(tb, v),
		encodePayload(tb, fuzzValue{}),
		{0xc0},
		{0x80},
		{0x81, 0xa1, 'I', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0x81, 0xa2, 'A', 't', 0xd6, 0xff, 0, 0, 0, 1},
		{0xdd, 0xff, 0xff, 0xff, 0xff},
	}
}

// clearNaN replaces NaN floats in v, which reflect.DeepEqual never
// considers equal, by zero.
func (v *fuzzValue) clearNaN() {
	if v.F != v.F {
		v.F = 0
	}
	for _, k := range v.Kids {
		if k != nil {
			k.clearNaN()
		}
	}
}

// checkDecoded checks a successful decode: the value encodes, and decodes
// back to itself with its times in UTC. (Value bytes are not canonical:
// msgpack sorts the keys of only a few map types.)
func checkDecoded(t *testing.T, c *Values[fuzzValue], v fuzzValue) {
	t.Helper()
	if v.At.Location() != time.UTC {
		t.Fatalf("decoded time %v is not in UTC", v.At)
	}
	rec, err := c.Encode(v, testKey, Meta{StoredAt: 1, ExpiresAt: 2})
	if err != nil {
		t.Fatalf("Encode(decoded value): %v", err)
	}
	p, err := Payload(rec, testKey)
	if err != nil {
		t.Fatalf("Payload(encoded record): %v", err)
	}
	v2, err := c.Decode(p)
	if err != nil {
		t.Fatalf("Decode(Encode(v)) failed: %v\npayload % x", err, p)
	}
	v.clearNaN()
	v2.clearNaN()
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("value changed in a round trip:\n got %#v\nwant %#v", v2, v)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes, and the key they are read
// under, to the record reader and, when the checksum happens to hold, to
// the value decoder. A record that holds under a key must not hold under
// the key with one bit changed, unless it is of version 1, whose checksum
// leaves out the key.
func FuzzDecodeRecord(f *testing.F) {
	for _, p := range fuzzSeeds(f) {
		f.Add(NewRecord(testKey, 1, 0, p), testKey)
	}
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, HeaderSize), []byte(nil))
	f.Add(version2Record(testKey, 1, 2, []byte{0xc0}), testKey)
	f.Add(Meta{StoredAt: 1, ExpiresAt: 9, Cost: 5, Grace: 3}.Record(testKey, []byte{0xc0}), testKey)
	c := mustValues[fuzzValue](f)
	f.Fuzz(func(t *testing.T, rec, key []byte) {
		h, herr := ParseHeader(rec)
		p, err := Payload(rec, key)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("Payload error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if herr != nil || h.Version < recordVersion1 || h.Version > RecordVersion || len(p) != len(rec)-h.Size() {
			t.Fatalf("Payload accepted a record with header %+v, %v", h, herr)
		}
		for i := range min(len(key)*8, 64) {
			other := bytes.Clone(key)
			other[i/8] ^= 1 << (i % 8)
			if _, err := Payload(rec, other); (err == nil) != (h.Version == recordVersion1) {
				t.Fatalf("version %d record: Payload under key bit %d flipped: %v", h.Version, i, err)
			}
		}
		if v, err := c.Decode(p); err == nil {
			checkDecoded(t, c, v)
		}
	})
}

// FuzzDecodePayload wraps arbitrary bytes in a valid record, so that every
// input reaches the value decoder.
func FuzzDecodePayload(f *testing.F) {
	for _, p := range fuzzSeeds(f) {
		f.Add(p)
	}
	c := mustValues[fuzzValue](f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		rec := NewRecord(testKey, 10, 20, payload)
		p, err := Payload(rec, testKey)
		if err != nil {
			t.Fatalf("Payload(NewRecord(payload)): %v", err)
		}
		if !bytes.Equal(p, payload) {
			t.Fatalf("payload changed in the record")
		}
		v, err := c.Decode(p)
		if err != nil {
			return
		}
		if verr := Validate(p); verr != nil {
			t.Fatalf("Decode accepted bytes that Validate rejects: %v", verr)
		}
		checkDecoded(t, c, v)
	})
}

// FuzzDecodeKey feeds arbitrary bytes to DecodeAny, as memoctl does with
// stored keys.
func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte{0x00})
	f.Add(AppendInt(nil, math.MinInt64))
	f.Add(AppendString(nil, "key"))
	f.Add(mustKeyEncoder[compositeKey](f)(nil, compositeKey{S: "s", A: [2]int8{1, 2}}))
	f.Add([]byte{0x81, 0x01, 0x02})
	f.Add([]byte{0xd6, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeAny(b)
		if err != nil {
			return
		}
		if verr := Validate(b); verr != nil {
			t.Fatalf("DecodeAny accepted bytes that Validate rejects: %v", verr)
		}
		// What DecodeAny returns is ordinary data that msgpack can write.
		if _, err := msgpack.Marshal(v); err != nil {
			t.Fatalf("msgpack.Marshal(DecodeAny(b) = %#v): %v", v, err)
		}
	})
}

// skipsExactly reports whether msgpack's own Skip reads b as exactly one
// value, the reference for Validate.
func skipsExactly(b []byte) bool {
	r := bytes.NewReader(b)
	if err := msgpack.NewDecoder(r).Skip(); err != nil {
		return false
	}
	return r.Len() == 0
}

// FuzzValidate checks Validate against msgpack's own Skip and against the
// structure of msgpack: one value, self-delimiting, nestable.
func FuzzValidate(f *testing.F) {
	for _, p := range fuzzSeeds(f) {
		f.Add(p)
	}
	f.Add([]byte{0xc1})
	f.Add(nested(5, []byte{0x90}))
	f.Add([]byte{0xc7, 0x02, 0x01, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Validate(b)
		deep := errors.Is(err, ErrTooDeep)
		if len(b) <= 1<<16 && !deep {
			if ref := skipsExactly(b); ref != (err == nil) {
				t.Fatalf("Validate(% .64x) = %v, but msgpack's Skip reads one value: %v", b, err, ref)
			}
		}
		if err != nil {
			return
		}
		if Validate(append(bytes.Clone(b), 0xc0)) == nil {
			t.Fatal("Validate accepted a trailing byte")
		}
		if len(b) <= 512 {
			for n := range len(b) {
				if Validate(b[:n]) == nil {
					t.Fatalf("Validate accepted the proper prefix % x of % x", b[:n], b)
				}
			}
		}
		if err := Validate(append([]byte{0x92, 0xc0}, b...)); err != nil && !errors.Is(err, ErrTooDeep) {
			t.Fatalf("Validate([nil, v]) = %v", err)
		}
	})
}

// FuzzKeyRoundTrip checks that key encodings decode back to the key, that
// equal keys give equal bytes, and that different keys give different bytes.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add(int64(0), int64(0), uint64(0), "", "", 0.0, 0.0, float32(0), false)
	f.Add(int64(-33), int64(-32), uint64(math.MaxUint64), "a", "b", math.Copysign(0, -1), 0.0, float32(math.Inf(1)), true)
	f.Add(int64(math.MinInt64), int64(math.MaxInt64), uint64(256), strings.Repeat("x", 32), strings.Repeat("x", 31), math.NaN(), math.Inf(-1), float32(math.NaN()), true)
	intEnc := mustKeyEncoder[int64](f)
	namedEnc := mustKeyEncoder[namedInt64](f)
	int32Enc := mustKeyEncoder[namedInt32](f)
	int8Enc := mustKeyEncoder[int8](f)
	uintEnc := mustKeyEncoder[uint64](f)
	uint16Enc := mustKeyEncoder[namedUint16](f)
	strEnc := mustKeyEncoder[string](f)
	nstrEnc := mustKeyEncoder[namedString](f)
	f64Enc := mustKeyEncoder[float64](f)
	f32Enc := mustKeyEncoder[float32](f)
	boolEnc := mustKeyEncoder[bool](f)
	structEnc := mustKeyEncoder[compositeKey](f)
	f.Fuzz(func(t *testing.T, i, i2 int64, u uint64, s, s2 string, f, f2 float64, f32 float32, b bool) {
		// Integers.
		bi := intEnc(nil, i)
		if v, err := DecodeAny(bi); err != nil || !sameInt(v, i) {
			t.Fatalf("int64 %d: DecodeAny(% x) = %v, %v", i, bi, v, err)
		}
		if !bytes.Equal(bi, intEnc(nil, i)) || !bytes.Equal(bi, namedEnc(nil, namedInt64(i))) ||
			!bytes.Equal(bi, appendValue(nil, reflect.ValueOf(i))) {
			t.Fatalf("int64 %d: encodings disagree", i)
		}
		if bytes.Equal(bi, intEnc(nil, i2)) != (i == i2) {
			t.Fatalf("int64 %d and %d: equal bytes %v", i, i2, i == i2)
		}
		if got, want := int32Enc(nil, namedInt32(i)), AppendInt(nil, int64(int32(i))); !bytes.Equal(got, want) {
			t.Fatalf("int32 %d: % x, want % x", int32(i), got, want)
		}
		if got, want := int8Enc(nil, int8(i)), AppendInt(nil, int64(int8(i))); !bytes.Equal(got, want) {
			t.Fatalf("int8 %d: % x, want % x", int8(i), got, want)
		}
		bu := uintEnc(nil, u)
		if v, err := DecodeAny(bu); err != nil || !sameUint(v, u) {
			t.Fatalf("uint64 %d: DecodeAny(% x) = %v, %v", u, bu, v, err)
		}
		if got, want := uint16Enc(nil, namedUint16(u)), AppendUint(nil, uint64(uint16(u))); !bytes.Equal(got, want) {
			t.Fatalf("uint16 %d: % x, want % x", uint16(u), got, want)
		}
		// A signed and an unsigned key with the same value agree.
		if i >= 0 && !bytes.Equal(bi, AppendUint(nil, uint64(i))) {
			t.Fatalf("int64 %d and uint64 %d encode differently", i, i)
		}

		// Strings.
		bs := strEnc(nil, s)
		if v, err := DecodeAny(bs); err != nil || v != s {
			t.Fatalf("string %q: DecodeAny = %q, %v", s, v, err)
		}
		if !bytes.Equal(bs, nstrEnc(nil, namedString(s))) {
			t.Fatalf("string %q: named encoding differs", s)
		}
		if bytes.Equal(bs, strEnc(nil, s2)) != (s == s2) {
			t.Fatalf("strings %q and %q: equal bytes %v", s, s2, s == s2)
		}

		// Floats: -0.0 is 0.0 and every NaN is one NaN.
		bf := f64Enc(nil, f)
		if v, err := DecodeAny(bf); err != nil || !sameFloat(v, f) {
			t.Fatalf("float64 %v: DecodeAny(% x) = %v, %v", f, bf, v, err)
		}
		if bytes.Equal(bf, f64Enc(nil, f2)) != (f == f2 || math.IsNaN(f) && math.IsNaN(f2)) {
			t.Fatalf("float64 %v and %v: equal bytes % x, % x", f, f2, bf, f64Enc(nil, f2))
		}
		bf32 := f32Enc(nil, f32)
		if v, err := DecodeAny(bf32); err != nil || !sameFloat(v, f32) {
			t.Fatalf("float32 %v: DecodeAny(% x) = %v, %v", f32, bf32, v, err)
		}
		if bytes.Equal(bf32, f32Enc(nil, float32(f))) != (f32 == float32(f) || f32 != f32 && f != f) {
			t.Fatalf("float32 %v and %v: equal bytes % x", f32, float32(f), bf32)
		}

		// Bools.
		if v, err := DecodeAny(boolEnc(nil, b)); err != nil || v != b {
			t.Fatalf("bool %v: DecodeAny = %v, %v", b, v, err)
		}

		// Structs: msgpack reads them back into the key type, and equal
		// keys (== in Go) give equal bytes.
		k := compositeKey{I: int(i), S: s, F: f, F32: f32, B: b, A: [2]int8{int8(i), int8(i2)}, U: uint16(u),
			In: innerKey{Name: s2, N: u}}
		k2 := k
		k2.S = strings.Clone(s)
		if f == 0 {
			k2.F = -f
		}
		bk := structEnc(nil, k)
		if k2 == k && !bytes.Equal(bk, structEnc(nil, k2)) {
			t.Fatalf("equal keys %+v, %+v: different bytes", k, k2)
		}
		if err := Validate(bk); err != nil {
			t.Fatalf("Validate(key): %v", err)
		}
		var back compositeKey
		if err := msgpack.Unmarshal(bk, &back); err != nil {
			t.Fatalf("msgpack.Unmarshal(key): %v", err)
		}
		if !bytes.Equal(structEnc(nil, back), bk) {
			t.Fatalf("key %+v decoded as %+v", k, back)
		}
		other := k
		other.I = int(i2)
		if bytes.Equal(bk, structEnc(nil, other)) != (i == i2) {
			t.Fatalf("keys differing in I (%d, %d): equal bytes %v", i, i2, i == i2)
		}
	})
}

// sameFloat reports whether v, a decoded msgpack float, is f after the key
// encoding's folding of -0.0 and NaN.
func sameFloat[F float32 | float64](v any, f F) bool {
	g, ok := v.(F)
	switch {
	case !ok:
		return false
	case f != f:
		return g != g
	case f == 0:
		return g == 0 && !math.Signbit(float64(g))
	}
	return g == f
}
