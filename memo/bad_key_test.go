package memo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/memostore/memostore/memo"
)

// TestUnhashableDynamicKeyIsAnError: a memory-only Func whose key type
// holds an interface accepts, at compile time, a key whose dynamic type
// cannot be hashed (a slice). Each method that takes a key must return an
// error naming the problem, where the tier's map used to panic.
func TestUnhashableDynamicKeyIsAnError(t *testing.T) {
	type wrapped struct{ K any }
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []memo.Option
	}{
		{"LRU", nil},
		{"WTinyLFU", []memo.Option{memo.Policy(memo.WTinyLFU)}},
		{"MaxSize0", []memo.Option{memo.MaxSize(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			// Each check gets Funcs of its own: a panic in the tier's
			// map, with its lock held, would leave the next check hung.
			funcs := func() (*memo.Func[any, int], *memo.Func[wrapped, int]) {
				f, err := memo.New(nil, "anykey", func(_ context.Context, k any) (int, error) { runs++; return 1, nil }, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				g, err := memo.New(nil, "structkey", func(_ context.Context, k wrapped) (int, error) { runs++; return 1, nil }, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { g.Close() })
				return f, g
			}
			bad := []int{1}
			type fg = func(*memo.Func[any, int], *memo.Func[wrapped, int]) error
			checks := map[string]fg{
				"Call": func(f *memo.Func[any, int], _ *memo.Func[wrapped, int]) error { _, err := f.Call(ctx, bad); return err },
				"Refresh": func(f *memo.Func[any, int], _ *memo.Func[wrapped, int]) error {
					_, err := f.Refresh(ctx, bad)
					return err
				},
				"Set":    func(f *memo.Func[any, int], _ *memo.Func[wrapped, int]) error { return f.Set(ctx, bad, 2) },
				"Forget": func(f *memo.Func[any, int], _ *memo.Func[wrapped, int]) error { return f.Forget(ctx, bad) },
				"Call(struct)": func(_ *memo.Func[any, int], g *memo.Func[wrapped, int]) error {
					_, err := g.Call(ctx, wrapped{bad})
					return err
				},
				"Set(struct)":    func(_ *memo.Func[any, int], g *memo.Func[wrapped, int]) error { return g.Set(ctx, wrapped{bad}, 2) },
				"Forget(struct)": func(_ *memo.Func[any, int], g *memo.Func[wrapped, int]) error { return g.Forget(ctx, wrapped{bad}) },
				"Peek": func(f *memo.Func[any, int], _ *memo.Func[wrapped, int]) error {
					if _, ok := f.Peek(ctx, bad); ok {
						t.Error("Peek of an unhashable key found a value")
					}
					return errors.New("cannot be hashed") // Peek has no error to give
				},
			}
			for name, check := range checks {
				err := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s of an unhashable key panicked: %v", name, p)
							err = errors.New("cannot be hashed") // reported
						}
					}()
					return check(funcs())
				}()
				if err == nil || !strings.Contains(err.Error(), "cannot be hashed") {
					t.Errorf("%s of an unhashable key: err = %v, want one that says it cannot be hashed", name, err)
				}
			}
			if runs != 0 {
				t.Errorf("fn ran %d times for unhashable keys, want 0", runs)
			}
			// Hashable keys still work.
			f, g := funcs()
			if v, err := f.Call(ctx, "ok"); err != nil || v != 1 {
				t.Errorf("Call(\"ok\") = %v, %v; want 1, nil", v, err)
			}
			if v, err := g.Call(ctx, wrapped{3}); err != nil || v != 1 {
				t.Errorf("Call(wrapped{3}) = %v, %v; want 1, nil", v, err)
			}
		})
	}
}

// TestNilContextIsAnError: a nil context is a programming error; a Func
// must say so with an error, not panic, on every method that takes one,
// memory-only or in front of a store.
func TestNilContextIsAnError(t *testing.T) {
	for _, withStore := range []bool{false, true} {
		name := "memory"
		if withStore {
			name = "store"
		}
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			if !withStore {
				s = nil
			}
			f, err := memo.New(s, "nilctx", ident)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			//lint:ignore SA1012 the nil context is the point of the test
			var nilCtx context.Context
			checks := map[string]func() error{
				"Call":    func() error { _, err := f.Call(nilCtx, 1); return err },
				"Refresh": func() error { _, err := f.Refresh(nilCtx, 2); return err },
				"Set":     func() error { return f.Set(nilCtx, 3, 3) },
				"Forget":  func() error { return f.Forget(nilCtx, 4) },
				"Clear":   func() error { return f.Clear(nilCtx) },
			}
			for name, check := range checks {
				err := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s(nil ctx) panicked: %v", name, p)
						}
					}()
					return check()
				}()
				if err == nil || !strings.Contains(err.Error(), "nil Context") {
					t.Errorf("%s(nil ctx): err = %v, want one that names the nil Context", name, err)
				}
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("Peek(nil ctx) panicked: %v", p)
					}
				}()
				f.Peek(nilCtx, 1)
			}()
		})
	}
}
