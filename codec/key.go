package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// A KeyEncoder appends the deterministic encoding of k to dst and returns the
// extended slice.
type KeyEncoder[K comparable] func(dst []byte, k K) []byte

// NewKeyEncoder returns the encoder for keys of type K, or an error naming
// the part of K that cannot be encoded faithfully (see [CheckKey]).
//
// Keys whose kind is an integer, a bool or a string (named types included)
// are encoded without reflection and without allocating beyond dst.
//
// The encoding is written by hand rather than with msgpack.Marshal because
// keys must be byte-for-byte canonical: msgpack's encoder chooses struct and
// float layouts by its options, and it does not fold -0.0 into 0.0.
func NewKeyEncoder[K comparable]() (KeyEncoder[K], error) {
	t := reflect.TypeFor[K]()
	if err := CheckKey(t); err != nil {
		return nil, err
	}
	// The fast paths read K through unsafe.Pointer: the kind check above
	// guarantees that K's memory layout is exactly that of the basic type,
	// whatever K's name, and it saves the allocation that reflect.ValueOf
	// costs for most keys.
	switch kind := t.Kind(); {
	case kind == reflect.String:
		return func(dst []byte, k K) []byte {
			return AppendString(dst, *(*string)(unsafe.Pointer(&k)))
		}, nil
	case kind == reflect.Bool:
		return func(dst []byte, k K) []byte { return appendBool(dst, *(*bool)(unsafe.Pointer(&k))) }, nil
	case isSigned(kind):
		switch t.Size() {
		case 8:
			return func(dst []byte, k K) []byte { return AppendInt(dst, *(*int64)(unsafe.Pointer(&k))) }, nil
		case 4:
			return func(dst []byte, k K) []byte { return AppendInt(dst, int64(*(*int32)(unsafe.Pointer(&k)))) }, nil
		case 2:
			return func(dst []byte, k K) []byte { return AppendInt(dst, int64(*(*int16)(unsafe.Pointer(&k)))) }, nil
		case 1:
			return func(dst []byte, k K) []byte { return AppendInt(dst, int64(*(*int8)(unsafe.Pointer(&k)))) }, nil
		}
	case isUnsigned(kind):
		switch t.Size() {
		case 8:
			return func(dst []byte, k K) []byte { return AppendUint(dst, *(*uint64)(unsafe.Pointer(&k))) }, nil
		case 4:
			return func(dst []byte, k K) []byte { return AppendUint(dst, uint64(*(*uint32)(unsafe.Pointer(&k)))) }, nil
		case 2:
			return func(dst []byte, k K) []byte { return AppendUint(dst, uint64(*(*uint16)(unsafe.Pointer(&k)))) }, nil
		case 1:
			return func(dst []byte, k K) []byte { return AppendUint(dst, uint64(*(*uint8)(unsafe.Pointer(&k)))) }, nil
		}
	}
	return func(dst []byte, k K) []byte {
		return appendValue(dst, reflect.ValueOf(&k).Elem())
	}, nil
}

// appendValue encodes v, whose type CheckKey has accepted.
func appendValue(dst []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.String:
		return AppendString(dst, v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return AppendInt(dst, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return AppendUint(dst, v.Uint())
	case reflect.Bool:
		return appendBool(dst, v.Bool())
	case reflect.Float32:
		return appendFloat32(dst, float32(v.Float()))
	case reflect.Float64:
		return appendFloat64(dst, v.Float())
	case reflect.Array:
		dst = appendArrayLen(dst, v.Len())
		for i := range v.Len() {
			dst = appendValue(dst, v.Index(i))
		}
		return dst
	case reflect.Struct:
		t := v.Type()
		dst = appendMapLen(dst, t.NumField())
		for i := range t.NumField() {
			dst = AppendString(dst, fieldName(t.Field(i)))
			dst = appendValue(dst, v.Field(i))
		}
		return dst
	}
	// CheckKey rejects every other kind before an encoder exists.
	panic(fmt.Sprintf("codec: unreachable key kind %s", v.Kind()))
}

// AppendInt appends n in MessagePack's most compact integer form.
func AppendInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return AppendUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}

// AppendUint appends n in MessagePack's most compact integer form.
func AppendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
}

// AppendString appends s as a MessagePack string.
func AppendString(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

func appendFloat32(dst []byte, f float32) []byte {
	bits := math.Float32bits(f)
	switch {
	case f == 0:
		bits = 0 // fold -0.0 into 0.0
	case f != f:
		bits = math.Float32bits(float32(math.NaN()))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xca), bits)
}

func appendFloat64(dst []byte, f float64) []byte {
	bits := math.Float64bits(f)
	switch {
	case f == 0:
		bits = 0 // fold -0.0 into 0.0
	case f != f:
		bits = math.Float64bits(math.NaN())
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), bits)
}

func appendArrayLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

func appendMapLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// fieldName is the name a struct field is stored under: its msgpack tag
// name if it has one, else its Go name.
func fieldName(f reflect.StructField) string {
	tag := f.Tag.Get("msgpack")
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			tag = tag[:i]
			break
		}
	}
	if tag != "" && tag != "-" {
		return tag
	}
	return f.Name
}

func isSigned(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUnsigned(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uintptr
}
