package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// marshal returns the msgpack encoding of v or stops the test.
func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatalf("msgpack.Marshal(%T): %v", v, err)
	}
	return b
}

// nested returns depth arrays of one element each, around inner.
func nested(depth int, inner []byte) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), inner...)
}

// be32 is a 4-byte big-endian length.
func be32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// validSamples returns well-formed msgpack values covering every format.
func validSamples(tb testing.TB) map[string][]byte {
	tb.Helper()
	many := make(map[string]int, 70000)
	for i := range 70000 {
		many[string(AppendUint(nil, uint64(i)))] = i
	}
	samples := map[string][]byte{
		"nil":           marshal(tb, nil),
		"true":          marshal(tb, true),
		"false":         marshal(tb, false),
		"fixint":        marshal(tb, 7),
		"negative":      marshal(tb, -20),
		"int8":          marshal(tb, int8(-100)),
		"int16":         marshal(tb, int16(-1000)),
		"int32":         marshal(tb, int32(-100000)),
		"int64":         marshal(tb, int64(math.MinInt64)),
		"uint8":         marshal(tb, uint8(200)),
		"uint16":        marshal(tb, uint16(60000)),
		"uint32":        marshal(tb, uint32(4000000000)),
		"uint64":        marshal(tb, uint64(math.MaxUint64)),
		"float32":       marshal(tb, float32(1.5)),
		"float64":       marshal(tb, math.Pi),
		"fixstr":        marshal(tb, "hello"),
		"str8":          marshal(tb, strings.Repeat("a", 200)),
		"str16":         marshal(tb, strings.Repeat("a", 1000)),
		"str32":         marshal(tb, strings.Repeat("a", 70000)),
		"bin8":          marshal(tb, []byte{1, 2, 3}),
		"bin16":         marshal(tb, make([]byte, 300)),
		"bin32":         marshal(tb, make([]byte, 70000)),
		"empty array":   marshal(tb, []int{}),
		"fixarray":      marshal(tb, []any{1, "a", nil, true, 2.5}),
		"array16":       marshal(tb, make([]int, 20)),
		"array32":       marshal(tb, make([]bool, 70000)),
		"empty map":     marshal(tb, map[string]int{}),
		"fixmap":        marshal(tb, map[string]any{"a": 1, "b": []int{2}}),
		"map16":         marshal(tb, map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 10: 10, 11: 11, 12: 12, 13: 13, 14: 14, 15: 15, 16: 16}),
		"map32":         marshal(tb, many),
		"time32":        marshal(tb, time.Unix(1, 0)),
		"time64":        marshal(tb, time.Unix(1, 5)),
		"time96":        marshal(tb, time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)),
		"struct":        marshal(tb, makeUser(5)),
		"nested":        marshal(tb, map[string][]map[string][]int{"x": {{"y": {1, 2}}, {}}}),
		"key":           mustKeyEncoder[compositeKey](tb)(nil, compositeKey{S: "k", F: 1, In: innerKey{"n", 2}}),
		"fixext1":       {0xd4, 0x01, 0xaa},
		"fixext2":       {0xd5, 0x01, 0xaa, 0xbb},
		"fixext4":       {0xd6, 0x01, 1, 2, 3, 4},
		"fixext8":       {0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8},
		"fixext16":      append([]byte{0xd8, 0x01}, make([]byte, 16)...),
		"ext8":          {0xc7, 0x02, 0x01, 0xaa, 0xbb},
		"ext8 empty":    {0xc7, 0x00, 0x01},
		"ext16":         append([]byte{0xc8, 0x01, 0x00, 0x7f}, make([]byte, 256)...),
		"ext32":         append(append([]byte{0xc9}, be32(3)...), 0x05, 1, 2, 3),
		"str32 exact":   append(append([]byte{0xdb}, be32(2)...), 'o', 'k'),
		"array32 exact": append(append([]byte{0xdd}, be32(3)...), 1, 2, 3),
		"map32 exact":   append(append([]byte{0xdf}, be32(1)...), 0xa1, 'k', 0xc0),
		"array in map":  {0x82, 0x90, 0x80, 0xc0, 0x91, 0x91, 0x90},
	}
	return samples
}

func TestValidateAccepts(t *testing.T) {
	for name, b := range validSamples(t) {
		t.Run(name, func(t *testing.T) {
			if err := Validate(b); err != nil {
				t.Fatalf("Validate(% .32x): %v", b, err)
			}
			// As the element of an array and the value of a map it is still
			// one value.
			if err := Validate(append([]byte{0x91}, b...)); err != nil {
				t.Errorf("Validate([v]): %v", err)
			}
			if err := Validate(append([]byte{0x82, 0xa1, 'a', 0xc0, 0xa1, 'b'}, b...)); err != nil {
				t.Errorf("Validate({a: nil, b: v}): %v", err)
			}
			// One value exactly: no trailing bytes.
			if err := Validate(append(bytes.Clone(b), 0xc0)); err == nil {
				t.Error("Validate(v + nil) accepted a trailing byte")
			}
			// msgpack is self-delimiting: no proper prefix is a value.
			step := max(1, len(b)/200)
			for n := 0; n < len(b); n += step {
				if err := Validate(b[:n]); err == nil {
					t.Fatalf("Validate accepted the first %d of %d bytes % .16x", n, len(b), b[:n])
				}
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"invalid code", []byte{0xc1}, "invalid msgpack code 0xc1"},
		{"invalid code in array", []byte{0x92, 0x01, 0xc1}, "0xc1"},
		{"invalid code as map key", []byte{0x81, 0xc1, 0x01}, "0xc1"},
		{"trailing byte", []byte{0x01, 0x02}, "1 trailing bytes"},
		{"trailing bytes after array", []byte{0x91, 0x01, 0xc0, 0xc0}, "2 trailing bytes"},
		{"fixstr short", []byte{0xa3, 'a', 'b'}, "truncated"},
		{"fixarray short", []byte{0x92, 0x01}, "truncated"},
		{"fixmap missing value", []byte{0x81, 0xa1, 'k'}, "truncated"},
		{"uint16 short", []byte{0xcd, 0x01}, "truncated"},
		{"uint64 short", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0}, "truncated"},
		{"float64 short", []byte{0xcb, 0, 0}, "truncated"},
		{"fixext16 short", append([]byte{0xd8, 0x01}, make([]byte, 15)...), "truncated"},
		{"str8 no length", []byte{0xd9}, "truncated"},
		{"str16 half length", []byte{0xda, 0x00}, "truncated"},
		{"str32 short", append(append([]byte{0xdb}, be32(3)...), 'a', 'b'), "truncated"},
		{"bin8 short", []byte{0xc4, 0x02, 0x00}, "truncated"},
		{"ext8 missing type", []byte{0xc7, 0x00}, "truncated"},
		{"ext8 short", []byte{0xc7, 0x02, 0x01, 0xaa}, "truncated"},
		{"ext32 short", append(append([]byte{0xc9}, be32(4)...), 0x01, 1, 2, 3), "truncated"},
		{"array32 short", append(append([]byte{0xdd}, be32(4)...), 1, 2, 3), "truncated"},
		{"map32 odd", append(append([]byte{0xdf}, be32(2)...), 1, 2, 3), "truncated"},
		{"map16 no length", []byte{0xde, 0x00}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			if err == nil {
				t.Fatalf("Validate(% x) accepted it", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "codec: ") {
				t.Errorf("Validate(% x) = %q, want a codec error saying %q", tt.in, err, tt.want)
			}
		})
	}
}

// hugeHeaders are a few bytes each that declare far more data than follows,
// the input of vmihailenco/msgpack#401.
var hugeHeaders = []struct {
	name string
	in   []byte
}{
	{"array32", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
	{"map32", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
	{"str32", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}},
	{"bin32", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}},
	{"ext32", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}},
	{"array32 half", []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}},
	{"map32 half", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}},
	{"array16", []byte{0xdc, 0xff, 0xff}},
	{"map16", []byte{0xde, 0xff, 0xff}},
	{"str16", []byte{0xda, 0xff, 0xff}},
	{"bin16", []byte{0xc5, 0xff, 0xff}},
	{"ext16", []byte{0xc8, 0xff, 0xff, 0x01}},
	{"array32 with some items", append([]byte{0xdd, 0x00, 0x10, 0x00, 0x00}, make([]byte, 1000)...)},
	{"nested array32", []byte{0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}},
	{"map32 as map value", []byte{0x81, 0xa1, 'k', 0xdf, 0xff, 0xff, 0xff, 0xff}},
	{"arrays of huge strings", []byte{0x93, 0xdb, 0, 0, 0, 0, 0xdb, 0xff, 0xff, 0xff, 0xff, 0xc0}},
}

func TestValidateHugeHeaders(t *testing.T) {
	for _, tt := range hugeHeaders {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("Validate(% .16x) = %v, want truncated", tt.in, err)
			}
			if allocs := testing.AllocsPerRun(100, func() { _ = Validate(tt.in) }); allocs > 1 {
				t.Errorf("Validate allocates %v times, want at most 1", allocs)
			}
		})
	}
}

// allocatedBytes returns the bytes allocated by n calls of f.
func allocatedBytes(tb testing.TB, n int, f func()) uint64 {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeHugeHeaders checks that the decoders refuse hostile headers
// before msgpack allocates for them: without Validate, each of these makes
// msgpack allocate megabytes to gigabytes.
func TestDecodeHugeHeaders(t *testing.T) {
	users := mustValues[[]userRecord](t)
	strs := mustValues[map[string]string](t)
	blobs := mustValues[[]byte](t)
	const runs, budget = 20, 256 << 10 // bytes for all runs together
	for _, tt := range hugeHeaders {
		t.Run(tt.name, func(t *testing.T) {
			var errs [4]error
			n := allocatedBytes(t, runs, func() {
				_, errs[0] = DecodeAny(tt.in)
				_, errs[1] = users.Decode(tt.in)
				_, errs[2] = strs.Decode(tt.in)
				_, errs[3] = blobs.Decode(tt.in)
			})
			for i, err := range errs {
				if err == nil {
					t.Errorf("decoder %d accepted % .16x", i, tt.in)
				}
			}
			if n > budget {
				t.Errorf("%d runs allocated %d bytes, want at most %d", runs, n, budget)
			}
		})
	}
}

func TestValidateDepth(t *testing.T) {
	// Values nest at most MaxDepth deep, the top-level value being at depth
	// 1: MaxDepth arrays may nest if the innermost is empty, and MaxDepth-1
	// if the innermost holds a scalar.
	deepMap := func(depth int) []byte {
		var b []byte
		for range depth - 1 {
			b = append(b, 0x81, 0xa1, 'k')
		}
		return append(b, 0x80)
	}
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"empty arrays at MaxDepth", nested(MaxDepth-1, []byte{0x90}), true},
		{"scalar at MaxDepth", nested(MaxDepth-1, []byte{0x01}), true},
		{"empty array past MaxDepth", nested(MaxDepth, []byte{0x90}), false},
		{"scalar past MaxDepth", nested(MaxDepth, []byte{0x01}), false},
		{"far past MaxDepth", nested(100*MaxDepth, []byte{0x01}), false},
		{"maps at MaxDepth", deepMap(MaxDepth), true},
		{"maps past MaxDepth", deepMap(MaxDepth + 1), false},
		{"wide but shallow", append([]byte{0xdc, 0x27, 0x10}, bytes.Repeat([]byte{0x91, 0x90}, 10000)...), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Validate: %v", err)
			case !tt.ok && !errors.Is(err, ErrTooDeep):
				t.Fatalf("Validate = %v, want a nesting error", err)
			}
			// The decoders agree with Validate.
			if _, derr := DecodeAny(tt.in); (derr == nil) != tt.ok {
				t.Errorf("DecodeAny error %v, want ok=%v", derr, tt.ok)
			}
		})
	}
}

func TestValidateAllocs(t *testing.T) {
	b := marshal(t, makeUser(3))
	if allocs := testing.AllocsPerRun(100, func() { _ = Validate(b) }); allocs > 1 {
		t.Errorf("Validate of a user record allocates %v times, want at most 1", allocs)
	}
	deep := nested(MaxDepth-1, []byte{0x90})
	if n := allocatedBytes(t, 10, func() { _ = Validate(deep) }); n > 10*64<<10 {
		t.Errorf("Validate of a deep value allocated %d bytes in 10 runs", n)
	}
}
