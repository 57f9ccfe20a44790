package memo_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
)

// TestUnhashableKeyBehindNaNIsAnError: hashable compares k == k and
// recovers, but a comparison stops at its first unequal part: a key
// holding a NaN before a slice ([2]any{NaN, []int{1}}) compared unequal
// without reaching the slice, so hashable reported it hashable, and the
// memory tier's map then hashed the slice and panicked with its lock held.
// A key that compares unequal is now looked at part by part.
func TestUnhashableKeyBehindNaNIsAnError(t *testing.T) {
	type wrapped struct {
		F float64
		K any
	}
	for _, tc := range []struct {
		name string
		key  any
	}{
		{"array", [2]any{math.NaN(), []int{1}}},
		{"struct", wrapped{math.NaN(), []int{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := memo.New(nil, "nan-slice", func(_ context.Context, k any) (int, error) { return 1, nil })
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx := context.Background()
			var callErr error
			panicked := func() (p any) {
				defer func() { p = recover() }()
				_, callErr = f.Call(ctx, tc.key)
				return nil
			}()
			if panicked != nil {
				t.Errorf("Call(%v) panicked: %v; want an error naming the unhashable type", tc.key, panicked)
				// And the tier's lock stays held: a Call of another key hangs.
				done := make(chan struct{})
				go func() { f.Call(ctx, 7); close(done) }()
				select {
				case <-done:
				case <-time.After(500 * time.Millisecond):
					t.Errorf("a later Call(7) hangs: the memory tier's lock was left held by the panic")
				}
				return
			}
			if callErr == nil || !strings.Contains(fmt.Sprint(callErr), "cannot be hashed") {
				t.Errorf("Call(%v) = %v, want an error naming the unhashable type", tc.key, callErr)
			}
		})
	}
}
