package codec

import (
	"reflect"
	"strconv"
	"testing"
	"time"
)

// Value types that CheckValue accepts but that do not round-trip, or whose
// two decodings are not even equal to each other.

type Inner struct{ A int }

// TaggedEmbed embeds Inner under a tag name. msgpack v5
// inlines an embedded struct whatever its tag name says (getFields:
// f.Anonymous && !noinline → shouldInline), so Inner.A is stored as "A",
// a second "A" next to the outer field: Inner.A comes back 0.
type TaggedEmbed struct {
	Inner `msgpack:"in"`
	A     int
}

// Alias: X's alias "y" takes over the name Y is stored under, so
// Y's value is decoded into X and Y comes back 0.
type Alias struct {
	Y int `msgpack:"y"`
	X int `msgpack:"x,alias:y"`
}

func TestCheckValueTaggedEmbedded(t *testing.T) {
	acceptedRoundTrips(t, TaggedEmbed{Inner{A: 1}, 2})
}

func TestCheckValueAliasCollision(t *testing.T) {
	acceptedRoundTrips(t, Alias{Y: 2, X: 1})
}

// A map keyed by pointers comes back keyed by new pointers: no lookup with
// the caller's pointers finds anything, and two decodings of one record are
// not reflect.DeepEqual (DeepEqual looks map keys up by ==), so the memory
// tier's answer and the store's differ. CheckValue should refuse pointers
// (and anything holding one) as map keys.
func TestCheckValuePointerMapKey(t *testing.T) {
	type K struct{ P *int }
	for _, typ := range []reflect.Type{
		reflect.TypeFor[map[*int]string](),
		reflect.TypeFor[map[K]string](),
		reflect.TypeFor[map[[1]*string]int](),
	} {
		if err := CheckValue(typ); err == nil {
			t.Errorf("CheckValue(%v) = nil; its keys come back as new pointers, unequal to every key that went in", typ)
		}
	}
	one := 1
	acceptedRoundTrips(t, map[*int]string{&one: "a"})
}

// Stamped embeds time.Time, whose MarshalBinary/UnmarshalBinary
// (and text, JSON, GobEncode) are promoted to Stamped: hasMarshaler
// says "has its own marshaler", CheckValue trusts it, and msgpack encodes
// the whole struct through time's MarshalBinary, dropping Note.
type Stamped struct {
	time.Time
	Note string
}

func TestCheckValueEmbeddedTime(t *testing.T) {
	t.Run("other fields", func(t *testing.T) {
		c, err := NewValues[Stamped]()
		if err != nil {
			return // refused up front: acceptable
		}
		in := Stamped{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "hello"}
		rec, err := c.Encode(in, testKey, Meta{StoredAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(rec[HeaderSize:])
		if err != nil {
			t.Fatal(err)
		}
		if got.Note != in.Note || !got.Time.Equal(in.Time) {
			t.Errorf("NewValues accepted %T, but it comes back as {%v, Note: %q}, want {%v, Note: %q}", in, got.Time, got.Note, in.Time, in.Note)
		}
	})
	// The package doc: "time.Time values come back as the same instant in
	// UTC". An embedded one comes back in a zone that depends on the
	// decoding process's time.Local (Local if the offsets match, else an
	// unnamed fixed zone), so two machines sharing a store decode one
	// record differently.
	t.Run("zone", func(t *testing.T) {
		c, err := NewValues[Stamped]()
		if err != nil {
			return // refused up front: acceptable
		}
		in := Stamped{Time: time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))}
		rec, err := c.Encode(in, testKey, Meta{StoredAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(rec[HeaderSize:])
		if err != nil {
			t.Fatal(err)
		}
		if got.Location() != time.UTC || !got.Time.Equal(in.Time) {
			t.Errorf("embedded time came back as %v (zone %q), want %v in UTC", got.Time, got.Location(), in.Time.UTC())
		}
	})
}

// msgpack reads a tag name of "-" as "leave the field out", options or
// not; CheckValue only skips the exact tag "-" and takes `msgpack:"-,"`
// (encoding/json's spelling of a field named "-") for a field stored under
// "-": A is silently dropped.
type Dash struct {
	A int `msgpack:"-,"`
	B int
}

func TestCheckValueDashCommaTag(t *testing.T) {
	acceptedRoundTrips(t, Dash{A: 1, B: 2})
}

// msgpack panics ("intern strings are not supported on int") when it first
// builds the fields of a struct with `msgpack:",intern"` on a field that is
// not a string or an interface; CheckValue accepts the type, so the panic
// comes from Encode, on every Call.
type InternInt struct {
	N int `msgpack:",intern"`
}

func TestCheckValueInternOnInt(t *testing.T) {
	c, err := NewValues[InternInt]()
	if err != nil {
		return // refused up front: acceptable
	}
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("NewValues accepted %T, then Encode panicked: %v", InternInt{}, r)
		}
	}()
	if _, err := c.Encode(InternInt{N: 3}, testKey, Meta{StoredAt: 1}); err != nil {
		t.Logf("Encode: %v", err)
	}
}

// PtrText has its text marshaler and unmarshaler on the pointer, as
// most types do. hasMarshaler counts the pointer's methods, so CheckValue
// trusts them; but msgpack uses a pointer-receiver marshaler only on an
// addressable value, and Values.Encode passes V by value (and map values
// are never addressable): Encode fails on every call, and a memoized
// function with such a V never stores anything (logged as "result not
// stored" on each Call).
type PtrText struct{ n int }

func (p *PtrText) MarshalText() ([]byte, error) { return []byte(strconv.Itoa(p.n)), nil }
func (p *PtrText) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(string(b))
	p.n = n
	return err
}

func TestCheckValuePointerMarshalerEncodes(t *testing.T) {
	t.Run("top level", func(t *testing.T) { acceptedRoundTrips(t, PtrText{3}) })
	t.Run("map value", func(t *testing.T) { acceptedRoundTrips(t, map[string]PtrText{"a": {3}}) })
}
