// Eviction across the tiers: the file's eviction hears of the hits the
// memory tier serves.
package memostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestEvictionHearsMemoryHits calls 50 hot keys, each every 100 calls,
// between calls of a Zipf stream over 100,000 keys, through a memory tier
// of 128 entries (the default) in front of a file bounded to about 2,000
// entries. The hot keys' calls are all memory hits: if the file's eviction
// heard only of what reaches it (the memory tier's misses), it would see
// each hot key once, when stored, and evict it as unused. Reopened, the
// file must still hold 40 of the 50 hot keys at least (it held 45 to 50
// in 20 runs). Before memory hits reached the file's eviction, it held 0
// (LRU) and 1 (WTinyLFU).
func TestEvictionHearsMemoryHits(t *testing.T) {
	for _, pol := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		t.Run(pol.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.db")
			bound := store.WithMaxBytes(2000 * 160) // an entry is about 160 bytes
			fn := func(_ context.Context, k int) (string, error) {
				return fmt.Sprintf("%0100d", k), nil
			}
			ctx := context.Background()
			s := openT(t, path, bound)
			f, err := memo.New(s, "f", fn, memo.Policy(pol))
			if err != nil {
				t.Fatal(err)
			}
			z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 10, 100_000)
			for i := range 100_000 {
				if _, err := f.Call(ctx, -1-i%50); err != nil {
					t.Fatal(err)
				}
				if _, err := f.Call(ctx, int(z.Uint64())); err != nil {
					t.Fatal(err)
				}
			}
			if ev := nsStats(t, s, "f").Evictions; ev < 10_000 {
				t.Fatalf("%d evictions: the bound was not tested", ev)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openT(t, path, bound)
			held := 0
			err = s.Keys(ctx, "f", 0, func(ki store.KeyInfo) error {
				if strings.HasPrefix(fmt.Sprint(ki.Key), "-") { // the hot keys are the negative ones
					held++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if held < 40 {
				t.Errorf("the file holds %d of the 50 hot keys: it evicted keys the memory tier hit %d times each", held, 100_000/50)
			}
		})
	}
}
