package bench

// s3fifo is S3-FIFO as Algorithm 1 of Yang et al., "FIFO queues are all
// you need for cache eviction" (SOSP '23), gives it, with libCacheSim's
// default parameters: a small FIFO S of 10% of the capacity that every new
// key enters, a main FIFO M of the rest, and a ghost FIFO G of the keys
// last evicted from S (as many as M holds, 90%). Each cached key has a
// 2-bit frequency, counting hits up to 3.
//
//   - A hit increments the key's frequency; nothing moves.
//   - A miss evicts while the cache is full, then inserts the key at the
//     head of M if G holds it, else at the head of S.
//   - Eviction takes from S while S holds 10% of the capacity or more,
//     else from M.
//   - From S: the tail moves to M if its frequency is above 1 (libCacheSim's
//     move-to-main threshold of 2), evicting from M if M is full; else it
//     goes to G, and one key has been evicted.
//   - From M: the tail is reinserted at the head with its frequency less
//     one while it is above 0, else evicted.
type s3fifo struct {
	tally
	capacity, smallCap, mainCap int

	entries     map[uint64]*s3entry
	small, main queue[*s3entry]
	ghost       queue[uint64]
	ghostSeq    map[uint64]uint64 // key → its position in ghost
	ghostN      uint64            // keys ever pushed to ghost
}

type s3entry struct {
	key  uint64
	freq uint8
}

func newS3FIFO(capacity int) *s3fifo {
	small := max(capacity/10, 1)
	return &s3fifo{capacity: capacity, smallCap: small, mainCap: max(capacity-small, 1),
		entries: make(map[uint64]*s3entry, capacity), ghostSeq: make(map[uint64]uint64)}
}

func (c *s3fifo) request(k uint64) {
	if e, hit := c.entries[k]; hit {
		c.count(true)
		e.freq = min(e.freq+1, 3)
		return
	}
	c.count(false)
	for c.small.len()+c.main.len() >= c.capacity {
		c.evict()
	}
	e := &s3entry{key: k}
	c.entries[k] = e
	if _, ok := c.ghostSeq[k]; ok {
		delete(c.ghostSeq, k) // its slot in ghost is skipped when popped
		c.main.push(e)
	} else {
		c.small.push(e)
	}
}

func (c *s3fifo) evict() {
	if c.small.len() >= c.smallCap {
		c.evictSmall()
	} else {
		c.evictMain()
	}
}

func (c *s3fifo) evictSmall() {
	for c.small.len() > 0 {
		t := c.small.pop()
		if t.freq > 1 {
			c.main.push(t)
			if c.main.len() > c.mainCap {
				c.evictMain()
			}
			continue
		}
		delete(c.entries, t.key)
		c.toGhost(t.key)
		return
	}
}

func (c *s3fifo) evictMain() {
	for c.main.len() > 0 {
		t := c.main.pop()
		if t.freq > 0 {
			t.freq--
			c.main.push(t)
			continue
		}
		delete(c.entries, t.key)
		return
	}
}

// toGhost remembers k, forgetting the oldest ghost beyond mainCap.
func (c *s3fifo) toGhost(k uint64) {
	c.ghost.push(k)
	c.ghostSeq[k] = c.ghostN
	c.ghostN++
	for c.ghost.len() > c.mainCap {
		old := c.ghost.pop()
		// The popped slot is number ghostN-1-len; drop the key only if
		// that slot is still its latest.
		if seq, ok := c.ghostSeq[old]; ok && seq == c.ghostN-1-uint64(c.ghost.len()) {
			delete(c.ghostSeq, old)
		}
	}
}

// queue is a FIFO: push at the head, pop at the tail.
type queue[T any] struct {
	items []T
	tail  int
}

func (q *queue[T]) len() int { return len(q.items) - q.tail }

func (q *queue[T]) push(v T) { q.items = append(q.items, v) }

func (q *queue[T]) pop() T {
	v := q.items[q.tail]
	var zero T
	q.items[q.tail] = zero
	q.tail++
	if q.tail >= 1024 && q.tail*2 >= len(q.items) { // reclaim the popped half
		n := copy(q.items, q.items[q.tail:])
		clear(q.items[n:])
		q.items, q.tail = q.items[:n], 0
	}
	return v
}
