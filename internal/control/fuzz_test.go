package control

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzWireDecode: a frame's body comes from another process, which may be
// of another build or not memostore at all. Whatever the bytes, the
// hand-written reader returns a Msg or an error, never panics, and what it
// reads is what msgpack reads and what it writes back.
func FuzzWireDecode(f *testing.F) {
	for _, m := range wireSamples() {
		f.Add(appendFrame(nil, m)[4:])
		if b, err := msgpack.Marshal(m); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x9b, 1, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		var m Msg
		ns := "ns"
		if err := m.decode(body, &ns); err != nil {
			return
		}
		var viaLib Msg
		if err := msgpack.Unmarshal(body, &viaLib); err == nil && !sameMsg(&viaLib, &m) {
			t.Fatalf("%x: read %+v; msgpack reads %+v", body, m, viaLib)
		}
		again := appendFrame(nil, &m)
		var back Msg
		if err := back.decode(again[4:], &ns); err != nil || !sameMsg(&back, &m) {
			t.Fatalf("%x: read %+v, written back and read %+v (%v)", body, m, back, err)
		}
	})
}
