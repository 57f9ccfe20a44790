package bench

import (
	"fmt"
	"math"
	"os"
	"testing"
)

// BenchmarkDiskCostAware answers the question issue "Eviction" asks before
// the time a result took may feed the disk tier's eviction: does weighing
// it save more recomputation time than use alone? It replays traces whose
// keys are given costs (a fixed function of the key: 90% cost 1, 9% cost
// 10, 1% cost 100, as a mix of cheap lookups, renders and model runs)
// against a simulation of the disk tier's policy (boltstore's evict.go:
// W-TinyLFU over the order of storing, a window of the newest 20%, a
// CLOCK hand over the rest, admission by a count-min sketch) and against
// the same policy with the cost weighed in, and reports for each trace,
// capacity and variant the recomputation time (recompute: the sum of the
// costs of the misses) and the hit ratio (hit%).
//
// The variants:
//
//	use       the disk tier's policy: the candidate stays if its sketch
//	          frequency beats the victim's
//	cost      the candidate stays if frequency × cost class (the power of
//	          4 at or below the cost) beats the victim's (the record's cost
//	          is in its header: free to read where the store already reads
//	          the two records)
//	cost+hand as cost, and the hand also spares an entry whose cost is
//	          above the mean of those stored, once per sweep
//
// One op is one replay of the first 200,000 requests (20,000 under
// BENCH_SHORT=1); run it with -benchtime 1x.
func BenchmarkDiskCostAware(b *testing.B) {
	requests := 200_000
	short := os.Getenv("BENCH_SHORT") == "1"
	if short {
		requests = 20_000
	}
	for _, tr := range traces {
		if tr.name == "p3" || tr.name == "corda" {
			continue // p3: long; corda: its keys repeat at once, whatever their cost
		}
		keys, err := tr.load()
		if err != nil {
			b.Logf("trace %s: %v (skipped)", tr.name, err)
			continue
		}
		keys = keys[:min(len(keys), requests)]
		caps := tr.caps
		if short {
			caps = tr.short
		}
		for _, c := range caps {
			for v, name := range []string{"use", "cost", "cost+hand"} {
				b.Run(fmt.Sprintf("trace=%s/requests=%d/cap=%d/policy=%s", tr.name, len(keys), c, name), func(b *testing.B) {
					var sim *costSim
					for range b.N {
						sim = newCostSim(c, v)
						for _, k := range keys {
							sim.request(k)
						}
					}
					b.ReportMetric(sim.recompute, "recompute")
					b.ReportMetric(float64(sim.hits)/float64(len(keys))*100, "hit%")
				})
			}
		}
	}
}

// keyCost is the cost of key k: 1, 10 or 100, from a hash of k.
func keyCost(k uint64) float64 {
	h := k*0x9e3779b97f4a7c15 ^ k>>29
	h *= 0xbf58476d1ce4e5b9
	switch r := (h >> 33) % 100; {
	case r == 0:
		return 100
	case r < 10:
		return 10
	}
	return 1
}

// costEntry is one stored entry: its key, its hits since the hand last
// passed (0 to 3), and whether it was evicted.
type costEntry struct {
	key   uint64
	uses  uint8
	spare bool // cost+hand: spared once this sweep
	dead  bool
}

// costSim is the disk tier's policy over entries of equal size, in order
// of storing (a slice; evicted entries are holes, dropped when they
// outnumber the live).
type costSim struct {
	variant   int // 0 use, 1 cost, 2 cost+hand
	capacity  int
	winCap    int
	q         []*costEntry
	m         map[uint64]*costEntry
	b         int // q[b:] is the window
	hand, end int // the hand is at q[hand], the sweep ends before q[end]
	winN      int
	sk        *sketch // diskpolicy_test.go's, aged as the store's
	costSum   float64
	recompute float64
	hits      int
}

func newCostSim(capacity, variant int) *costSim {
	return &costSim{variant: variant, capacity: capacity, winCap: max(capacity/5, 1),
		m: map[uint64]*costEntry{}, sk: storeSketch()}
}

// storeSketch is the policy simulation's sketch aged as the store's is
// (every 20 × width/4 additions).
func storeSketch() *sketch {
	s := newSketch()
	s.period = 20
	s.resize(64)
	return s
}

func (c *costSim) request(k uint64) {
	c.sk.fit(len(c.m) + 1)
	c.sk.add(k)
	if e := c.m[k]; e != nil {
		c.hits++
		e.uses = min(e.uses+1, 3)
		return
	}
	c.recompute += keyCost(k)
	e := &costEntry{key: k}
	c.q = append(c.q, e)
	c.m[k] = e
	c.costSum += keyCost(k)
	c.winN++
	for c.winN > c.winCap && len(c.m) <= c.capacity {
		c.leave()
	}
	for len(c.m) > c.capacity {
		c.evict()
	}
	if len(c.q) > 2*len(c.m)+64 {
		c.compact()
	}
}

// next returns the index of the first live entry at or after i, before to,
// or -1.
func (c *costSim) next(i, to int) int {
	for ; i < to; i++ {
		if !c.q[i].dead {
			return i
		}
	}
	return -1
}

// leave moves the window's oldest entry into main and returns it.
func (c *costSim) leave() *costEntry {
	i := c.next(c.b, len(c.q))
	c.b = i + 1
	c.winN--
	return c.q[i]
}

func (c *costSim) victim() *costEntry {
	mean := c.costSum / float64(len(c.m))
	wrapped := false
	for {
		i := c.next(c.hand, min(c.end, c.b))
		if i < 0 {
			if wrapped {
				return nil
			}
			c.hand, c.end, wrapped = 0, c.b, true
			continue
		}
		wrapped = false
		e := c.q[i]
		if e.uses > 0 {
			e.uses--
			c.hand = i + 1
			continue
		}
		if c.variant == 2 && !e.spare && keyCost(e.key) > mean {
			e.spare = true
			c.hand = i + 1
			continue
		}
		e.spare = false
		c.hand = i
		return e
	}
}

func (c *costSim) weight(k uint64) float64 {
	f := float64(c.sk.estimate(k))
	if c.variant > 0 {
		return f * costClass(keyCost(k))
	}
	return f
}

// costClass is the store's weight of a cost: the power of 4 at or below
// it (costs are measured, and vary a little from run to run: within a
// factor of 4 they weigh the same).
func costClass(cost float64) float64 {
	return math.Pow(4, math.Floor(math.Log(max(cost, 1))/math.Log(4)))
}

func (c *costSim) evict() {
	var out *costEntry
	if c.winN > c.winCap {
		cand := c.leave()
		out = cand
		if v := c.victim(); v != nil && c.weight(cand.key) > c.weight(v.key) {
			out = v
		}
	} else if out = c.victim(); out == nil {
		out = c.leave()
	}
	out.dead = true
	delete(c.m, out.key)
	c.costSum -= keyCost(out.key)
}

// compact drops the holes, keeping b, hand and end on the same entries.
func (c *costSim) compact() {
	var q []*costEntry
	b, hand, end := -1, -1, -1
	for i, e := range c.q {
		if i == c.b && b < 0 {
			b = len(q)
		}
		if i == c.hand && hand < 0 {
			hand = len(q)
		}
		if i == c.end && end < 0 {
			end = len(q)
		}
		if !e.dead {
			q = append(q, e)
		}
	}
	fix := func(x *int, v int) {
		if v < 0 {
			v = len(q)
		}
		*x = v
	}
	fix(&c.b, b)
	fix(&c.hand, hand)
	fix(&c.end, end)
	c.q = q
}
