package codec

import (
	"errors"
	"testing"
)

// d24TaggedNode is a recursive type with a field that does not recurse but
// still nests: a non-empty Tags is one level more below its node.
type d24TaggedNode struct {
	Next *d24TaggedNode
	Tags []string
}

type d24Key struct{ A int }

// d24KeyedMap is a recursive map whose keys are structs: msgpack writes each
// key as a map, one level below the map that holds it.
type d24KeyedMap map[d24Key]d24KeyedMap

// encodeThenDecode24 encodes v and reports whether Encode refused it
// with ErrTooDeep; if it did not, the record must decode.
func encodeThenDecode24[V any](t *testing.T, v V) {
	t.Helper()
	c := mustValues[V](t)
	rec, err := c.Encode(v, testKey, Meta{StoredAt: 1})
	if errors.Is(err, ErrTooDeep) {
		return // refused at Encode, as Decode would refuse it
	}
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if _, err := c.Decode(rec[HeaderSize:]); err != nil {
		t.Errorf("Encode accepted a %T that Decode then refuses (a record the store can never read back): %v", v, err)
	}
}

// TestBoundedPartsCounted: the walk follows only the parts of a
// value whose types recurse, and counts no level for the others, though
// msgpack writes them as arrays and maps that Validate counts: a list of
// MaxDepth-1 nodes whose last node holds a non-empty slice, or a chain of
// MaxDepth-1 maps keyed by a struct, nests MaxDepth levels. Encode must
// refuse them (it validates what msgpack wrote when the walk's count is
// within the type's slack of MaxDepth): it made records that Decode
// refused.
func TestBoundedPartsCounted(t *testing.T) {
	t.Run("leaf slice field", func(t *testing.T) {
		head := &d24TaggedNode{Tags: []string{"leaf"}}
		for range MaxDepth - 2 {
			head = &d24TaggedNode{Next: head}
		}
		encodeThenDecode24(t, head)
	})
	t.Run("struct map key", func(t *testing.T) {
		var m d24KeyedMap
		for range MaxDepth - 1 {
			m = d24KeyedMap{{A: 1}: m}
		}
		encodeThenDecode24(t, m)
	})
}
