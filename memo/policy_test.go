package memo_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// padded returns a ~100-byte value for any key.
func padded(_ context.Context, k int) (string, error) {
	return strings.Repeat("x", 90) + string(rune('a'+k%26)), nil
}

func TestMaxBytesBoundsMemory(t *testing.T) {
	for _, p := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		t.Run(p.String(), func(t *testing.T) {
			withAndWithoutStore(t, func(t *testing.T, s *store.Store) {
				const bound = 10_000
				f, err := memo.New(s, "b", padded, memo.MaxBytes(bound), memo.Policy(p))
				if err != nil {
					t.Fatal(err)
				}
				for k := range 2000 {
					mustCall(t, f, k)
					mustCall(t, f, k%50) // some keys used often
				}
				i := f.Info()
				if i.MaxBytes != bound || i.CurrBytes > bound || i.CurrBytes < bound*9/10 {
					t.Fatalf("Info = %+v, want CurrBytes within 10%% under %d", i, bound)
				}
				if i.CurrSize < 80 || i.CurrSize > 110 {
					t.Fatalf("CurrSize = %d, want about %d values of ~93 bytes", i.CurrSize, bound/93)
				}
			})
		})
	}
}

func TestMaxBytesWithMaxSize(t *testing.T) {
	f, err := memo.New(nil, "b", padded, memo.MaxBytes(10_000), memo.MaxSize(10))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 100 {
		mustCall(t, f, k)
	}
	if i := f.Info(); i.CurrSize != 10 {
		t.Fatalf("Info = %+v, want the entry bound to hold", i)
	}
	if _, err := memo.New(nil, "b", padded, memo.MaxBytes(10), memo.MaxSize(10), memo.Policy(memo.WTinyLFU)); err == nil {
		t.Error("WTinyLFU with both bounds accepted")
	}
	if _, err := memo.New(nil, "b", padded, memo.MaxBytes(-1)); err == nil {
		t.Error("negative MaxBytes accepted")
	}
	// MaxSize(0) turns the memory tier off: a byte bound for it is a
	// mistake, not a bound Info reports for a tier that keeps nothing.
	if f, err := memo.New(nil, "b", padded, memo.MaxBytes(1<<20), memo.MaxSize(0)); err == nil {
		t.Errorf("MaxBytes with MaxSize(0) accepted; Info = %+v", f.Info())
	}
	if _, err := memo.New(nil, "b", padded, memo.Policy(memo.EvictionPolicy(9))); err == nil {
		t.Error("unknown policy accepted")
	}
}

// TestWTinyLFUResistsScans: keys used often survive a scan of keys used
// once under WTinyLFU, where LRU loses them.
func TestWTinyLFUResistsScans(t *testing.T) {
	hits := map[memo.EvictionPolicy]int64{}
	for _, p := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		var runs atomic.Int64
		f, err := memo.New(nil, "w", counted(&runs), memo.MaxSize(100), memo.Policy(p))
		if err != nil {
			t.Fatal(err)
		}
		next := 1000
		for range 50 {
			for k := range 50 { // the hot set
				mustCall(t, f, k)
			}
			for range 200 { // a scan of one-off keys
				mustCall(t, f, next)
				next++
			}
		}
		hits[p] = f.Info().Hits
	}
	if hits[memo.WTinyLFU] < 40*50 || hits[memo.WTinyLFU] <= hits[memo.LRU] {
		t.Fatalf("hits: WTinyLFU %d, LRU %d; want WTinyLFU to keep the hot set through the scans", hits[memo.WTinyLFU], hits[memo.LRU])
	}
}
