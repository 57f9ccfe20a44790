package codec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// mustKeyEncoder returns the key encoder for K or stops the test.
func mustKeyEncoder[K comparable](tb testing.TB) KeyEncoder[K] {
	tb.Helper()
	enc, err := NewKeyEncoder[K]()
	if err != nil {
		tb.Fatalf("NewKeyEncoder[%s]: %v", reflect.TypeFor[K](), err)
	}
	return enc
}

// unhex decodes a hex string written with optional spaces.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// strHeader is the expected msgpack string header for a string of n bytes.
func strHeader(tb testing.TB, n int) []byte {
	tb.Helper()
	switch {
	case n < 32:
		return []byte{0xa0 | byte(n)}
	case n < 1<<8:
		return []byte{0xd9, byte(n)}
	case n < 1<<16:
		return []byte{0xda, byte(n >> 8), byte(n)}
	}
	return []byte{0xdb, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func TestAppendInt(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "00"},
		{1, "01"},
		{127, "7f"},
		{128, "cc 80"},
		{255, "cc ff"},
		{256, "cd 0100"},
		{65535, "cd ffff"},
		{65536, "ce 00010000"},
		{math.MaxUint32, "ce ffffffff"},
		{math.MaxUint32 + 1, "cf 0000000100000000"},
		{math.MaxInt64, "cf 7fffffffffffffff"},
		{-1, "ff"},
		{-32, "e0"},
		{-33, "d0 df"},
		{-128, "d0 80"},
		{-129, "d1 ff7f"},
		{math.MinInt16, "d1 8000"},
		{math.MinInt16 - 1, "d2 ffff7fff"},
		{math.MinInt32, "d2 80000000"},
		{math.MinInt32 - 1, "d3 ffffffff7fffffff"},
		{math.MinInt64, "d3 8000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			want := unhex(t, tt.want)
			if got := AppendInt(nil, tt.n); !bytes.Equal(got, want) {
				t.Errorf("AppendInt(%d) = % x, want % x", tt.n, got, want)
			}
			// The bytes are plain msgpack: the reference decoder agrees.
			var back int64
			if err := msgpack.Unmarshal(want, &back); err != nil || back != tt.n {
				t.Errorf("msgpack.Unmarshal(% x) = %d, %v; want %d", want, back, err, tt.n)
			}
		})
	}
}

func TestAppendUint(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "00"},
		{127, "7f"},
		{128, "cc 80"},
		{255, "cc ff"},
		{256, "cd 0100"},
		{65535, "cd ffff"},
		{65536, "ce 00010000"},
		{math.MaxUint32, "ce ffffffff"},
		{math.MaxUint32 + 1, "cf 0000000100000000"},
		{math.MaxUint64, "cf ffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			want := unhex(t, tt.want)
			if got := AppendUint(nil, tt.n); !bytes.Equal(got, want) {
				t.Errorf("AppendUint(%d) = % x, want % x", tt.n, got, want)
			}
			var back uint64
			if err := msgpack.Unmarshal(want, &back); err != nil || back != tt.n {
				t.Errorf("msgpack.Unmarshal(% x) = %d, %v; want %d", want, back, err, tt.n)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		n          int
		wantHeader string
	}{
		{0, "a0"},
		{1, "a1"},
		{31, "bf"},
		{32, "d9 20"},
		{255, "d9 ff"},
		{256, "da 0100"},
		{65535, "da ffff"},
		{65536, "db 00010000"},
	}
	for _, tt := range tests {
		t.Run(tt.wantHeader, func(t *testing.T) {
			s := strings.Repeat("x", tt.n)
			want := append(unhex(t, tt.wantHeader), s...)
			got := AppendString(nil, s)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendString(%d bytes) starts % x, want % x", tt.n, got[:min(len(got), 6)], want[:min(len(want), 6)])
			}
			if h := strHeader(t, tt.n); !bytes.HasPrefix(got, h) {
				t.Errorf("header % x, want % x", got[:len(h)], h)
			}
			var back string
			if err := msgpack.Unmarshal(got, &back); err != nil || back != s {
				t.Errorf("msgpack.Unmarshal: len %d, %v; want len %d", len(back), err, len(s))
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	prefix := []byte("ns\x00")
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"int", AppendInt(bytes.Clone(prefix), -129), "d1 ff7f"},
		{"uint", AppendUint(bytes.Clone(prefix), 256), "cd 0100"},
		{"string", AppendString(bytes.Clone(prefix), "ab"), "a2 6162"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := append(bytes.Clone(prefix), unhex(t, tt.want)...)
			if !bytes.Equal(tt.got, want) {
				t.Errorf("got % x, want % x", tt.got, want)
			}
		})
	}
}

// compositeKey exercises the reflective path with every accepted kind.
type compositeKey struct {
	I   int
	S   string
	F   float64
	F32 float32
	B   bool
	A   [2]int8
	U   uint16
	In  innerKey `msgpack:"in"`
}

type innerKey struct {
	Name string
	N    uint64
}

func TestKeyEncoderGolden(t *testing.T) {
	type pair struct {
		A int
		B string
	}
	type floats struct {
		F32 float32
		F64 float64
	}
	type wide struct{ A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P bool }
	wideWant := "de 0010"
	for c := 'A'; c <= 'O'; c++ {
		wideWant += fmt.Sprintf(" a1%02x c2", c)
	}
	wideWant += " a150 c3"
	tests := []struct {
		name string
		enc  func() []byte
		want string
	}{
		{"int 0", func() []byte { return mustKeyEncoder[int](t)(nil, 0) }, "00"},
		{"int -33", func() []byte { return mustKeyEncoder[int](t)(nil, -33) }, "d0 df"},
		{"int64 min", func() []byte { return mustKeyEncoder[int64](t)(nil, math.MinInt64) }, "d3 8000000000000000"},
		{"uint64 max", func() []byte { return mustKeyEncoder[uint64](t)(nil, math.MaxUint64) }, "cf ffffffffffffffff"},
		{"uint8 255", func() []byte { return mustKeyEncoder[uint8](t)(nil, 255) }, "cc ff"},
		{"int8 -128", func() []byte { return mustKeyEncoder[int8](t)(nil, -128) }, "d0 80"},
		{"int16 -129", func() []byte { return mustKeyEncoder[int16](t)(nil, -129) }, "d1 ff7f"},
		{"uint32 65536", func() []byte { return mustKeyEncoder[uint32](t)(nil, 65536) }, "ce 00010000"},
		{"string empty", func() []byte { return mustKeyEncoder[string](t)(nil, "") }, "a0"},
		{"string abc", func() []byte { return mustKeyEncoder[string](t)(nil, "abc") }, "a3 616263"},
		{"bool true", func() []byte { return mustKeyEncoder[bool](t)(nil, true) }, "c3"},
		{"bool false", func() []byte { return mustKeyEncoder[bool](t)(nil, false) }, "c2"},
		{"float64 1", func() []byte { return mustKeyEncoder[float64](t)(nil, 1) }, "cb 3ff0000000000000"},
		{"float32 1", func() []byte { return mustKeyEncoder[float32](t)(nil, 1) }, "ca 3f800000"},
		{"array", func() []byte { return mustKeyEncoder[[3]uint16](t)(nil, [3]uint16{1, 256, 0}) }, "93 01 cd0100 00"},
		{"empty array", func() []byte { return mustKeyEncoder[[0]int](t)(nil, [0]int{}) }, "90"},
		{"array16", func() []byte { return mustKeyEncoder[[16]bool](t)(nil, [16]bool{}) }, "dc 0010" + strings.Repeat("c2", 16)},
		{"array32", func() []byte { return mustKeyEncoder[[65536]bool](t)(nil, [65536]bool{}) }, "dd 00010000" + strings.Repeat("c2", 65536)},
		{"struct", func() []byte { return mustKeyEncoder[pair](t)(nil, pair{1, "x"}) }, "82 a141 01 a142 a178"},
		{"map16 struct", func() []byte { return mustKeyEncoder[wide](t)(nil, wide{P: true}) }, wideWant},
		{"empty struct", func() []byte { return mustKeyEncoder[struct{}](t)(nil, struct{}{}) }, "80"},
		{"struct tag", func() []byte {
			type tagged struct {
				ID int `msgpack:"id,omitempty"`
			}
			return mustKeyEncoder[tagged](t)(nil, tagged{})
		}, "81 a26964 00"},
		{"negative zero", func() []byte {
			return mustKeyEncoder[floats](t)(nil, floats{float32(math.Copysign(0, -1)), math.Copysign(0, -1)})
		}, "82 a3463332 ca00000000 a3463634 cb0000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got := tt.enc()
			if !bytes.Equal(got, want) {
				t.Errorf("got % x, want % x", got, want)
			}
			if again := tt.enc(); !bytes.Equal(again, got) {
				t.Errorf("second encoding % x differs from first % x", again, got)
			}
		})
	}
}

func TestKeyEncoderDeterministic(t *testing.T) {
	enc := mustKeyEncoder[compositeKey](t)
	k := compositeKey{I: -1234567, S: "héllo", F: 3.25, F32: -1.5, B: true, A: [2]int8{-1, 7}, U: 300,
		In: innerKey{Name: "inner", N: math.MaxUint64}}
	first := enc(nil, k)
	for i := range 10 {
		k2 := k // an equal key built separately encodes the same
		k2.S = string([]byte("héllo"))
		if got := enc(nil, k2); !bytes.Equal(got, first) {
			t.Fatalf("encoding %d = % x, want % x", i, got, first)
		}
	}
	// A fresh encoder for the same type agrees.
	if got := mustKeyEncoder[compositeKey](t)(nil, k); !bytes.Equal(got, first) {
		t.Errorf("fresh encoder = % x, want % x", got, first)
	}
	// The encoding appends, leaving dst's contents alone.
	dst := []byte("prefix")
	if got := enc(dst, k); !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], first) {
		t.Errorf("enc(prefix) = % x, want prefix + % x", got, first)
	}
}

// distinctKeys returns many pairwise-different compositeKeys.
func distinctKeys() []compositeKey {
	ints := []int{0, 1, -1, 127, 128, -32, -33, math.MaxInt64, math.MinInt64}
	strs := []string{"", "a", "b", "ab", "\x00", strings.Repeat("a", 31), strings.Repeat("a", 32)}
	floats := []float64{0, 1, -1, 0.5, math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64}
	arrays := [][2]int8{{0, 0}, {0, 1}, {1, 0}, {-1, -1}}
	var keys []compositeKey
	for _, i := range ints {
		for _, s := range strs {
			for _, f := range floats {
				for _, b := range []bool{false, true} {
					for _, a := range arrays {
						keys = append(keys, compositeKey{I: i, S: s, F: f, F32: float32(f), B: b, A: a})
					}
				}
			}
		}
	}
	// Keys that differ only deep inside, or by moving bytes between
	// adjacent strings.
	keys = append(keys,
		compositeKey{I: 5, In: innerKey{Name: "a", N: 0}},
		compositeKey{I: 5, In: innerKey{Name: "", N: 1}},
		compositeKey{I: 5, S: "a", In: innerKey{Name: ""}},
		compositeKey{I: 6, S: "", In: innerKey{Name: "a"}},
		compositeKey{I: 5, U: 1},
		compositeKey{I: 5, U: math.MaxUint16},
		compositeKey{I: 5, F32: 1, F: 0.5},
	)
	return keys
}

func TestKeyEncoderDistinct(t *testing.T) {
	enc := mustKeyEncoder[compositeKey](t)
	keys := distinctKeys()
	seen := make(map[string]compositeKey, len(keys))
	for _, k := range keys {
		b := string(enc(nil, k))
		if prev, ok := seen[b]; ok {
			if prev == k {
				t.Fatalf("test bug: key %+v listed twice", k)
			}
			t.Fatalf("keys %+v and %+v both encode to % x", prev, k, b)
		}
		seen[b] = k
	}
	if len(seen) < 2000 {
		t.Errorf("only %d distinct keys checked", len(seen))
	}
}

func TestKeyEncoderNegativeZero(t *testing.T) {
	negZero := math.Copysign(0, -1)
	type nested struct {
		Name string
		At   [2]float32
		Pos  struct{ X, Y float64 }
	}
	tests := []struct {
		name      string
		pos, neg  func() []byte
		equalKeys bool // whether the two keys are == in Go
	}{
		{"float64",
			func() []byte { return mustKeyEncoder[float64](t)(nil, 0) },
			func() []byte { return mustKeyEncoder[float64](t)(nil, negZero) }, 0 == negZero},
		{"float32",
			func() []byte { return mustKeyEncoder[float32](t)(nil, 0) },
			func() []byte { return mustKeyEncoder[float32](t)(nil, float32(negZero)) }, true},
		{"array",
			func() []byte { return mustKeyEncoder[[2]float64](t)(nil, [2]float64{1, 0}) },
			func() []byte { return mustKeyEncoder[[2]float64](t)(nil, [2]float64{1, negZero}) }, true},
		{"nested struct",
			func() []byte {
				return mustKeyEncoder[nested](t)(nil, nested{Name: "n"})
			},
			func() []byte {
				k := nested{Name: "n", At: [2]float32{float32(negZero), float32(negZero)}}
				k.Pos.X, k.Pos.Y = negZero, negZero
				return mustKeyEncoder[nested](t)(nil, k)
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.equalKeys {
				t.Fatal("test bug: -0.0 != 0.0")
			}
			pos, neg := tt.pos(), tt.neg()
			if !bytes.Equal(pos, neg) {
				t.Errorf("0.0 encodes as % x, -0.0 as % x", pos, neg)
			}
		})
	}
	// 0 and the smallest non-zero values must not be folded together.
	enc := mustKeyEncoder[float64](t)
	if bytes.Equal(enc(nil, 0), enc(nil, math.SmallestNonzeroFloat64)) ||
		bytes.Equal(enc(nil, 0), enc(nil, -math.SmallestNonzeroFloat64)) {
		t.Error("0 and ±SmallestNonzeroFloat64 encode the same")
	}
}

func TestKeyEncoderNaN(t *testing.T) {
	// The package doc promises that every NaN encodes to the same bytes.
	enc64 := mustKeyEncoder[float64](t)
	enc32 := mustKeyEncoder[float32](t)
	a := enc64(nil, math.NaN())
	b := enc64(nil, math.Float64frombits(0xfff0000000000001)) // negative, signalling
	if !bytes.Equal(a, b) {
		t.Errorf("float64 NaNs encode differently: % x, % x", a, b)
	}
	c := enc32(nil, float32(math.NaN()))
	d := enc32(nil, math.Float32frombits(0xffc00001))
	if !bytes.Equal(c, d) {
		t.Errorf("float32 NaNs encode differently: % x, % x", c, d)
	}
	if bytes.Equal(a, enc64(nil, math.Inf(1))) {
		t.Error("NaN and +Inf encode the same")
	}
	var back float64
	if err := msgpack.Unmarshal(a, &back); err != nil || !math.IsNaN(back) {
		t.Errorf("NaN decodes as %v, %v", back, err)
	}
}

type (
	namedInt    int
	namedInt8   int8
	namedInt16  int16
	namedInt32  int32
	namedInt64  int64
	namedUint   uint
	namedUint8  uint8
	namedUint16 uint16
	namedUint32 uint32
	namedUint64 uint64
	namedUintpt uintptr
	namedString string
	namedBool   bool
)

// checkFastPath checks that K's encoder matches the reflective encoding
// of k and of k converted to the basic type, and allocates nothing.
func checkFastPath[K comparable](t *testing.T, keys ...K) {
	t.Helper()
	enc := mustKeyEncoder[K](t)
	for _, k := range keys {
		got := enc(nil, k)
		if want := appendValue(nil, reflect.ValueOf(k)); !bytes.Equal(got, want) {
			t.Errorf("%T(%v): fast path % x, reflective % x", k, k, got, want)
		}
		// msgpack reads back the same value (names are invisible in the bytes).
		back, err := DecodeAny(got)
		rv := reflect.ValueOf(k)
		var same bool
		switch {
		case rv.CanInt():
			same = sameInt(back, rv.Int())
		case rv.CanUint():
			same = sameUint(back, rv.Uint())
		case rv.Kind() == reflect.String:
			same = back == rv.String()
		case rv.Kind() == reflect.Bool:
			same = back == rv.Bool()
		}
		if err != nil || !same {
			t.Errorf("%T(%v): DecodeAny(% .16x) = %v, %v", k, k, got, back, err)
		}
		dst := make([]byte, 0, 128)
		if allocs := testing.AllocsPerRun(100, func() { dst = enc(dst[:0], k) }); allocs != 0 {
			t.Errorf("%T(%v): %v allocations per encoding, want 0 (fast path not taken?)", k, k, allocs)
		}
	}
}

func TestKeyEncoderNamedTypes(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"int", func(t *testing.T) {
			checkFastPath(t, namedInt(0), namedInt(-33), namedInt(math.MinInt64), namedInt(65536))
		}},
		{"int8", func(t *testing.T) { checkFastPath(t, namedInt8(-128), namedInt8(-32), namedInt8(127)) }},
		{"int16", func(t *testing.T) { checkFastPath(t, namedInt16(-129), namedInt16(math.MinInt16), namedInt16(255)) }},
		{"int32", func(t *testing.T) { checkFastPath(t, namedInt32(math.MinInt32), namedInt32(65535)) }},
		{"int64", func(t *testing.T) { checkFastPath(t, namedInt64(math.MaxInt64), namedInt64(-1)) }},
		{"uint", func(t *testing.T) { checkFastPath(t, namedUint(0), namedUint(math.MaxUint64)) }},
		{"uint8", func(t *testing.T) { checkFastPath(t, namedUint8(127), namedUint8(128), namedUint8(255)) }},
		{"uint16", func(t *testing.T) { checkFastPath(t, namedUint16(256), namedUint16(65535)) }},
		{"uint32", func(t *testing.T) { checkFastPath(t, namedUint32(65536), namedUint32(math.MaxUint32)) }},
		{"uint64", func(t *testing.T) { checkFastPath(t, namedUint64(math.MaxUint64), namedUint64(1)) }},
		{"uintptr", func(t *testing.T) { checkFastPath(t, namedUintpt(0), namedUintpt(1<<40)) }},
		{"string", func(t *testing.T) {
			checkFastPath(t, namedString(""), namedString("id-42"), namedString(strings.Repeat("s", 300)))
		}},
		{"bool", func(t *testing.T) { checkFastPath(t, namedBool(true), namedBool(false)) }},
		{"basic int", func(t *testing.T) { checkFastPath(t, 0, 127, 128, -1, -129, math.MaxInt64) }},
		{"basic string", func(t *testing.T) { checkFastPath(t, "", "x", strings.Repeat("y", 65536)) }},
		{"basic uint64", func(t *testing.T) { checkFastPath(t, uint64(0), uint64(math.MaxUint64)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
	// A named type encodes exactly as its underlying type.
	if a, b := mustKeyEncoder[namedInt16](t)(nil, -200), mustKeyEncoder[int16](t)(nil, -200); !bytes.Equal(a, b) {
		t.Errorf("namedInt16(-200) = % x, int16(-200) = % x", a, b)
	}
	if a, b := mustKeyEncoder[namedString](t)(nil, "k"), mustKeyEncoder[string](t)(nil, "k"); !bytes.Equal(a, b) {
		t.Errorf(`namedString("k") = % x, "k" = % x`, a, b)
	}
}

// sameInt reports whether v, a msgpack integer decoded into whichever Go
// integer type msgpack chose, equals n.
func sameInt(v any, n int64) bool {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int() == n
	case rv.CanUint():
		return n >= 0 && rv.Uint() == uint64(n)
	}
	return false
}

// sameUint is sameInt for an unsigned n.
func sameUint(v any, n uint64) bool {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int() >= 0 && uint64(rv.Int()) == n
	case rv.CanUint():
		return rv.Uint() == n
	}
	return false
}

func TestKeyDecodesBack(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129,
		math.MinInt16, math.MinInt32, math.MaxInt32, math.MaxUint32, math.MinInt64, math.MaxInt64}
	for _, n := range ints {
		b := mustKeyEncoder[int64](t)(nil, n)
		v, err := DecodeAny(b)
		if err != nil || !sameInt(v, n) {
			t.Errorf("DecodeAny(key %d = % x) = %v (%T), %v", n, b, v, v, err)
		}
	}
	for _, n := range []uint64{0, 127, 128, math.MaxUint8, math.MaxUint16 + 1, math.MaxUint32 + 1, math.MaxUint64} {
		b := mustKeyEncoder[uint64](t)(nil, n)
		v, err := DecodeAny(b)
		if err != nil || !sameUint(v, n) {
			t.Errorf("DecodeAny(key %d = % x) = %v (%T), %v", n, b, v, v, err)
		}
	}
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("é", n/2) + strings.Repeat("z", n%2)
		b := mustKeyEncoder[string](t)(nil, s)
		v, err := DecodeAny(b)
		if err != nil || v != s {
			t.Errorf("DecodeAny(%d-byte string key) = %.20v, %v", len(s), v, err)
		}
	}

	// Composite keys decode generically, and into the key type itself.
	k := compositeKey{I: -40000, S: "s", F: -2.5, F32: 0.25, B: true, A: [2]int8{-128, 127}, U: 9,
		In: innerKey{Name: "deep", N: math.MaxUint64}}
	b := mustKeyEncoder[compositeKey](t)(nil, k)
	var back compositeKey
	if err := msgpack.Unmarshal(b, &back); err != nil || back != k {
		t.Errorf("msgpack.Unmarshal(key) = %+v, %v; want %+v", back, err, k)
	}
	v, err := DecodeAny(b)
	if err != nil {
		t.Fatalf("DecodeAny(composite key): %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("DecodeAny(composite key) = %T, want map[string]any", v)
	}
	arr, _ := m["A"].([]any)
	in, _ := m["in"].(map[string]any)
	switch {
	case len(m) != 8:
		t.Errorf("decoded %d fields, want 8: %v", len(m), m)
	case !sameInt(m["I"], -40000), m["S"] != "s", m["F"] != -2.5, m["F32"] != float32(0.25), m["B"] != true:
		t.Errorf("decoded scalars wrong: %v", m)
	case len(arr) != 2 || !sameInt(arr[0], -128) || !sameInt(arr[1], 127):
		t.Errorf("decoded array = %v", m["A"])
	case in == nil || in["Name"] != "deep" || !sameUint(in["N"], math.MaxUint64):
		t.Errorf("decoded inner struct = %v", m["in"])
	}
}

func TestKeyEncoderAllocs(t *testing.T) {
	intEnc := mustKeyEncoder[int](t)
	strEnc := mustKeyEncoder[string](t)
	dst := make([]byte, 0, 64)
	tests := []struct {
		name string
		fn   func()
	}{
		{"int small", func() { dst = intEnc(dst[:0], 7) }},
		{"int large", func() { dst = intEnc(dst[:0], math.MinInt64) }},
		{"string", func() { dst = strEnc(dst[:0], "user:12345") }},
		{"AppendInt", func() { dst = AppendInt(dst[:0], -1<<40) }},
		{"AppendString", func() { dst = AppendString(dst[:0], "abc") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(1000, tt.fn); allocs != 0 {
				t.Errorf("%v allocations per key, want 0", allocs)
			}
		})
	}
}

func TestNewKeyEncoderRejects(t *testing.T) {
	type withPtr struct{ P *int }
	tests := []struct {
		name string
		new  func() error
	}{
		{"pointer", func() error { _, err := NewKeyEncoder[*int](); return err }},
		{"interface", func() error { _, err := NewKeyEncoder[any](); return err }},
		{"chan", func() error { _, err := NewKeyEncoder[chan int](); return err }},
		{"struct with pointer", func() error { _, err := NewKeyEncoder[withPtr](); return err }},
		{"complex", func() error { _, err := NewKeyEncoder[complex128](); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var te *TypeError
			if err := tt.new(); err == nil {
				t.Fatal("NewKeyEncoder succeeded")
			} else if !isTypeError(err, &te) || te.Role != "key" {
				t.Errorf("error %v (%T), want a key *TypeError", err, err)
			}
		})
	}
}

func BenchmarkKeyEncoder(b *testing.B) {
	intEnc := mustKeyEncoder[namedInt64](b)
	strEnc := mustKeyEncoder[string](b)
	structEnc := mustKeyEncoder[compositeKey](b)
	k := compositeKey{I: 1, S: "user", F: 2, In: innerKey{Name: "n"}}
	dst := make([]byte, 0, 256)
	b.Run("int", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dst = intEnc(dst[:0], namedInt64(i))
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = strEnc(dst[:0], "user:12345")
		}
	})
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = structEnc(dst[:0], k)
		}
	})
}
