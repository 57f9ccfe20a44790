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
// file must still hold 48 of the 50 hot keys at least: it held all 50 in
// 160 runs. Before memory hits reached the file's eviction, it held 0
// (LRU) and 1 (WTinyLFU); before the notes' use counts were let past the
// lookups' cap (see boltstore's maxNotedUses), 41 to 50 (under 48 in 14
// of 160 runs), and 36 once in CI.
func TestEvictionHearsMemoryHits(t *testing.T) {
	for _, pol := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		t.Run(pol.String(), func(t *testing.T) {
			path, bound := filepath.Join(t.TempDir(), "m.db"), store.WithMaxBytes(hotBound)
			s := openT(t, path, bound)
			f := hotFuncs(t, s, pol, "f")[0]
			callHotAndZipf(t, f, 100_000)
			if err := s.Flush(context.Background()); err != nil { // the counts of what was written
				t.Fatal(err)
			}
			if ev := nsStats(t, s, "f").Evictions; ev < 10_000 {
				t.Fatalf("%d evictions: the bound was not tested", ev)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wantHotHeld(t, openT(t, path, bound), 48, 100_000/50)
		})
	}
}

// hotBound bounds the file of the hot-key tests to about 2,000 entries of
// hotFn's (about 160 bytes each).
const hotBound = 2000 * 160

func hotFn(_ context.Context, k int) (string, error) { return fmt.Sprintf("%0100d", k), nil }

// hotFuncs returns a Func of hotFn on s for each namespace name, under pol.
func hotFuncs(t *testing.T, s *store.Store, pol memo.EvictionPolicy, names ...string) []*memo.Func[int, string] {
	t.Helper()
	var fs []*memo.Func[int, string]
	for _, name := range names {
		f, err := memo.New(s, name, hotFn, memo.Policy(pol))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	return fs
}

// callHotAndZipf calls 50 hot keys (-1 to -50) in turn, each followed by
// a key of a Zipf stream over 100,000 keys, rounds times.
func callHotAndZipf(t *testing.T, f *memo.Func[int, string], rounds int) {
	t.Helper()
	ctx := context.Background()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 10, 100_000)
	for i := range rounds {
		if _, err := f.Call(ctx, -1-i%50); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Call(ctx, int(z.Uint64())); err != nil {
			t.Fatal(err)
		}
	}
}

// wantHotHeld checks that s holds at least want of the 50 hot keys, each
// hit hits times in the memory tier.
func wantHotHeld(t *testing.T, s *store.Store, want, hits int) {
	t.Helper()
	held := 0
	err := s.Keys(context.Background(), "f", 0, func(ki store.KeyInfo) error {
		if strings.HasPrefix(fmt.Sprint(ki.Key), "-") { // the hot keys are the negative ones
			held++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if held < want {
		t.Errorf("the file holds %d of the 50 hot keys (want %d): it evicted keys the memory tier hit %d times each", held, want, hits)
	}
}

// TestEvictionHearsFrontHits calls one key of a Func, always the same, and
// a new key of another Func in turn, through the default memory tiers in
// front of a file bounded to about 2,000 entries: the one key is served
// from the front of its tier (the lock-free path) on every call but its
// first. Reopened, the file must still hold it. Before the front's hits
// were noted, the file heard of the key once, when it was stored, and
// evicted it under LRU (WTinyLFU kept it).
func TestEvictionHearsFrontHits(t *testing.T) {
	for _, pol := range []memo.EvictionPolicy{memo.LRU, memo.WTinyLFU} {
		t.Run(pol.String(), func(t *testing.T) {
			path, bound := filepath.Join(t.TempDir(), "m.db"), store.WithMaxBytes(hotBound)
			s := openT(t, path, bound)
			fs := hotFuncs(t, s, pol, "one", "f")
			one, many := fs[0], fs[1]
			ctx := context.Background()
			for i := range 20_000 {
				if _, err := one.Call(ctx, -1); err != nil {
					t.Fatal(err)
				}
				if _, err := many.Call(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(context.Background()); err != nil { // the counts of what was written
				t.Fatal(err)
			}
			if ev := nsStats(t, s, "f").Evictions; ev < 5_000 {
				t.Fatalf("%d evictions: the bound was not tested", ev)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, path, bound)
			defer s.Close()
			held := 0
			if err := s.Keys(ctx, "one", 0, func(store.KeyInfo) error { held++; return nil }); err != nil {
				t.Fatal(err)
			}
			if held != 1 {
				t.Errorf("the file evicted the key its memory tier served 20,000 times from the front")
			}
		})
	}
}
