package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// cycNode, cycSlice and cycMap are recursive types: their values may hold
// cycles, through a pointer, a slice or a map.
type cycNode struct {
	N    int
	Next *cycNode
}

type cycSlice []cycSlice

type cycMap map[string]cycMap

// omitNode's fields are all omitempty: msgpack writes a node without a
// next as an empty map, no level.
type omitNode struct {
	N    int       `msgpack:",omitempty"`
	Next *omitNode `msgpack:",omitempty"`
}

// TestEncodeCycleRefused: a value that holds a cycle has no encoding;
// msgpack recursed until the goroutine's stack overflowed, which no
// recover catches: the process died. Encode must refuse it with an error
// (ErrTooDeep), and go on encoding other values.
func TestEncodeCycleRefused(t *testing.T) {
	n := &cycNode{N: 1}
	n.Next = &cycNode{N: 2, Next: n}
	s := cycSlice{nil}
	s[0] = s
	m := cycMap{}
	m["self"] = m
	o := &omitNode{N: 1}
	o.Next = o
	for name, enc := range map[string]func() error{
		"pointer": func() error { _, err := mustValues[*cycNode](t).Encode(n, testKey, Meta{StoredAt: 1}); return err },
		"slice":   func() error { _, err := mustValues[cycSlice](t).Encode(s, testKey, Meta{StoredAt: 1}); return err },
		"map":     func() error { _, err := mustValues[cycMap](t).Encode(m, testKey, Meta{StoredAt: 1}); return err },
		"field":   func() error { _, err := mustValues[cycNode](t).Encode(*n, testKey, Meta{StoredAt: 1}); return err },
		"omitempty": func() error {
			_, err := mustValues[*omitNode](t).Encode(o, testKey, Meta{StoredAt: 1})
			return err
		},
	} {
		err := enc()
		if !errors.Is(err, ErrTooDeep) {
			t.Errorf("%s: Encode of a cyclic value: %v, want ErrTooDeep", name, err)
		} else if !strings.Contains(err.Error(), "codec: encode") || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("%s: error %q does not say what failed and why", name, err)
		}
	}
	if p := encodePayload(t, "ok"); string(p) != "\xa2ok" {
		t.Errorf("payload after a refused Encode = % x", p)
	}
}

// TestEncodeDeepAcyclic: a list of MaxDepth-1 nodes round-trips (each
// node is one level, the pointers none); one of MaxDepth nodes is refused
// at Encode, as Decode would refuse it (a record that could never be read
// back), and so is a longer one, without overflowing.
func TestEncodeDeepAcyclic(t *testing.T) {
	list := func(n int) *cycNode {
		var head *cycNode
		for i := range n {
			head = &cycNode{N: i, Next: head}
		}
		return head
	}
	c := mustValues[*cycNode](t)
	rec, err := c.Encode(list(MaxDepth-1), testKey, Meta{StoredAt: 1})
	if err != nil {
		t.Fatalf("Encode of %d nodes: %v", MaxDepth-1, err)
	}
	back, err := c.Decode(rec[HeaderSize:])
	if err != nil {
		t.Fatalf("Decode of %d nodes: %v", MaxDepth-1, err)
	}
	if back.N != MaxDepth-2 {
		t.Errorf("the head came back as %d, want %d", back.N, MaxDepth-2)
	}
	for _, n := range []int{MaxDepth, 100_000} {
		if _, err := c.Encode(list(n), testKey, Meta{StoredAt: 1}); !errors.Is(err, ErrTooDeep) {
			t.Errorf("Encode of %d nodes: %v, want ErrTooDeep", n, err)
		}
	}
}

// TestNestingWalksRecursiveTypesOnly: only a type that may nest without
// bound is walked before encoding; the others cost nothing more.
func TestNestingWalksRecursiveTypesOnly(t *testing.T) {
	type flat struct {
		A []int
		M map[string][]string
		P *struct{ X [3]int }
	}
	type holder struct {
		Name string
		Root *cycNode
	}
	if c := mustValues[flat](t); c.nest != nil {
		t.Errorf("flat: walked, but it nests at most 3 deep")
	}
	for name, nested := range map[string]bool{
		"list":   mustValues[*cycNode](t).nest != nil,
		"slice":  mustValues[cycSlice](t).nest != nil,
		"map":    mustValues[cycMap](t).nest != nil,
		"holder": mustValues[holder](t).nest != nil,
	} {
		if !nested {
			t.Errorf("%s: not walked, but it may nest without bound", name)
		}
	}
	// Below a field that holds a list, the walk counts the holder's level.
	c := mustValues[holder](t)
	var head *cycNode
	for i := range MaxDepth - 1 {
		head = &cycNode{N: i, Next: head}
	}
	if _, err := c.Encode(holder{Root: head}, testKey, Meta{StoredAt: 1}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("a holder of %d nodes: %v, want ErrTooDeep (%d levels)", MaxDepth-1, err, MaxDepth)
	}
	if _, err := c.Encode(holder{Root: head.Next}, testKey, Meta{StoredAt: 1}); err != nil {
		t.Errorf("a holder of %d nodes: %v", MaxDepth-2, err)
	}
}

// BenchmarkEncodeTree encodes a binary tree of 1,023 nodes, a recursive
// type, which Encode walks before msgpack encodes it.
func BenchmarkEncodeTree(b *testing.B) {
	type tree struct {
		N           int
		Left, Right *tree
	}
	var build func(d int) *tree
	build = func(d int) *tree {
		if d == 0 {
			return nil
		}
		return &tree{N: d, Left: build(d - 1), Right: build(d - 1)}
	}
	root := build(10)
	c := mustValues[*tree](b)
	for b.Loop() {
		if _, err := c.Encode(root, testKey, Meta{StoredAt: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

type (
	selfPtr   *selfPtr
	mutualA   *mutualB
	mutualB   *mutualA
	intoCycle *mutualA
)

// TestCheckValuePointerOnlyCycle: a type that is a pointer to itself,
// through pointers alone, is refused at New: msgpack's encoder recursed on
// it for ever, even to encode nil, and the process died.
func TestCheckValuePointerOnlyCycle(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[selfPtr](), reflect.TypeFor[mutualA](), reflect.TypeFor[intoCycle](), reflect.TypeFor[struct{ P mutualB }]()} {
		if err := CheckValue(typ); err == nil || !strings.Contains(err.Error(), "pointer to itself") {
			t.Errorf("CheckValue(%v) = %v, want it refused as a pointer to itself", typ, err)
		}
	}
	if err := CheckValue(reflect.TypeFor[**cycNode]()); err != nil {
		t.Errorf("CheckValue(**cycNode) = %v: a pointer chain into a struct is fine", err)
	}
}

// manyTypes returns a chain of 400 struct types, each holding a slice of
// the one before and a pointer to a recursive type.
func manyTypes() reflect.Type {
	typ := reflect.TypeFor[int]()
	for i := range 400 {
		typ = reflect.StructOf([]reflect.StructField{
			{Name: "A", Type: reflect.SliceOf(typ)},
			{Name: fmt.Sprintf("C%d", i), Type: reflect.TypeFor[*cycNode]()},
		})
	}
	return typ
}

// TestNewNestingManyTypes: every type of a long chain that reaches a
// recursive type nests; the types that reach none do not.
func TestNewNestingManyTypes(t *testing.T) {
	typ := manyTypes()
	n := newNesting(typ)
	if !n[typ] || !n[reflect.TypeFor[cycNode]()] || n[reflect.TypeFor[int]()] || n[reflect.TypeFor[[]int]()] {
		t.Errorf("nesting: outer %v, cycNode %v, int %v, []int %v; want true, true, false, false",
			n[typ], n[reflect.TypeFor[cycNode]()], n[reflect.TypeFor[int]()], n[reflect.TypeFor[[]int]()])
	}
}

// BenchmarkNewNesting sorts the 800 types of manyTypes (memo.New does so
// for its value type): linear in the types (Tarjan's components), where
// the closure computed before took about 8 s (1.3 ms now).
func BenchmarkNewNesting(b *testing.B) {
	typ := manyTypes()
	for b.Loop() {
		newNesting(typ)
	}
}
