package store_test

import (
	"context"
	"testing"

	"github.com/memostore/memostore/memo"
)

// TestKeysNilFuncIsAnError: memo.New refuses a nil function with
// an error ("nil function"); Store.Keys, which returns an error too,
// took a nil fn and panicked with a nil pointer dereference at the first
// stored key.
func TestKeysNilFuncIsAnError(t *testing.T) {
	s := openFile(t, tempPath(t))
	f, err := memo.New(s, "double", func(_ context.Context, k int) (int, error) { return 2 * k, nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	panicked := func() (p any) {
		defer func() { p = recover() }()
		err = s.Keys(t.Context(), "double", 0, nil)
		return nil
	}()
	if panicked != nil {
		t.Fatalf("Keys(ctx, \"double\", 0, nil) panicked: %v; want an error", panicked)
	}
	if err == nil {
		t.Fatal("Keys with a nil fn returned no error")
	}
}
