package codec

import (
	"reflect"
	"testing"
)

// TestCheckNilTypeIsAnError: CheckKey and CheckValue return an
// error for a type they cannot store; reflect.TypeOf of a nil interface
// value is a nil reflect.Type (CheckValue(reflect.TypeOf(v)) with v a nil
// error or any), and both panicked on it with a nil pointer dereference
// instead of returning an error that says the type is nil.
func TestCheckNilTypeIsAnError(t *testing.T) {
	var v any
	for name, check := range map[string]func(reflect.Type) error{"CheckKey": CheckKey, "CheckValue": CheckValue} {
		var err error
		panicked := func() (p any) {
			defer func() { p = recover() }()
			err = check(reflect.TypeOf(v))
			return nil
		}()
		switch {
		case panicked != nil:
			t.Errorf("%s(nil reflect.Type) panicked: %v; want an error", name, panicked)
		case err == nil:
			t.Errorf("%s(nil reflect.Type) = nil; want an error", name)
		}
	}
}
