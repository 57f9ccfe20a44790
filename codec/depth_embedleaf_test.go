package codec

import (
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// e27Base holds a tree's children, omitted when there are none.
type e27Base struct {
	Kids []*e27Tree `msgpack:",omitempty"`
}

// e27Tree embeds e27Base (inlined): a leaf, with no children, is written
// by msgpack as an empty map (0x80), which is no level for Validate.
type e27Tree struct {
	e27Base
}

// TestEmbeddedOmitemptyLeafIsNoLevel: alwaysWritten took the embedded
// e27Base field (not tagged omitempty itself) as a field msgpack always
// writes, though msgpack inlines its fields, all omitempty: the walk
// counted the empty leaf as a level. A chain whose encoding nests
// MaxDepth-1 levels, which Decode reads back, was refused by Encode with
// ErrTooDeep: its value was never stored.
func TestEmbeddedOmitemptyLeafIsNoLevel(t *testing.T) {
	leaf := &e27Tree{}
	node := leaf
	for range (MaxDepth - 2) / 2 { // each node above the leaf: a map and an array
		node = &e27Tree{e27Base{Kids: []*e27Tree{node}}}
	}
	v := []*e27Tree{node} // one level more: MaxDepth-1 in all
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("precondition: msgpack's encoding does not validate: %v", err)
	}
	if err := Validate(append([]byte{0x91}, b...)); err == nil {
		t.Fatal("precondition: the encoding is not MaxDepth-1 deep (one array more still validates)")
	}
	c := mustValues[[]*e27Tree](t)
	rec, err := c.Encode(v, testKey, Meta{StoredAt: 1})
	if errors.Is(err, ErrTooDeep) {
		t.Fatalf("Encode refused a value that msgpack nests %d deep and Decode reads back: %v", MaxDepth-1, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(rec[HeaderSize:]); err != nil {
		t.Fatalf("Decode: %v", err)
	}
}
