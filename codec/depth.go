package codec

import (
	"errors"
	"fmt"
	"reflect"
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
// types only: encoding a binary tree of 1,023 nodes took 15% longer with
// it, 198 µs against 172 (BenchmarkEncodeTree, benchstat of 9 runs).
type shape struct {
	kind   reflect.Kind
	elem   *shape       // a pointer's, a slice's, an array's or a map's values, if they nest
	fields []fieldShape // a struct's fields that nest
	level  bool         // a struct with fields: a level of its own
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
			s.level = u.NumField() > 0
			for i := range u.NumField() {
				f := u.Field(i)
				if fs := of(f.Type); fs != nil && encoded(f) {
					s.fields = append(s.fields, fieldShape{i, f.Anonymous && f.Type.Kind() == reflect.Struct, fs})
				}
			}
		}
		return s
	}
	return of(t)
}

// nesting says, for each type reachable from a value's type, whether
// values of it may nest without a bound that the type sets.
type nesting map[reflect.Type]bool

// newNesting returns the nesting of the types reachable from t.
func newNesting(t reflect.Type) nesting {
	// reach[u] is the types reachable from u in one step or more.
	reach := map[reflect.Type]map[reflect.Type]bool{}
	var visit func(u reflect.Type)
	visit = func(u reflect.Type) {
		if _, ok := reach[u]; ok {
			return
		}
		reach[u] = map[reflect.Type]bool{}
		for _, c := range children(u) {
			visit(c)
		}
	}
	visit(t)
	// Close reach over the steps: a fixed point, fine for the few types a
	// value's type holds.
	for changed := true; changed; {
		changed = false
		for u, r := range reach {
			for _, c := range children(u) {
				for _, v := range append([]reflect.Type{c}, keys(reach[c])...) {
					if !r[v] {
						r[v], changed = true, true
					}
				}
			}
		}
	}
	n := nesting{}
	for u, r := range reach {
		for v := range r {
			if reach[v][v] { // u reaches a recursive type (maybe itself)
				n[u] = true
				break
			}
		}
	}
	return n
}

func keys(m map[reflect.Type]bool) []reflect.Type {
	ks := make([]reflect.Type, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
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

// depth checks that v, of shape s, nests less than MaxDepth deep below
// depth, the levels above it: each map, and each non-empty struct, slice
// and array, is a level, as msgpack writes it; a pointer is none. It stops
// at the first level too deep, so that a cycle ends it.
func (s *shape) depth(v reflect.Value, depth int) error {
	switch s.kind {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return s.elem.depth(v.Elem(), depth)
	case reflect.Slice, reflect.Array, reflect.Map:
		if v.Len() == 0 {
			return nil
		}
	case reflect.Struct:
		if !s.level {
			return nil
		}
	}
	if depth++; depth >= MaxDepth {
		return fmt.Errorf("%w: %d levels or more, where the store reads back %d: it holds a cycle of pointers, slices or maps, or nests deeper than that", ErrTooDeep, MaxDepth, MaxDepth-1)
	}
	switch s.kind {
	case reflect.Slice, reflect.Array:
		if s.elem != nil {
			for i := range v.Len() {
				if err := s.elem.depth(v.Index(i), depth); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if s.elem != nil {
			for it := v.MapRange(); it.Next(); {
				if err := s.elem.depth(it.Value(), depth); err != nil {
					return err
				}
			}
		}
	case reflect.Struct:
		for _, f := range s.fields {
			d := depth
			if f.inline {
				d--
			}
			if err := f.s.depth(v.Field(f.index), d); err != nil {
				return err
			}
		}
	}
	return nil
}
