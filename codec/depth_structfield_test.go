package codec

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// s28A holds its s28B in a plain (not embedded) struct field tagged
// omitempty. msgpack omits the field only when s28B is empty (all its
// fields omitted), which it never is here (N is always written), so every
// s28A is a map of one entry: a level for Validate. The walk counts no
// level for it: alwaysWritten skips the field as omitempty, and written
// looks at pointer, slice, array and map fields only, never at a struct
// field. A list of s28A/s28B pairs is counted half as deep as msgpack
// writes it.
type s28A struct {
	B s28B `msgpack:"b,omitempty"`
}

type s28B struct {
	N    int
	Next *s28A `msgpack:",omitempty"`
}

// TestOmitemptyStructFieldIsALevel: a list of 700 pairs nests 1,400
// levels in msgpack (Validate refuses it: the store could never read it
// back), but the walk counts 700, well below MaxDepth less the type's
// slack, so Encode did not validate what msgpack wrote and made a record
// that Decode refuses (the walk did not count an omitempty struct field
// that is not zero as written).
func TestOmitemptyStructFieldIsALevel(t *testing.T) {
	var head *s28A
	for i := range 700 {
		head = &s28A{B: s28B{N: i, Next: head}}
	}
	b, err := msgpack.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	if Validate(b) == nil {
		t.Fatal("precondition: msgpack nests the list less than MaxDepth deep")
	}
	c := mustValues[*s28A](t)
	rec, err := c.Encode(head, testKey, Meta{StoredAt: 1})
	if err != nil {
		return // refused, as it must be
	}
	if _, err := c.Decode(rec[HeaderSize:]); err != nil {
		t.Errorf("Encode accepted a list that msgpack nests 1,400 levels deep (the walk counted about 700: a struct field tagged omitempty is no level for it), and Decode refuses the record: %v", err)
	}
}
