package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Values encodes values of type V into records and decodes them back. It
// is safe for concurrent use.
type Values[V any] struct {
	hasTime bool   // V contains a time.Time, which decodes in the Local zone
	byPtr   bool   // V holds a type whose marshaler is on its pointer: encoded through &v
	nest    *shape // V may nest without bound: its values are walked first (nil if not)
	slack   int    // the levels of a V the walk may not count (see slack)
}

// NewValues returns the codec for V, or a *TypeError if V cannot be stored
// faithfully (see [CheckValue]).
func NewValues[V any]() (*Values[V], error) {
	t := reflect.TypeFor[V]()
	if err := CheckValue(t); err != nil {
		return nil, err
	}
	c := &Values[V]{hasTime: containsTime(t, map[reflect.Type]bool{}), byPtr: pointerMarshaler(t) != nil}
	if c.nest = newShape(t); c.nest != nil {
		c.slack = slack(t)
	}
	return c, nil
}

// encoder is a pooled msgpack encoder writing into its own buffer.
type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	e.enc.SetSortMapKeys(true)
	return e
}}

// maxPooledBuffer keeps one huge value from pinning its buffer in the pool.
const maxPooledBuffer = 1 << 20

// Encode returns a record holding v, to be stored under key (the encoded
// key, which its checksum covers), with m's times, cost and grace. A value
// nested MaxDepth deep or more, or holding a cycle, is refused with
// ErrTooDeep.
func (c *Values[V]) Encode(v V, key []byte, m Meta) ([]byte, error) {
	validate := false
	if c.nest != nil {
		deepest, err := c.nest.depth(reflect.ValueOf(&v).Elem(), 0, 0, false)
		if err != nil {
			return nil, fmt.Errorf("codec: encode %T: %w", v, err)
		}
		validate = deepest+c.slack >= MaxDepth
	}
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	e.buf.Write(make([]byte, HeaderSize))
	var err error
	if c.byPtr {
		// msgpack calls a pointer's marshaler on addressable values only.
		err = e.enc.Encode(&v)
	} else {
		err = e.enc.Encode(v)
	}
	if err != nil {
		encoders.Put(e)
		return nil, fmt.Errorf("codec: encode %T: %w", v, err)
	}
	rec := bytes.Clone(e.buf.Bytes())
	if e.buf.Cap() <= maxPooledBuffer {
		encoders.Put(e)
	}
	if validate {
		// The walk counts the levels it is sure of, and those it may not
		// have counted could reach MaxDepth: what msgpack wrote counts
		// them all, so that no record that Decode refuses is made.
		if err := Validate(rec[HeaderSize:]); err != nil {
			return nil, fmt.Errorf("codec: encode %T: %w", v, err)
		}
	}
	putHeader(rec, key, m)
	return rec, nil
}

// decoder is a pooled msgpack decoder with its reader.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// Decode decodes a record's payload (see [Payload]) as a V. Payloads are
// validated first (see [Validate]), so hostile bytes give an error and
// never an unbounded allocation.
func (c *Values[V]) Decode(payload []byte) (V, error) {
	var v V
	if err := Validate(payload); err != nil {
		return v, err
	}
	if err := decode(payload, &v); err != nil {
		var zero V
		return zero, fmt.Errorf("codec: decode %T: %w", v, err)
	}
	if c.hasTime {
		utcTimes(reflect.ValueOf(&v).Elem())
	}
	return v, nil
}

// DecodeAny decodes one msgpack value into generic Go values (maps, slices,
// strings, numbers), as memoctl shows stored keys.
func DecodeAny(b []byte) (any, error) {
	if err := Validate(b); err != nil {
		return nil, err
	}
	var v any
	if err := decode(b, &v); err != nil {
		return nil, fmt.Errorf("codec: decode: %w", err)
	}
	return v, nil
}

// decode decodes b, already validated, into v with a pooled decoder.
func decode(b []byte, v any) error {
	d := decoders.Get().(*decoder)
	d.r.Reset(b)
	d.dec.Reset(&d.r)
	panicked, err := safeDecode(d.dec, v)
	d.r.Reset(nil)
	if !panicked {
		decoders.Put(d)
	}
	return err
}

// safeDecode decodes into v, turning a panic inside msgpack into an error:
// fuzzing found inputs on which msgpack v5.4.1 panics in reflect (for
// example, a map where a struct with slices of pointers is expected), and
// a damaged record must be a miss, never a crash. The decoder is not
// reused after a panic.
func safeDecode(dec *msgpack.Decoder, v any) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, fmt.Errorf("%w: msgpack panicked: %v", ErrBadRecord, r)
		}
	}()
	return false, dec.Decode(v)
}

func containsTime(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] || hasMarshaler(t) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return containsTime(t.Elem(), seen)
	case reflect.Map:
		return containsTime(t.Key(), seen) || containsTime(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if containsTime(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// utcTimes sets every time.Time reachable from v to UTC: msgpack decodes
// times in the Local zone, and UTC is the zone that round-trips exactly.
func utcTimes(v reflect.Value) {
	if v.Type() == timeType {
		if v.CanSet() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			utcTimes(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			utcTimes(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			// An unexported embedded struct cannot be set as a whole, but
			// msgpack fills its exported fields, and those can be set.
			f := v.Field(i)
			if f.CanSet() || v.Type().Field(i).Anonymous && f.Kind() == reflect.Struct {
				utcTimes(f)
			}
		}
	case reflect.Map:
		// Keys cannot be changed in place: a map whose keys hold times is
		// rebuilt with UTC keys, so that lookups with UTC times find them.
		m := v
		rekey := v.CanSet() && containsTime(v.Type().Key(), map[reflect.Type]bool{})
		if rekey {
			m = reflect.MakeMapWithSize(v.Type(), v.Len())
		}
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if rekey {
				k = reflect.New(k.Type()).Elem()
				k.Set(iter.Key())
				utcTimes(k)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			utcTimes(e)
			m.SetMapIndex(k, e)
		}
		if rekey {
			v.Set(m)
		}
	}
}

// DecodeKey decodes b, a key made by a KeyEncoder[K], back into a K. It
// returns an error if b does not decode into a K; the caller should check
// that K encodes back to b (a key type may lose detail in the round trip,
// as a map key order would).
func DecodeKey[K any](b []byte) (K, error) {
	var k K
	if err := Validate(b); err != nil {
		return k, err
	}
	if err := decode(b, &k); err != nil {
		return k, fmt.Errorf("codec: decode key: %w", err)
	}
	return k, nil
}
