package memo_test

import (
	"context"
	"sync"
	"testing"

	"github.com/memostore/memostore/memo"
)

// TestConcurrentSetsKeepTiersAlike: Set "stores v for k in both tiers",
// and "a call returns the same value whichever tier answers". Two Sets of
// one key at once must leave both tiers holding the same one of their
// values. Set's write (memory, then the store) is ordered against nothing
// but computations: one Set's memory write and another's store write
// interleave, and the memory tier answers one value while the store,
// once the entry is evicted (or after a restart), answers the other
// (about 1% of rounds failed).
func TestConcurrentSetsKeepTiersAlike(t *testing.T) {
	s := openStore(t)
	f, err := memo.New(s, "s", func(context.Context, int) (int, error) { return -1, nil }, memo.MaxSize(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const rounds, setters = 3000, 4
	bad, example := 0, [2]int{}
	for i := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j := range setters {
			wg.Go(func() {
				<-start
				if err := f.Set(ctx, 1, setters*i+j); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		fromMemory := mustCall(t, f, 1)
		mustCall(t, f, 2) // evicts key 1 from the memory tier (MaxSize(1))
		fromStore := mustCall(t, f, 1)
		if fromMemory != fromStore {
			bad++
			example = [2]int{fromMemory, fromStore}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d rounds of %d concurrent Sets: the memory tier answered one value and the store another (e.g. %d, then %d)",
			bad, rounds, setters, example[0], example[1])
	}
}
