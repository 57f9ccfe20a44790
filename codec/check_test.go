package codec

import (
	"errors"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// isTypeError is errors.As for *TypeError.
func isTypeError(err error, te **TypeError) bool {
	return errors.As(err, te)
}

// wantTypeError checks that err is a *TypeError for role, root and path
// whose message names the root type, the path and every one of words.
func wantTypeError(tb testing.TB, err error, role string, root reflect.Type, path string, words ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error for %s, want one at %q", root, path)
	}
	var te *TypeError
	if !isTypeError(err, &te) {
		tb.Fatalf("error %v is a %T, want *TypeError", err, err)
	}
	if te.Role != role || te.Type != root || te.Path != path {
		tb.Errorf("TypeError{Role: %q, Type: %v, Path: %q}, want {%q, %v, %q}", te.Role, te.Type, te.Path, role, root, path)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "codec: "+role+" type ") {
		tb.Errorf("message %q lacks the codec prefix and role", msg)
	}
	for _, w := range append([]string{root.String(), path}, words...) {
		if !strings.Contains(msg, w) {
			tb.Errorf("message %q does not mention %q", msg, w)
		}
	}
}

// KeyPart is exported so that it can be embedded as an exported field.
type KeyPart struct {
	Shard int
	Name  string
}

type keyOwner struct {
	Name string
	name string
}

type keyWithOwner struct {
	ID    int
	Owner keyOwner
}

func TestCheckKeyRejects(t *testing.T) {
	tests := []struct {
		name  string
		typ   reflect.Type
		path  string
		words []string
	}{
		{"pointer", reflect.TypeFor[*int](), "", []string{"pointer"}},
		{"interface", reflect.TypeFor[any](), "", []string{"interface"}},
		{"error interface", reflect.TypeFor[error](), "", []string{"interface"}},
		{"chan", reflect.TypeFor[chan int](), "", []string{"channel"}},
		{"func", reflect.TypeFor[func()](), "", []string{"function"}},
		{"unsafe pointer", reflect.TypeFor[unsafe.Pointer](), "", []string{"unsafe pointer"}},
		{"complex64", reflect.TypeFor[complex64](), "", []string{"complex"}},
		{"complex128", reflect.TypeFor[complex128](), "", []string{"complex"}},
		{"slice", reflect.TypeFor[[]int](), "", []string{"slice"}},
		{"map", reflect.TypeFor[map[string]int](), "", []string{"map"}},
		{"time", reflect.TypeFor[time.Time](), "", []string{"time.Time", "UnixNano"}},
		{"unexported field", reflect.TypeFor[keyOwner](), ".name", []string{"unexported", "name"}},
		{"nested unexported field", reflect.TypeFor[keyWithOwner](), ".Owner.name", []string{"unexported", "codec.keyOwner"}},
		{"skipped field", reflect.TypeFor[struct {
			A int
			B int `msgpack:"-"`
		}](), ".B", []string{`msgpack:"-"`}},
		{"pointer field", reflect.TypeFor[struct{ P *string }](), ".P", []string{"pointer"}},
		{"interface field", reflect.TypeFor[struct{ I any }](), ".I", []string{"interface"}},
		{"chan field", reflect.TypeFor[struct{ C chan int }](), ".C", []string{"channel"}},
		{"func field", reflect.TypeFor[struct{ F func() int }](), ".F", []string{"function"}},
		{"unsafe pointer field", reflect.TypeFor[struct{ U unsafe.Pointer }](), ".U", []string{"unsafe"}},
		{"complex field", reflect.TypeFor[struct{ C complex64 }](), ".C", []string{"complex"}},
		{"time field", reflect.TypeFor[struct{ At time.Time }](), ".At", []string{"time.Time"}},
		{"array of pointers", reflect.TypeFor[[2]*int](), "[]", []string{"pointer"}},
		{"array of structs with time", reflect.TypeFor[struct {
			Spans [3]struct{ Start time.Time }
		}](), ".Spans[].Start", []string{"time.Time"}},
		{"deep interface", reflect.TypeFor[struct {
			A struct{ B [1]struct{ C error } }
		}](), ".A.B[].C", []string{"interface"}},
		{"embedded unexported", reflect.TypeFor[struct{ keyOwner }](), ".keyOwner", []string{"unexported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantTypeError(t, CheckKey(tt.typ), "key", tt.typ, tt.path, tt.words...)
		})
	}
}

func TestCheckKeyAccepts(t *testing.T) {
	type inner struct {
		S string
		F float32
	}
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{"int", reflect.TypeFor[int]()},
		{"int8", reflect.TypeFor[int8]()},
		{"int64", reflect.TypeFor[int64]()},
		{"uint", reflect.TypeFor[uint]()},
		{"uint16", reflect.TypeFor[uint16]()},
		{"uintptr", reflect.TypeFor[uintptr]()},
		{"string", reflect.TypeFor[string]()},
		{"bool", reflect.TypeFor[bool]()},
		{"float32", reflect.TypeFor[float32]()},
		{"float64", reflect.TypeFor[float64]()},
		{"named", reflect.TypeFor[namedString]()},
		{"array", reflect.TypeFor[[4]byte]()},
		{"nested array", reflect.TypeFor[[2][3]int]()},
		{"empty struct", reflect.TypeFor[struct{}]()},
		{"struct", reflect.TypeFor[compositeKey]()},
		{"struct of arrays of structs", reflect.TypeFor[struct {
			Items [2]inner
			Flag  bool
		}]()},
		{"tagged fields", reflect.TypeFor[struct {
			A int    `msgpack:"a"`
			B string `msgpack:"b,omitempty"`
		}]()},
		{"embedded exported", reflect.TypeFor[struct{ KeyPart }]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckKey(tt.typ); err != nil {
				t.Errorf("CheckKey(%v) = %v", tt.typ, err)
			}
		})
	}
}

// sealed has unexported fields and its own msgpack methods.
type sealed struct {
	id   int
	name string
}

func (s sealed) MarshalMsgpack() ([]byte, error) {
	return msgpack.Marshal([]any{s.id, s.name})
}

func (s *sealed) UnmarshalMsgpack(b []byte) error {
	var parts struct {
		_msgpack struct{} `msgpack:",as_array"`
		ID       int
		Name     string
	}
	if err := msgpack.Unmarshal(b, &parts); err != nil {
		return err
	}
	s.id, s.name = parts.ID, parts.Name
	return nil
}

// halfSealed has only a marshaler: msgpack could write it but not read it back.
type halfSealed struct{ n int }

func (h halfSealed) MarshalMsgpack() ([]byte, error) { return msgpack.Marshal(h.n) }

type node struct {
	Name string
	Kids []*node
}

type valueOwner struct {
	Name  string
	email string
}

type embeddedBase struct {
	When time.Time
	Tag  string
}

type withEmbedded struct {
	embeddedBase
	N int
}

func TestCheckValueRejects(t *testing.T) {
	tests := []struct {
		name  string
		typ   reflect.Type
		path  string
		words []string
	}{
		{"unexported field", reflect.TypeFor[valueOwner](), ".email", []string{"unexported field email", "codec.valueOwner", "MarshalMsgpack"}},
		{"nested unexported field", reflect.TypeFor[struct {
			Owner valueOwner
		}](), ".Owner.email", []string{"email"}},
		{"unexported behind pointer and slice", reflect.TypeFor[[]*valueOwner](), "[].email", []string{"email"}},
		{"marshal without unmarshal", reflect.TypeFor[halfSealed](), ".n", []string{"unexported"}},
		{"chan", reflect.TypeFor[chan int](), "", []string{"channel"}},
		{"func", reflect.TypeFor[func() error](), "", []string{"function"}},
		{"interface", reflect.TypeFor[any](), "", []string{"interface"}},
		{"unsafe pointer", reflect.TypeFor[unsafe.Pointer](), "", []string{"unsafe pointer"}},
		{"complex", reflect.TypeFor[complex128](), "", []string{"complex"}},
		{"uintptr", reflect.TypeFor[uintptr](), "", []string{"uintptr"}},
		{"named uintptr field", reflect.TypeFor[struct{ P [2]namedUintpt }](), ".P[]", []string{"uintptr"}},
		{"map of any", reflect.TypeFor[map[string]any](), "[]", []string{"interface"}},
		{"map with complex keys", reflect.TypeFor[map[complex64]int](), "[key]", []string{"complex"}},
		{"slice of funcs", reflect.TypeFor[[]func()](), "[]", []string{"function"}},
		{"chan field", reflect.TypeFor[struct{ Done chan struct{} }](), ".Done", []string{"channel"}},
		{"any field", reflect.TypeFor[struct {
			Meta map[string][]any
		}](), ".Meta[][]", []string{"interface"}},
		{"error field", reflect.TypeFor[struct{ Err error }](), ".Err", []string{"interface"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantTypeError(t, CheckValue(tt.typ), "value", tt.typ, tt.path, tt.words...)
		})
	}
}

func TestCheckValueAccepts(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{"int", reflect.TypeFor[int]()},
		{"string", reflect.TypeFor[string]()},
		{"bytes", reflect.TypeFor[[]byte]()},
		{"pointer", reflect.TypeFor[*int]()},
		{"pointer to pointer", reflect.TypeFor[**string]()},
		{"slice", reflect.TypeFor[[]string]()},
		{"array", reflect.TypeFor[[3]float64]()},
		{"map", reflect.TypeFor[map[string]int]()},
		{"map of structs", reflect.TypeFor[map[int64][]innerKey]()},
		{"nested structs", reflect.TypeFor[struct {
			A struct{ B struct{ C []int } }
			P *struct{ Q map[string]bool }
		}]()},
		{"time", reflect.TypeFor[time.Time]()},
		{"time fields", reflect.TypeFor[struct {
			At    time.Time
			Maybe *time.Time
			All   []time.Time
			ByDay map[time.Time]int
		}]()},
		{"duration", reflect.TypeFor[time.Duration]()},
		{"recursive", reflect.TypeFor[node]()},
		{"recursive pointer", reflect.TypeFor[*node]()},
		{"msgpack marshaler with unexported fields", reflect.TypeFor[sealed]()},
		{"pointer to msgpack marshaler", reflect.TypeFor[*sealed]()},
		{"text marshaler with unexported fields", reflect.TypeFor[big.Int]()},
		{"binary marshaler with unexported fields", reflect.TypeFor[netip.Addr]()},
		{"skipped unexported field", reflect.TypeFor[struct {
			Name  string
			cache map[string]any `msgpack:"-"`
		}]()},
		{"skipped func field", reflect.TypeFor[struct {
			Name string
			Hook func() `msgpack:"-"`
		}]()},
		{"embedded unexported struct", reflect.TypeFor[withEmbedded]()},
		{"key type", reflect.TypeFor[compositeKey]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckValue(tt.typ); err != nil {
				t.Errorf("CheckValue(%v) = %v", tt.typ, err)
			}
		})
	}
}

func TestTypeErrorMessage(t *testing.T) {
	err := &TypeError{Role: "key", Type: reflect.TypeFor[keyWithOwner](), Path: ".Owner.name", Reason: "because"}
	want := "codec: key type codec.keyWithOwner at .Owner.name: because"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err.Path = ""
	want = "codec: key type codec.keyWithOwner: because"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[int](), "int"},
		{reflect.TypeFor[[]string](), "[]string"},
		{reflect.TypeFor[map[string]int](), "map[string]int"},
		{reflect.TypeFor[time.Time](), "time.Time"},
		{reflect.TypeFor[compositeKey](), "github.com/memostore/memostore/codec.compositeKey"},
		{reflect.TypeFor[*compositeKey](), "*codec.compositeKey"},
		{reflect.TypeFor[struct{ A int }](), "struct { A int }"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := TypeName(tt.typ); got != tt.want {
				t.Errorf("TypeName = %q, want %q", got, tt.want)
			}
		})
	}
}

// Two generations of a value type, declared in different scopes under the
// same name, as a program's type looks before and after an edit.
func userV1() reflect.Type {
	type User struct {
		Name string
		Age  int
	}
	return reflect.TypeFor[User]()
}

func userAdded() reflect.Type {
	type User struct {
		Name  string
		Age   int
		Email string
	}
	return reflect.TypeFor[User]()
}

func userRenamed() reflect.Type {
	type User struct {
		Name  string
		Years int
	}
	return reflect.TypeFor[User]()
}

func userRetyped() reflect.Type {
	type User struct {
		Name string
		Age  int64
	}
	return reflect.TypeFor[User]()
}

func userRetagged() reflect.Type {
	type User struct {
		Name string `msgpack:"name"`
		Age  int
	}
	return reflect.TypeFor[User]()
}

func userReordered() reflect.Type {
	type User struct {
		Age  int
		Name string
	}
	return reflect.TypeFor[User]()
}

func userDeepChange() reflect.Type {
	type Address struct{ Zip int }
	type User struct {
		Name string
		Age  int
		Home *Address
	}
	return reflect.TypeFor[User]()
}

func userDeepChange2() reflect.Type {
	type Address struct{ Zip string }
	type User struct {
		Name string
		Age  int
		Home *Address
	}
	return reflect.TypeFor[User]()
}

func TestTypeIDStable(t *testing.T) {
	types := []reflect.Type{
		reflect.TypeFor[int](), reflect.TypeFor[string](), reflect.TypeFor[[]int](),
		reflect.TypeFor[compositeKey](), reflect.TypeFor[node](), reflect.TypeFor[*node](),
		reflect.TypeFor[time.Time](), reflect.TypeFor[sealed](), reflect.TypeFor[map[string][]*node](),
		userV1(),
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			id := TypeID(typ)
			if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Errorf("TypeID = %q, want 24 lowercase hex digits", id)
			}
			if again := TypeID(typ); again != id {
				t.Errorf("TypeID changed from %q to %q", id, again)
			}
		})
	}
	if userV1() != userV1() {
		t.Fatal("test bug: reflect.Type not canonical")
	}
	// The fingerprint is part of the on-disk format: it must not change
	// between processes or releases without a reason.
	golden := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[int](), "df9a1049222cf645f8228f70"},
		{reflect.TypeFor[[]string](), "c52e5a2a7f3723cfeeffc7d2"},
	}
	for _, g := range golden {
		if got := TypeID(g.typ); got != g.want {
			t.Errorf("TypeID(%v) = %q, want %q", g.typ, got, g.want)
		}
	}
}

func TestTypeIDChanges(t *testing.T) {
	base := userV1()
	if TypeName(base) != TypeName(userAdded()) {
		t.Fatalf("test bug: local types named %q and %q", TypeName(base), TypeName(userAdded()))
	}
	tests := []struct {
		name string
		a, b reflect.Type
	}{
		{"field added", base, userAdded()},
		{"field renamed", base, userRenamed()},
		{"field retyped", base, userRetyped()},
		{"field retagged", base, userRetagged()},
		{"fields reordered", base, userReordered()},
		{"nested field retyped", userDeepChange(), userDeepChange2()},
		{"int vs string field", reflect.TypeFor[struct{ A int }](), reflect.TypeFor[struct{ A string }]()},
		{"int vs int64", reflect.TypeFor[int](), reflect.TypeFor[int64]()},
		{"named vs underlying", reflect.TypeFor[namedInt](), reflect.TypeFor[int]()},
		{"slice vs array", reflect.TypeFor[[]int](), reflect.TypeFor[[1]int]()},
		{"pointer vs value", reflect.TypeFor[*node](), reflect.TypeFor[node]()},
		{"map key", reflect.TypeFor[map[string]int](), reflect.TypeFor[map[int]int]()},
		{"map elem", reflect.TypeFor[map[string]int](), reflect.TypeFor[map[string]uint]()},
		{"tag option", reflect.TypeFor[struct {
			A int `msgpack:"a"`
		}](), reflect.TypeFor[struct {
			A int `msgpack:"a,omitempty"`
		}]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ida, idb := TypeID(tt.a), TypeID(tt.b); ida == idb {
				t.Errorf("TypeID(%v) == TypeID(%v) == %q", tt.a, tt.b, ida)
			}
		})
	}
}
