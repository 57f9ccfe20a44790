package codec

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// A TypeError reports a key or value type that cannot be stored faithfully.
type TypeError struct {
	Role   string       // "key" or "value"
	Type   reflect.Type // the memoized key or value type
	Path   string       // where in Type the problem is, such as ".Owner.name"; "" for Type itself
	Reason string
}

// Error describes the problem, naming the type and the field.
func (e *TypeError) Error() string {
	where := ""
	if e.Path != "" {
		where = " at " + e.Path
	}
	return fmt.Sprintf("codec: %s type %s%s: %s", e.Role, e.Type, where, e.Reason)
}

// CheckKey reports whether keys of type t can be encoded deterministically
// and faithfully. It rejects pointers, interfaces, channels, functions,
// unsafe pointers, complex numbers, unexported struct fields and fields
// tagged `msgpack:"-"` (dropping a field would make different keys collide).
// Strings, bools, integers, floats, and arrays and structs of those are
// accepted.
func CheckKey(t reflect.Type) error {
	if t == nil {
		return &TypeError{Role: "key", Reason: "the type is nil (reflect.TypeOf of a nil interface value)"}
	}
	return checkKey(t, t, "")
}

func checkKey(root, t reflect.Type, path string) error {
	fail := func(reason string) error {
		return &TypeError{Role: "key", Type: root, Path: path, Reason: reason}
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64:
		return nil
	case reflect.Array:
		return checkKey(root, t.Elem(), path+"[]")
	case reflect.Struct:
		if t == timeType {
			return fail("time.Time cannot be a key (its fields are unexported and its == compares locations); use UnixNano()")
		}
		for i := range t.NumField() {
			f := t.Field(i)
			fpath := path + "." + f.Name
			if !f.IsExported() {
				return &TypeError{Role: "key", Type: root, Path: fpath,
					Reason: fmt.Sprintf("unexported field %s of %s cannot be encoded", f.Name, t)}
			}
			if tagName(f) == "-" {
				return &TypeError{Role: "key", Type: root, Path: fpath,
					Reason: `a field tagged msgpack:"-" would make different keys collide`}
			}
			if err := checkKey(root, f.Type, fpath); err != nil {
				return err
			}
		}
		return nil
	}
	if isSigned(t.Kind()) || isUnsigned(t.Kind()) {
		return nil
	}
	return fail(fmt.Sprintf("%s (%s) cannot be stored faithfully in a key", t, kindNoun(t.Kind())))
}

// CheckValue reports whether values of type t survive a round trip through
// msgpack. It rejects channels, functions, interfaces, unsafe pointers,
// uintptrs (msgpack panics on them), complex numbers and unexported struct
// fields (msgpack silently drops them), unless the type, or a pointer to it,
// has its own msgpack, binary or text marshaler and unmarshaler, which are
// then trusted. time.Time is accepted. It also rejects struct fields that
// msgpack would store under one name (a field of an embedded struct
// shadowed by the outer struct's, two fields tagged alike), of which one
// comes back zero, and embedded pointers msgpack inlines, which come back
// allocated when nil (see fieldNames). It rejects what msgpack would
// mishandle for all the type's methods and tags: a struct that gets its
// marshaler from an embedded field while it has other fields (they would
// be dropped), map keys holding pointers (they come back as new pointers),
// marshalers on the pointer only in a map's keys or values (msgpack cannot
// call them there), `msgpack:"-,"` (a field left out, where encoding/json
// names it "-") and `,intern` on a field that is not a string. One loss is
// accepted, as msgpack has no way to say it: a non-nil pointer to a nil
// pointer comes back nil.
func CheckValue(t reflect.Type) error {
	if t == nil {
		return &TypeError{Role: "value", Reason: "the type is nil (reflect.TypeOf of a nil interface value)"}
	}
	return checkValue(t, t, "", map[reflect.Type]bool{})
}

func checkValue(root, t reflect.Type, path string, seen map[reflect.Type]bool) error {
	fail := func(reason string) error {
		return &TypeError{Role: "value", Type: root, Path: path, Reason: reason}
	}
	if f, ok := promotedMarshaler(t); ok {
		return fail(fmt.Sprintf("%s gets the marshaler of its embedded %s, which msgpack encodes it with: its other fields would be dropped; give the field a name, or %s a marshaler of its own", t, f.Type, t))
	}
	if seen[t] || t == timeType || hasMarshaler(t) {
		return nil
	}
	seen[t] = true
	switch k := t.Kind(); {
	case k == reflect.Uintptr:
		// msgpack has no encoder or decoder for uintptr: it would panic.
		return fail(fmt.Sprintf("%s (%s) cannot be stored faithfully", t, kindNoun(k)))
	case k == reflect.Bool || k == reflect.String || k == reflect.Float32 || k == reflect.Float64,
		isSigned(k), isUnsigned(k):
		return nil
	case k == reflect.Pointer:
		chain := map[reflect.Type]bool{t: true}
		for e := t.Elem(); e.Kind() == reflect.Pointer && !hasMarshaler(e); e = e.Elem() {
			if chain[e] {
				// msgpack's encoder recurses on such a type for ever,
				// even to encode nil: the process dies.
				return fail(fmt.Sprintf("%s leads to a pointer to itself, through pointers alone", t))
			}
			chain[e] = true
		}
		return checkValue(root, t.Elem(), path, seen)
	case k == reflect.Slice || k == reflect.Array:
		return checkValue(root, t.Elem(), path+"[]", seen)
	case k == reflect.Map:
		if holdsPointer(t.Key()) {
			return &TypeError{Role: "value", Type: root, Path: path + "[key]",
				Reason: fmt.Sprintf("map keys of %s hold pointers, which come back as new pointers: no key of the caller's finds its entry", t.Key())}
		}
		for _, part := range []struct {
			t    reflect.Type
			path string
		}{{t.Key(), path + "[key]"}, {t.Elem(), path + "[]"}} {
			if m := pointerMarshaler(part.t); m != nil {
				return &TypeError{Role: "value", Type: root, Path: part.path,
					Reason: fmt.Sprintf("%s has its marshaler on *%s only, which msgpack cannot call in a map's keys or values (they are not addressable); give %s value-receiver marshal methods", m, m, m)}
			}
			if err := checkValue(root, part.t, part.path, seen); err != nil {
				return err
			}
		}
		return nil
	case k == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fpath := path + "." + f.Name
			if tagName(f) == "-" {
				if tag := f.Tag.Get("msgpack"); tag != "-" {
					return &TypeError{Role: "value", Type: root, Path: fpath,
						Reason: fmt.Sprintf(`msgpack leaves out a field tagged %q, where encoding/json names it "-"; tag it "-" to leave it out`, tag)}
				}
				continue // left out on purpose by its author
			}
			if _, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ","); hasOpt(opts, "intern") &&
				f.Type.Kind() != reflect.String && f.Type.Kind() != reflect.Interface {
				return &TypeError{Role: "value", Type: root, Path: fpath,
					Reason: fmt.Sprintf(`msgpack:",intern" is for strings, and msgpack panics on it for %s`, f.Type)}
			}
			if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
				return &TypeError{Role: "value", Type: root, Path: fpath,
					Reason: fmt.Sprintf("unexported field %s of %s would be silently dropped; export it, tag it `msgpack:\"-\"`, or give %s a MarshalMsgpack/UnmarshalMsgpack pair", f.Name, t, t)}
			}
			if err := checkValue(root, f.Type, fpath, seen); err != nil {
				return err
			}
		}
		return fieldNames(root, t, path, map[string]string{})
	}
	return fail(fmt.Sprintf("%s (%s) cannot be stored faithfully", t, kindNoun(t.Kind())))
}

// fieldNames adds the names under which msgpack stores the fields of
// struct t to names (name → the field's path), the fields of embedded
// structs it inlines included, and fails on a name given twice: msgpack
// writes both and decodes both into one field, and the other comes back
// zero (an embedded struct's field shadowed by one of the outer struct,
// two fields tagged alike). It also fails on an embedded pointer that
// msgpack would inline: a nil one comes back allocated.
func fieldNames(root, t reflect.Type, path string, names map[string]string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("msgpack")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		fpath := path + "." + f.Name
		ft := f.Type
		// As msgpack (getFields): an embedded struct is inlined unless
		// tagged noinline, whatever name its tag gives it.
		if f.Anonymous && !hasOpt(opts, "noinline") {
			inner := ft
			if inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct && !hasMarshaler(inner) {
				if ft.Kind() == reflect.Pointer {
					return &TypeError{Role: "value", Type: root, Path: fpath,
						Reason: fmt.Sprintf("msgpack inlines the fields of embedded %s, and a nil one comes back allocated; embed %s, or tag it `msgpack:\",noinline\"`", ft, inner)}
				}
				if err := fieldNames(root, inner, fpath, names); err != nil {
					return err
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		given := []string{name}
		for o := range strings.SplitSeq(opts, ",") {
			if alias, ok := strings.CutPrefix(o, "alias:"); ok {
				given = append(given, alias) // msgpack decodes that name into this field too
			}
		}
		for _, name := range given {
			if other, ok := names[name]; ok {
				return &TypeError{Role: "value", Type: root, Path: fpath,
					Reason: fmt.Sprintf("msgpack stores %s and %s under one name, %q, and one of them would come back zero; rename one, or tag it", other, fpath, name)}
			}
			names[name] = fpath
		}
	}
	return nil
}

// tagName is the name part of f's msgpack tag ("-": left out).
func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
	return name
}

// promotedMarshaler reports an embedded field of struct t whose marshaler
// t has, promoted, while t has other fields: msgpack encodes t with it,
// and drops them (struct{ time.Time; Note string } loses Note). A struct
// that embeds such a type and also declares its own marshaler is refused
// too, as reflect cannot tell its methods from promoted ones.
func promotedMarshaler(t reflect.Type) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct || t.NumField() < 2 || !hasMarshaler(t) {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && hasMarshaler(f.Type) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// holdsPointer reports whether values of t hold a pointer that msgpack
// encodes by what it points to (a type with its own marshaler is trusted).
func holdsPointer(t reflect.Type) bool {
	if hasMarshaler(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer:
		return true
	case reflect.Array:
		return holdsPointer(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsPointer(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// pointerMarshaler returns the type held in t, itself or inline (a field, an
// array's element), whose marshaler msgpack can call only on a pointer to
// it, which it has for an addressable value alone; or nil.
func pointerMarshaler(t reflect.Type) reflect.Type {
	if hasMarshaler(t) {
		if !valueMarshaler(t) {
			return t
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Array:
		return pointerMarshaler(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if m := pointerMarshaler(t.Field(i).Type); m != nil {
				return m
			}
		}
	}
	return nil
}

// valueMarshaler reports whether t's own methods (not its pointer's)
// encode it.
func valueMarshaler(t reflect.Type) bool {
	return t.Implements(customEncoderType) || t.Implements(marshalerType) ||
		t.Implements(binaryMarshalType) || t.Implements(textMarshalType)
}

// hasOpt reports whether opts, a msgpack tag's options, has opt.
func hasOpt(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

var (
	timeType           = reflect.TypeFor[time.Time]()
	customEncoderType  = reflect.TypeFor[msgpack.CustomEncoder]()
	customDecoderType  = reflect.TypeFor[msgpack.CustomDecoder]()
	marshalerType      = reflect.TypeFor[msgpack.Marshaler]()
	unmarshalerType    = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryMarshalType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalTyp = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshalType    = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalType  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// hasMarshaler reports whether msgpack would encode and decode t through
// one of the type's own methods rather than field by field.
func hasMarshaler(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	pt := reflect.PointerTo(t)
	implements := func(iface reflect.Type) bool { return t.Implements(iface) || pt.Implements(iface) }
	return implements(customEncoderType) && pt.Implements(customDecoderType) ||
		implements(marshalerType) && pt.Implements(unmarshalerType) ||
		implements(binaryMarshalType) && pt.Implements(binaryUnmarshalTyp) ||
		implements(textMarshalType) && pt.Implements(textUnmarshalType)
}

func kindNoun(k reflect.Kind) string {
	switch k {
	case reflect.Pointer:
		return "a pointer"
	case reflect.Interface:
		return "an interface"
	case reflect.Chan:
		return "a channel"
	case reflect.Func:
		return "a function"
	case reflect.UnsafePointer:
		return "an unsafe pointer"
	case reflect.Complex64, reflect.Complex128:
		return "a complex number, which msgpack does not support"
	case reflect.Map, reflect.Slice:
		return "a " + k.String()
	case reflect.Uintptr:
		return "a uintptr, which msgpack does not support"
	}
	return k.String()
}

// TypeName is the human-readable name of t recorded with a namespace, such
// as "main.User" or "[]string".
func TypeName(t reflect.Type) string {
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// TypeID is a fingerprint of t's stored shape: its name and, recursively,
// the names, tags and types of its fields. Two types with the same TypeID
// read each other's records; any change to a field gives a new TypeID, so a
// namespace whose value type changed shape is discarded rather than decoded
// into a silently different value.
func TypeID(t reflect.Type) string {
	var b strings.Builder
	writeShape(&b, t, map[reflect.Type]bool{})
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:12])
}

func writeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	b.WriteString(TypeName(t))
	if seen[t] || t == timeType || hasMarshaler(t) {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Array && t.Name() != "" {
			// A named array's name has no length; an unnamed one's has.
			fmt.Fprintf(b, "[%d]", t.Len())
		}
		b.WriteByte('(')
		writeShape(b, t.Elem(), seen)
		b.WriteByte(')')
	case reflect.Map:
		b.WriteByte('(')
		writeShape(b, t.Key(), seen)
		b.WriteByte(',')
		writeShape(b, t.Elem(), seen)
		b.WriteByte(')')
	case reflect.Struct:
		b.WriteByte('{')
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				// msgpack inlines an embedded struct's fields, and
				// nests a named one's: the same fields, stored apart.
				b.WriteString("embedded ")
			}
			fmt.Fprintf(b, "%s %q ", f.Name, f.Tag.Get("msgpack"))
			writeShape(b, f.Type, seen)
			b.WriteByte(';')
		}
		b.WriteByte('}')
	default:
		b.WriteString("/" + t.Kind().String())
	}
}
