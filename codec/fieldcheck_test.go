package codec

import (
	"reflect"
	"testing"
)

// Values that CheckValue accepted but that did not round-trip, and type
// changes that TypeID did not see (found by a review). Each test failed
// on the code before the fix: CheckValue now refuses such value types up
// front, and TypeID sees the changes.

type FieldcheckInner struct{ X, Y int }

type fieldcheckinner struct{ X int }

// FieldcheckShadow embeds FieldcheckInner and then declares its own X, which
// shadows Inner.X in Go but is a second "X" to msgpack.
type FieldcheckShadow struct {
	FieldcheckInner
	X int
}

// FieldcheckShadowUnexported is the same with an unexported embedded struct,
// which CheckValue explicitly allows.
type FieldcheckShadowUnexported struct {
	fieldcheckinner
	X int
}

type FieldcheckDupTag struct {
	A int `msgpack:"x"`
	B int `msgpack:"x"`
}

type FieldcheckPtrEmbed struct {
	*FieldcheckInner
	Z int
}

// acceptedRoundTrips fails the test if V is accepted by NewValues but v does
// not come back deeply equal. A V that NewValues rejects passes.
func acceptedRoundTrips[V any](t *testing.T, v V) {
	t.Helper()
	c, err := NewValues[V]()
	if err != nil {
		return // refused up front: acceptable
	}
	rec, err := c.Encode(v, testKey, Meta{StoredAt: 1})
	if err != nil {
		t.Fatalf("Encode(%T): %v", v, err)
	}
	got, err := c.Decode(rec[HeaderSize:])
	if err != nil {
		t.Fatalf("Decode(%T): %v", v, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("NewValues[%T] accepted the type, but the value does not round-trip:\n got %#v\nwant %#v", v, got, v)
	}
}

func TestCheckValueShadowedField(t *testing.T) {
	t.Run("exported", func(t *testing.T) {
		acceptedRoundTrips(t, FieldcheckShadow{FieldcheckInner{X: 1, Y: 2}, 3}) // Inner.X comes back 0
	})
	t.Run("unexported", func(t *testing.T) {
		acceptedRoundTrips(t, FieldcheckShadowUnexported{fieldcheckinner{X: 1}, 2}) // inner.X comes back 0
	})
}

func TestCheckValueDuplicateTagName(t *testing.T) {
	acceptedRoundTrips(t, FieldcheckDupTag{A: 1, B: 2}) // A comes back 0
}

func TestCheckValueNilEmbeddedPointer(t *testing.T) {
	acceptedRoundTrips(t, FieldcheckPtrEmbed{Z: 5}) // nil *FieldcheckInner comes back non-nil
}

// Two versions of one named value type, as a program sees them before and
// after an edit: a field changed from embedded to named.
func fieldcheckEmbeddedV1() reflect.Type {
	type Result struct {
		FieldcheckInner
		Z int
	}
	return reflect.TypeFor[Result]()
}

func fieldcheckEmbeddedV2() reflect.Type {
	type Result struct {
		FieldcheckInner FieldcheckInner
		Z               int
	}
	return reflect.TypeFor[Result]()
}

// Two versions of a named array type whose length changed.
func fieldcheckArrayV1() reflect.Type { type Vec [3]int; return reflect.TypeFor[Vec]() }
func fieldcheckArrayV2() reflect.Type { type Vec [4]int; return reflect.TypeFor[Vec]() }

func TestTypeIDSeesShapeChanges(t *testing.T) {
	tests := []struct {
		name string
		a, b reflect.Type
	}{
		// msgpack inlines an embedded struct's fields but nests a named
		// one's: a V1 record decodes as V2 with FieldcheckInner silently zero.
		{"embedded vs named field", fieldcheckEmbeddedV1(), fieldcheckEmbeddedV2()},
		// A [3]int record decodes into a [4]int as {a, b, c, 0}.
		{"named array length", fieldcheckArrayV1(), fieldcheckArrayV2()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if TypeName(tt.a) != TypeName(tt.b) {
				t.Fatalf("test bug: names %q and %q differ", TypeName(tt.a), TypeName(tt.b))
			}
			if ida, idb := TypeID(tt.a), TypeID(tt.b); ida == idb {
				t.Errorf("TypeID(%v) == TypeID(%v) == %q: records of one are decoded as the other", tt.a, tt.b, ida)
			}
		})
	}
}
