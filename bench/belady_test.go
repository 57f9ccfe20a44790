package bench

import (
	"container/heap"
	"testing"
)

// belady is Belady's optimal policy (MIN): on a miss with the cache full,
// it evicts the entry whose next request is furthest in the future. It
// knows the future because it is made for one sequence of keys, which it
// must be replayed with; no policy hits more often on that sequence at
// that capacity, so it bounds what any target can ask. O(log capacity) a
// request: a heap of the entries by their next request, stale heap items
// skipped when popped.
type belady struct {
	tally
	capacity int
	keys     []uint64
	next     []int // next[i]: the index of the next request of keys[i]
	i        int
	in       map[uint64]int // an entry's key → the index of its next request
	byNext   nextHeap
}

// optPolicy returns the optimal policy for keys, replayed in order.
func optPolicy(keys []uint64) policy {
	next := make([]int, len(keys))
	last := make(map[uint64]int)
	for i := len(keys) - 1; i >= 0; i-- {
		j, ok := last[keys[i]]
		if !ok {
			j = len(keys) + i // never again: beyond every real index, in order
		}
		next[i], last[keys[i]] = j, i
	}
	return policy{name: "opt", new: func(_ testing.TB, capacity int) cache {
		return &belady{capacity: capacity, keys: keys, next: next, in: make(map[uint64]int, capacity)}
	}}
}

func (c *belady) request(k uint64) {
	if c.i >= len(c.keys) || c.keys[c.i] != k {
		panic("belady: replayed with another sequence than the one it was made for")
	}
	_, hit := c.in[k]
	c.count(hit)
	if !hit && len(c.in) >= c.capacity {
		for {
			e := heap.Pop(&c.byNext).(nextItem)
			if n, ok := c.in[e.key]; ok && n == e.next {
				delete(c.in, e.key)
				break
			}
		}
	}
	c.in[k] = c.next[c.i]
	heap.Push(&c.byNext, nextItem{c.next[c.i], k})
	c.i++
}

type nextItem struct {
	next int
	key  uint64
}

// nextHeap is a max-heap of entries by the index of their next request.
type nextHeap []nextItem

func (h nextHeap) Len() int           { return len(h) }
func (h nextHeap) Less(i, j int) bool { return h[i].next > h[j].next }
func (h nextHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nextHeap) Push(x any)        { *h = append(*h, x.(nextItem)) }
func (h *nextHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestBelady checks the optimal policy on a sequence small enough to
// check by hand, and that it hits at least as often as every reference
// policy on a loop and on a random sequence.
func TestBelady(t *testing.T) {
	// a b c a b c a b at capacity 2: c evicts b (a comes first), a hits,
	// b evicts a (c comes first), c hits, a evicts c (never again), b hits.
	keys := []uint64{1, 2, 3, 1, 2, 3, 1, 2}
	if got := replay(t, optPolicy(keys).new(t, 2), keys); got != 3.0/8 {
		t.Errorf("a b c a b c a b at capacity 2: hit ratio %v, want 3/8", got)
	}
	var loop, random []uint64
	x := uint64(1)
	for i := range 20_000 {
		loop = append(loop, uint64(i%120))
		x = x*6364136223846793005 + 1442695040888963407
		random = append(random, x>>54) // 1,024 keys
	}
	for name, ks := range map[string][]uint64{"loop": loop, "random": random} {
		for _, capacity := range []int{10, 100, 500} {
			opt := replay(t, optPolicy(ks).new(t, capacity), ks)
			for _, p := range policies[:4] {
				if r := replay(t, p.new(t, capacity), ks); r > opt {
					t.Errorf("%s at %d: %s hit %.4f, above the optimum %.4f", name, capacity, p.name, r, opt)
				}
			}
		}
	}
}
