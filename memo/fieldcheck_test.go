package memo

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
)

type FieldcheckInner struct{ X, Y int }

// FieldcheckResult embeds FieldcheckInner and declares its own X after it.
type FieldcheckResult struct {
	FieldcheckInner
	X int
}

// TestCallReturnsWhatFnReturned: with a store, Call returns the
// value as the store gives it back; for a value type that New accepts, that
// must be the value fn returned (times aside). Here FieldcheckInner.X is lost
// on the very first call and on every later hit.
func TestCallReturnsWhatFnReturned(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.WithSweepInterval(time.Hour), store.WithoutControl())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := FieldcheckResult{FieldcheckInner{X: 1, Y: 2}, 3}
	f, err := New(s, "r6", func(context.Context, int) (FieldcheckResult, error) { return want, nil })
	if err != nil {
		return // refusing the type is a fine fix
	}
	defer f.Close()
	got, err := f.Call(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Call = %+v, fn returned %+v", got, want)
	}
}
