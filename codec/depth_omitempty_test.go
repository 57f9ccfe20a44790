package codec

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// d24OmitNode is a list node whose fields are all omitempty: the last node
// (N 0, Next nil) is written by msgpack as an empty map (0x80), which is
// no level for Validate.
type d24OmitNode struct {
	N    int          `msgpack:",omitempty"`
	Next *d24OmitNode `msgpack:",omitempty"`
}

// TestOmitemptyLeafIsNoLevel: a list of MaxDepth omitempty nodes
// whose last node is empty nests MaxDepth-1 levels in msgpack (the last
// node is an empty map), so Decode reads it back; Encode must not refuse
// it with ErrTooDeep. The walk counted every struct with fields as a
// level, whatever msgpack writes for it, and refused it.
func TestOmitemptyLeafIsNoLevel(t *testing.T) {
	var head *d24OmitNode
	for i := range MaxDepth {
		head = &d24OmitNode{N: i, Next: head} // the first built, the last node, has N 0
	}
	b, err := msgpack.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("precondition: msgpack's encoding does not validate: %v", err)
	}
	c := mustValues[*d24OmitNode](t)
	rec, err := c.Encode(head, testKey, Meta{StoredAt: 1})
	if err != nil {
		t.Fatalf("Encode of a list that msgpack nests %d deep (Validate accepts it): %v", MaxDepth-1, err)
	}
	back, err := c.Decode(rec[HeaderSize:])
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	n := 0
	for p := back; p != nil; p = p.Next {
		n++
	}
	if n != MaxDepth {
		t.Errorf("%d nodes came back, want %d", n, MaxDepth)
	}
}
