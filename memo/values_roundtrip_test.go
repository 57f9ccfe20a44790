package memo_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

// V = map[*int]string passes New's CheckValue; each decoding makes new
// pointer keys, so the value the memory tier returned and the one the
// store returns after an eviction are not reflect.DeepEqual (DESIGN.md: "A
// call returns the same value whichever tier answers (reflect.DeepEqual)").
// New should refuse the type.
func TestPointerMapKeyTiersAgree(t *testing.T) {
	s := openStore(t)
	one := 1
	f, err := memo.New(s, "ptrmap", func(_ context.Context, k int) (map[*int]string, error) {
		return map[*int]string{&one: "a"}, nil
	}, memo.MaxSize(1))
	if err != nil {
		return // refused at New: fixed
	}
	fromFn := mustCall(t, f, 1)
	fromMem := mustCall(t, f, 1)
	mustCall(t, f, 2) // evicts 1 from memory
	fromStore := mustCall(t, f, 1)
	if !reflect.DeepEqual(fromMem, fromStore) {
		t.Errorf("memory tier gave %v, store gave %v: not DeepEqual", fromMem, fromStore)
	}
	if _, ok := fromFn[&one]; !ok {
		t.Errorf("Call's map has no entry for the key fn put in: %v", fromFn)
	}
}

type stampedR21 struct {
	time.Time
	Note string
}

// A V that embeds time.Time passes New (time's promoted MarshalBinary is
// taken for V's own marshaler); with a store, Call returns the value
// through that marshaler, and the other fields are silently zero. Without
// a store the same Func returns them.
func TestEmbeddedTimeValue(t *testing.T) {
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	fn := func(_ context.Context, k int) (stampedR21, error) { return stampedR21{at, "hello"}, nil }
	f, err := memo.New(openStore(t), "stamped", fn)
	if err != nil {
		return // refused at New: fixed
	}
	if v := mustCall(t, f, 1); v.Note != "hello" {
		t.Errorf("Call = {%v, Note: %q}, want Note %q (fn's value)", v.Time, v.Note, "hello")
	}
}

type internIntR21 struct {
	N int `msgpack:",intern"`
}

// New accepts a V whose msgpack tag makes msgpack panic on its first
// Encode; every Call with a store then panics instead of returning fn's
// value (a failing store never fails a Call, DESIGN.md).
func TestInternTagCallPanics(t *testing.T) {
	f, err := memo.New(openStore(t), "intern", func(_ context.Context, k int) (internIntR21, error) {
		return internIntR21{N: k}, nil
	})
	if err != nil {
		return // refused at New: fixed
	}
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Call panicked: %v", r)
		}
	}()
	if v := mustCall(t, f, 3); v.N != 3 {
		t.Errorf("Call(3) = %+v", v)
	}
}
