package memo_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// deepList is a linked list: a storable type (codec.CheckValue accepts it),
// whose values nest one level per node.
type deepList struct {
	V    int
	Next *deepList
}

func deepListOf(n int) *deepList {
	var l *deepList
	for i := range n {
		l = &deepList{V: i, Next: l}
	}
	return l
}

// TestMaxBytesKeepsNoUnmeasuredValue: MaxBytes(n) bounds the memory tier
// to n bytes of encoded values, and "a value larger than n is returned but
// not kept in memory". A value the codec cannot encode (here a list of
// 5,000 nodes, deeper than codec.MaxDepth; a cyclic value fails the same
// way) was measured as 0 bytes: prepare left item.size at 0 when Encode
// failed, and write added it to the tier anyway. So a tier bounded to
// 1,000 bytes kept every such value (each tens of KB in msgpack, hundreds
// in memory) and reported CurrBytes 0: with both policies, with or without
// a store. Such a value is now kept in neither tier.
func TestMaxBytesKeepsNoUnmeasuredValue(t *testing.T) {
	const bound, nodes, keys = 1000, 5 * codec.MaxDepth, 20
	fn := func(_ context.Context, k int) (*deepList, error) { return deepListOf(nodes), nil }
	for _, p := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		for _, withStore := range []bool{false, true} {
			name := p.String() + "/memory"
			var s *store.Store
			if withStore {
				name = p.String() + "/store"
				s = openStore(t, store.WithLogger(slog.New(slog.DiscardHandler)))
			}
			t.Run(name, func(t *testing.T) {
				f, err := memo.New(s, "deep", fn, memo.MaxBytes(bound), memo.Policy(p))
				if err != nil {
					t.Fatal(err)
				}
				for k := range keys {
					if v := mustCall(t, f, k); v == nil || v.V != nodes-1 {
						t.Fatalf("Call(%d) returned a wrong value", k)
					}
				}
				if i := f.Info(); i.CurrSize != 0 {
					t.Errorf("MaxBytes(%d): the memory tier keeps %d values of a %d-node list each (CurrBytes = %d): "+
						"values that could not be encoded, hence not measured, are counted as 0 bytes and escape the bound",
						bound, i.CurrSize, nodes, i.CurrBytes)
				}
			})
		}
	}
}

// TestSetUnmeasuredValueIsAnError: Set of a value that cannot be encoded
// returns the encoding error in front of a store. Memory-only under
// MaxBytes, where values are encoded to be measured, it returned nil and
// kept nothing, so the caller could not tell.
func TestSetUnmeasuredValueIsAnError(t *testing.T) {
	fn := func(_ context.Context, k int) (*deepList, error) { return nil, nil }
	for _, withStore := range []bool{false, true} {
		var s *store.Store
		name := "memory"
		if withStore {
			name = "store"
			s = openStore(t, store.WithLogger(slog.New(slog.DiscardHandler)))
		}
		t.Run(name, func(t *testing.T) {
			f, err := memo.New(s, "set-deep", fn, memo.MaxBytes(1000))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Set(context.Background(), 1, deepListOf(5*codec.MaxDepth)); err == nil {
				t.Error("Set of a value deeper than codec.MaxDepth returned nil; want the encoding error")
			}
			if i := f.Info(); i.CurrSize != 0 {
				t.Errorf("Set of an unencodable value: CurrSize = %d, want 0", i.CurrSize)
			}
		})
	}
}
