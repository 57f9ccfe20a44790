package memo_test

import (
	"context"
	"math"
	"testing"

	"github.com/memostore/memostore/memo"
)

// A NaN key never hits the memory tier (NaN != NaN), but each Call adds an
// entry to the tier's map that delete can never remove: the tier grows past
// MaxSize without bound (CurrSize > MaxSize), and the LRU list and the map
// disagree.
func TestNaNKeyMemoryTierBounded(t *testing.T) {
	for _, p := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		t.Run(p.String(), func(t *testing.T) {
			f, err := memo.New(nil, "nan", func(_ context.Context, x float64) (int, error) { return 1, nil }, memo.MaxSize(2), memo.Policy(p))
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				mustCall(t, f, math.NaN())
			}
			if i := f.Info(); i.CurrSize > 2 {
				t.Errorf("after 10 Calls of NaN with MaxSize(2): CurrSize = %d, want <= 2", i.CurrSize)
			}
		})
	}
}

// Once a NaN entry is stuck in the map, replacing a normal key's value
// (Set) evicts one entry too many; with MaxSize(1) the list empties and
// the next add unlinks the list's sentinel: a nil dereference.
func TestNaNKeyThenSetNoPanic(t *testing.T) {
	f, err := memo.New(nil, "nan", func(_ context.Context, x float64) (int, error) { return 1, nil }, memo.MaxSize(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCall(t, f, math.NaN())
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Set after a Call of NaN panicked: %v", r)
		}
	}()
	for i := range 3 {
		if err := f.Set(ctx, 1, i); err != nil {
			t.Fatal(err)
		}
	}
	if v := mustCall(t, f, 1); v != 2 {
		t.Errorf("Call(1) after Set(1, 2) = %d, want 2", v)
	}
}
