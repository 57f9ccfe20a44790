package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrTooDeep is the error of Encode for a value nested MaxDepth deep or
// more, which the store could never read back (see [Validate]), or holding
// a cycle (a list whose last node points at its first, a map that holds
// itself), which has no encoding at all.
var ErrTooDeep = errors.New("value nested too deep")

// A shape is a type whose values may nest without a bound that the type
// sets: a recursive type (a list's node, a tree, a slice of its own type)
// or one that holds one. Only such values are walked before encoding (see
// depth), along their shapes; the others nest no deeper than their type,
// and msgpack's encoder walks them alone.
//
// The walk is written here because msgpack's encoder has no bound on its
// recursion: given a cycle, it recursed until the goroutine's stack
// overflowed, a fatal error that no recover catches, and the process died
// (TestEncodeCycleRefused). It costs a walk of the value, for recursive
// types only: encoding a binary tree of 1,023 nodes took 17% to 22%
// longer with it (BenchmarkEncodeTree, two benchstats of 9 runs each:
// 160 µs against 137, and 265 against 217 on a busier machine).
type shape struct {
	kind   reflect.Kind
	elem   *shape       // a pointer's, a slice's, an array's or a map's values, if they nest
	fields []fieldShape // a struct's fields that nest
	level  bool         // a struct with a field msgpack always writes: never an empty map
}

type fieldShape struct {
	index  int
	inline bool // an embedded struct, whose fields msgpack inlines
	s      *shape
}

// newShape returns the shape of t, or nil if t's values nest no deeper
// than t says.
func newShape(t reflect.Type) *shape {
	n := newNesting(t)
	shapes := map[reflect.Type]*shape{}
	var of func(u reflect.Type) *shape
	of = func(u reflect.Type) *shape {
		if !n[u] {
			return nil
		}
		if s, ok := shapes[u]; ok {
			return s
		}
		s := &shape{kind: u.Kind()}
		shapes[u] = s
		switch u.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			s.elem = of(u.Elem())
		case reflect.Map:
			s.elem = of(u.Elem()) // keys hold no pointer, slice or map (CheckValue)
		case reflect.Struct:
			s.level = alwaysWritten(u)
			for i := range u.NumField() {
				f := u.Field(i)
				if fs := of(f.Type); fs != nil && encoded(f) {
					s.fields = append(s.fields, fieldShape{i, inlined(f), fs})
				}
			}
		}
		return s
	}
	return of(t)
}

// inlined reports whether msgpack writes the fields of struct field f in
// the struct that holds it, as it does an embedded struct's unless tagged
// noinline (see fieldNames).
func inlined(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
	return f.Anonymous && f.Type.Kind() == reflect.Struct && !hasMarshaler(f.Type) && !hasOpt(opts, "noinline")
}

// slack bounds the levels that msgpack may write for a value of t beyond
// those that depth counts: the levels of the parts it does not walk
// (their types do not nest, so their depth is bounded) and one for each
// struct it may not count (see alwaysWritten). A part that msgpack writes
// with a marshaler of the type's own could nest as deep as it likes:
// MaxDepth, so that Encode always validates.
func slack(t reflect.Type) int {
	memo := map[reflect.Type]int{}
	var static func(u reflect.Type, path map[reflect.Type]bool) int
	static = func(u reflect.Type, path map[reflect.Type]bool) int {
		if d, ok := memo[u]; ok {
			return d
		}
		if path[u] { // recursive: depth walks it; its own levels are counted
			return 1
		}
		path[u] = true
		defer delete(path, u)
		d := 0
		switch {
		case u == timeType:
		case hasMarshaler(u):
			pt := reflect.PointerTo(u)
			if u.Implements(customEncoderType) || pt.Implements(customEncoderType) || u.Implements(marshalerType) || pt.Implements(marshalerType) {
				d = MaxDepth // msgpack of its own making
			}
		default:
			switch u.Kind() {
			case reflect.Pointer:
				d = static(u.Elem(), path)
			case reflect.Slice, reflect.Array:
				if u.Elem().Kind() != reflect.Uint8 {
					d = 1 + static(u.Elem(), path)
				}
			case reflect.Map:
				d = 1 + max(static(u.Key(), path), static(u.Elem(), path))
			case reflect.Struct:
				for i := range u.NumField() {
					if f := u.Field(i); encoded(f) {
						d = max(d, static(f.Type, path))
					}
				}
				d++
			}
		}
		d = min(d, MaxDepth)
		memo[u] = d
		return d
	}
	return static(t, map[reflect.Type]bool{})
}

// nesting says, for each type reachable from a value's type, whether
// values of it may nest without a bound that the type sets.
type nesting map[reflect.Type]bool

// newNesting returns the nesting of the types reachable from t: those
// that reach a recursive type (maybe themselves). The recursive types are
// those of the strongly connected components of the type graph (see
// children) with more than one type, or a type that holds itself; found
// by Tarjan's algorithm, in time linear in the types and their edges.
func newNesting(t reflect.Type) nesting {
	index, low := map[reflect.Type]int{}, map[reflect.Type]int{}
	onStack := map[reflect.Type]bool{}
	var stack []reflect.Type
	n := nesting{}
	var strong func(u reflect.Type)
	strong = func(u reflect.Type) {
		index[u], low[u] = len(index), len(index)
		stack = append(stack, u)
		onStack[u] = true
		cs := children(u)
		for _, c := range cs {
			if _, seen := index[c]; !seen {
				strong(c)
				low[u] = min(low[u], low[c])
			} else if onStack[c] {
				low[u] = min(low[u], index[c])
			}
		}
		if low[u] != index[u] {
			return
		}
		// u roots a component: pop it. The components it reaches were
		// all popped before it, so their nesting is known.
		var comp []reflect.Type
		for {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[v] = false
			comp = append(comp, v)
			if v == u {
				break
			}
		}
		nests := len(comp) > 1
		for _, v := range comp {
			for _, c := range children(v) {
				if c == v || n[c] {
					nests = true
				}
			}
		}
		if nests {
			for _, v := range comp {
				n[v] = true
			}
		}
	}
	strong(t)
	return n
}

// children returns the types msgpack encodes inside a value of t, field by
// field; none for a type it encodes whole (a time, a type with a
// marshaler, bytes).
func children(t reflect.Type) []reflect.Type {
	if t == timeType || hasMarshaler(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return []reflect.Type{t.Elem()}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		return []reflect.Type{t.Elem()}
	case reflect.Map:
		return []reflect.Type{t.Key(), t.Elem()}
	case reflect.Struct:
		var cs []reflect.Type
		for i := range t.NumField() {
			if f := t.Field(i); encoded(f) {
				cs = append(cs, f.Type)
			}
		}
		return cs
	}
	return nil
}

// encoded reports whether msgpack encodes field f of a struct.
func encoded(f reflect.StructField) bool {
	return tagName(f) != "-" && (f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct)
}

// alwaysWritten reports whether msgpack writes a field of struct t
// whatever its value: one that it encodes, not tagged omitempty (nor all
// of them, by a _msgpack field tagged so), among t's own fields and those
// of the structs it inlines.
func alwaysWritten(t reflect.Type) bool {
	if f, ok := t.FieldByName("_msgpack"); ok {
		if _, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ","); hasOpt(opts, "omitempty") {
			return false
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !encoded(f) || f.Name == "_msgpack" {
			continue
		}
		if inlined(f) {
			if alwaysWritten(f.Type) {
				return true
			}
			continue
		}
		if _, opts, _ := strings.Cut(f.Tag.Get("msgpack"), ","); !hasOpt(opts, "omitempty") {
			return true
		}
	}
	return false
}

// maxSteps bounds the walk's recursion, whatever the levels: a cycle
// through structs whose fields are all omitempty, say, adds none that
// depth counts for sure.
const maxSteps = 100 * MaxDepth

// depth checks that v, of shape s, nests less than MaxDepth deep below
// depth, the levels above it, and stops at the first level too deep, so
// that a cycle ends it; steps counts the calls above it, which maxSteps
// bounds. It returns the deepest level it counted. It counts the levels
// msgpack writes for sure (Validate counts each non-empty array and map):
// each non-empty map, slice and array, and each struct with a field that
// msgpack writes (see alwaysWritten; or a non-empty pointer, slice or map
// field that depth walks); a pointer is none, and so is a struct that
// msgpack inlines (inline: its fields are counted in the struct that
// holds it). It may count fewer, by slack at most: the parts of a value
// whose types do not nest are not walked, nor counted.
func (s *shape) depth(v reflect.Value, depth, steps int, inline bool) (int, error) {
	if steps++; steps > maxSteps {
		return depth, tooDeep()
	}
	switch s.kind {
	case reflect.Pointer:
		if v.IsNil() {
			return depth, nil
		}
		return s.elem.depth(v.Elem(), depth, steps, false)
	case reflect.Slice, reflect.Array, reflect.Map:
		if v.Len() == 0 {
			return depth, nil
		}
		depth++
	case reflect.Struct:
		// An inlined struct's fields are written in the struct that
		// holds it, whose level counts them (see written).
		if !inline && (s.level || s.written(v)) {
			depth++
		}
	}
	if depth >= MaxDepth {
		return depth, tooDeep()
	}
	deepest := depth
	walk := func(e *shape, v reflect.Value, d int, inline bool) error {
		got, err := e.depth(v, d, steps, inline)
		deepest = max(deepest, got)
		return err
	}
	switch s.kind {
	case reflect.Slice, reflect.Array:
		if s.elem != nil {
			for i := range v.Len() {
				if err := walk(s.elem, v.Index(i), depth, false); err != nil {
					return deepest, err
				}
			}
		}
	case reflect.Map:
		if s.elem != nil {
			for it := v.MapRange(); it.Next(); {
				if err := walk(s.elem, it.Value(), depth, false); err != nil {
					return deepest, err
				}
			}
		}
	case reflect.Struct:
		for _, f := range s.fields {
			if err := walk(f.s, v.Field(f.index), depth, f.inline); err != nil {
				return deepest, err
			}
		}
	}
	return deepest, nil
}

// written reports whether struct v has a field that depth walks and that
// is not empty (a pointer not nil, a slice, array or map not empty, a
// struct not zero, or an inlined struct with such a field), which msgpack
// writes even if tagged omitempty.
func (s *shape) written(v reflect.Value) bool {
	for _, f := range s.fields {
		if f.inline { // its fields are v's
			if f.s.written(v.Field(f.index)) {
				return true
			}
			continue
		}
		switch fv := v.Field(f.index); fv.Kind() {
		case reflect.Struct: // a struct field, written unless zero
			if !fv.IsZero() {
				return true
			}
		case reflect.Pointer:
			if !fv.IsNil() {
				return true
			}
		case reflect.Slice, reflect.Array, reflect.Map:
			if fv.Len() > 0 {
				return true
			}
		}
	}
	return false
}

func tooDeep() error {
	return fmt.Errorf("%w: %d levels or more, where the store reads back %d: it holds a cycle of pointers, slices or maps, or nests deeper than that", ErrTooDeep, MaxDepth, MaxDepth-1)
}
