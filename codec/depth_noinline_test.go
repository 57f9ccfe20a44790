package codec

import (
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// d24Outer embeds d24Inner tagged noinline: msgpack writes it as a map of
// its own under the key "d24Inner", one level more, where an embedded
// struct without the tag has its fields inlined.
type d24Outer struct {
	d24Inner `msgpack:",noinline"`
}

type d24Inner struct {
	Next *d24Outer
}

// TestNoinlineEmbedIsALevel: the walk took every embedded struct
// as inlined, ignoring the noinline option that CheckValue itself honours
// (fieldNames). A list of 600 d24Outer nodes nests 1,200 levels in
// msgpack; the walk counted 600, Encode accepted it and Decode refused
// the record.
func TestNoinlineEmbedIsALevel(t *testing.T) {
	var head *d24Outer
	for range 600 {
		head = &d24Outer{d24Inner{Next: head}}
	}
	b, err := msgpack.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	if Validate(b) == nil {
		t.Fatal("precondition: msgpack nests the list less than MaxDepth deep")
	}
	c := mustValues[*d24Outer](t)
	rec, err := c.Encode(head, testKey, Meta{StoredAt: 1})
	if errors.Is(err, ErrTooDeep) {
		return
	}
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if _, err := c.Decode(rec[HeaderSize:]); err != nil {
		t.Errorf("Encode accepted a list that msgpack nests 1,200 deep, and Decode refuses the record: %v", err)
	}
}
