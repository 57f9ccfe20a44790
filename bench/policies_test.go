package bench

import (
	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
)

// A cache replays a trace: request makes one request for a key (a hit, or
// a miss that admits it), and counts reports the hits and misses so far.
type cache interface {
	request(k uint64)
	counts() (hits, misses int64)
}

// tally counts the hits and misses of the reference policies.
type tally struct{ hits, misses int64 }

func (t *tally) count(hit bool) {
	if hit {
		t.hits++
	} else {
		t.misses++
	}
}

func (t *tally) counts() (hits, misses int64) { return t.hits, t.misses }

// fifo evicts the entry admitted longest ago, whatever its use: the
// disk tier's policy today.
type fifo struct {
	tally
	in   map[uint64]struct{}
	ring []uint64 // admitted keys; next is the oldest once ring is full
	next int
}

func newFIFO(capacity int) *fifo {
	return &fifo{in: make(map[uint64]struct{}, capacity), ring: make([]uint64, 0, capacity)}
}

func (c *fifo) request(k uint64) {
	_, hit := c.in[k]
	c.count(hit)
	if hit {
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, k)
	} else {
		delete(c.in, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % len(c.ring)
	}
	c.in[k] = struct{}{}
}

// lruRef is hashicorp/golang-lru/v2: Get, and Add on a miss.
type lruRef struct {
	tally
	c *lru.Cache[uint64, struct{}]
}

func newLRURef(capacity int) *lruRef {
	c, err := lru.New[uint64, struct{}](capacity)
	if err != nil {
		panic(err)
	}
	return &lruRef{c: c}
}

func (c *lruRef) request(k uint64) {
	_, hit := c.c.Get(k)
	c.count(hit)
	if !hit {
		c.c.Add(k, struct{}{})
	}
}

// arcRef is hashicorp/golang-lru/arc/v2 (ARC, the policy the P3 and OLTP
// traces were published with): Get, and Add on a miss. Only the
// disk-policy replay (TestDiskPolicy) sets it beside the others, to show
// what the adaptive policy of those traces' own paper reaches.
type arcRef struct {
	tally
	c *arc.ARCCache[uint64, struct{}]
}

func newARCRef(capacity int) *arcRef {
	c, err := arc.NewARC[uint64, struct{}](capacity)
	if err != nil {
		panic(err)
	}
	return &arcRef{c: c}
}

func (c *arcRef) request(k uint64) {
	_, hit := c.c.Get(k)
	c.count(hit)
	if !hit {
		c.c.Add(k, struct{}{})
	}
}

// otterRef is otter/v2 (W-TinyLFU): GetIfPresent, and Set on a miss. Its
// maintenance runs on the calling goroutine, as in memo's WTinyLFU tier,
// so that a replay does not depend on when a goroutine is scheduled.
type otterRef struct {
	tally
	c *otter.Cache[uint64, struct{}]
}

func newOtterRef(capacity int) *otterRef {
	return &otterRef{c: otter.Must(&otter.Options[uint64, struct{}]{
		MaximumSize: capacity,
		Executor:    func(fn func()) { fn() },
	})}
}

func (c *otterRef) request(k uint64) {
	_, hit := c.c.GetIfPresent(k)
	c.count(hit)
	if !hit {
		c.c.Set(k, struct{}{})
	}
}
