package expiry

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzIndexKey feeds arbitrary bytes to ParseIndexKey: it never panics,
// rejects exactly the keys shorter than their time prefix, and what it
// parses rebuilds the same bytes with AppendIndexKey; and index keys sort
// by time for non-negative times, whatever their entry keys.
func FuzzIndexKey(f *testing.F) {
	f.Add([]byte{}, []byte{}, int64(0))
	f.Add(AppendIndexKey(nil, 1_700_000_000_000_000_000, []byte{0xa3, 'a', 'b', 'c'}), []byte{0x01}, int64(5))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0}, []byte{0xff}, int64(1<<62))
	f.Fuzz(func(t *testing.T, ik, key []byte, at int64) {
		got, k, err := ParseIndexKey(ik)
		if len(ik) < IndexKeySize {
			if err == nil {
				t.Fatalf("ParseIndexKey(%x) accepted a key shorter than %d bytes", ik, IndexKeySize)
			}
		} else {
			if err != nil {
				t.Fatalf("ParseIndexKey(%x): %v", ik, err)
			}
			if re := AppendIndexKey(nil, got, k); !bytes.Equal(re, ik) {
				t.Fatalf("round trip: %x became %x", ik, re)
			}
		}
		if at < 0 {
			at = -(at + 1)
		}
		a := AppendIndexKey(nil, at, key)
		later := AppendIndexKey(nil, at+1, nil)
		if at < 1<<62 && bytes.Compare(a, later) >= 0 {
			t.Fatalf("index key at %d (entry key %x) does not sort before time %d", at, key, at+1)
		}
		if int64(binary.BigEndian.Uint64(a)) != at {
			t.Fatalf("time prefix of %x is not %d", a, at)
		}
	})
}
