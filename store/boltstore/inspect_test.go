package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// TestKeyInfoNonFinite checks that every key becomes a KeyInfo that JSON
// can encode, NaN and infinite floats inside arrays and maps too.
func TestKeyInfoNonFinite(t *testing.T) {
	f64 := func(x float64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcb}, math.Float64bits(x)) }
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	rec := record("", 1, 0, "v")
	for _, tt := range []struct {
		name string
		key  []byte
		want string
	}{
		{"NaN", f64(math.NaN()), `"NaN"`},
		{"+Inf", f64(math.Inf(1)), `"+Inf"`},
		{"-Inf float32", binary.BigEndian.AppendUint32([]byte{0xca}, math.Float32bits(float32(math.Inf(-1)))), `"-Inf"`},
		{"in an array", cat([]byte{0x92}, f64(math.NaN()), []byte{0x01}), `["NaN",1]`},
		{"in a map", cat([]byte{0x81, 0xa1, 'x'}, f64(math.Inf(-1))), `{"x":"-Inf"}`},
		{"finite", f64(2.5), `2.5`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ki := keyInfo(tt.key, rec)
			b, err := json.Marshal(ki)
			if err != nil {
				t.Fatalf("json.Marshal(%+v): %v", ki, err)
			}
			got, _ := json.Marshal(ki.Key)
			if string(got) != tt.want || ki.Error != "" {
				t.Fatalf("key %s (error %q), want %s: %s", got, ki.Error, tt.want, b)
			}
			if (ki.RawKey != "") != (tt.name != "finite") {
				t.Fatalf("raw %q: want the key's bytes exactly when JSON cannot show the key", ki.RawKey)
			}
		})
	}
}
