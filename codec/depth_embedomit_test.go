package codec

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// o27Outer embeds o27Inner tagged omitempty: msgpack still inlines its
// fields (the option does not change inlining), so each o27Outer is one
// map, holding Next, one level per node.
type o27Outer struct {
	o27Inner `msgpack:",omitempty"`
}

type o27Inner struct {
	Next *o27Outer
}

// TestEmbeddedOmitemptyIsALevel: the walk counted no level for o27Outer
// (alwaysWritten saw its one field tagged omitempty, and written looked at
// pointer, slice and map fields only), and then took one off for the
// inlined o27Inner before o27Inner counted its own: net zero levels a
// node, where msgpack writes one. A list of 1,500 nodes was counted 0
// deep, below MaxDepth less the slack, so Encode did not validate what
// msgpack wrote, and made a record that Decode refuses (the store could
// never read it back).
func TestEmbeddedOmitemptyIsALevel(t *testing.T) {
	var head *o27Outer
	for range 1500 {
		head = &o27Outer{o27Inner{Next: head}}
	}
	b, err := msgpack.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	if Validate(b) == nil {
		t.Fatal("precondition: msgpack nests the list less than MaxDepth deep")
	}
	encodeThenDecode24(t, head)
}
