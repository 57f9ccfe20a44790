package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// Eviction under WithMaxBytes is W-TinyLFU laid over the age index, in
// which every entry stays where its put placed it: no write per hit, and
// none to move an entry.
//
// The age index of every namespace is one sequence in stored-at order (its
// keys, stored-at ‖ key, merged across namespaces). A boundary b splits it:
// the newest entries, those at or after b, are the window (about
// windowPercent of the bytes at first, see below); the older ones are
// main. Use is noted in memory only, by the lookups (which reach the store
// on a memory-tier miss): every lookup adds to a count-min sketch of the
// key's frequency, and a hit adds to the key's use count (0 to 3, or up
// to 15 by the memory tier's notes: see maxNotedUses). The
// memory tier's hits are noted the same way, in batches (see noteUse and
// store.Namespace.NoteUse): without them the keys a program uses most,
// which its memory tier serves, would look unused here and be evicted.
//
// When the store is over its bound and the window over its share, the
// window's oldest entry (the candidate) leaves it by moving b past it, and
// competes with main's victim: the one with the higher weight stays, ties
// going to the victim (TinyLFU's admission: a burst of keys used once does
// not flush the keys used often). The weight is the sketch's frequency
// times the class of what computing the entry cost (its record's cost,
// rounded down to a power of 4 milliseconds: costs within a factor of 4,
// and all costs under 4 ms, weigh the same, as measured costs vary from
// run to run), so that an
// expensive result outlives a cheap one used as often. On traces whose
// keys cost 1, 10 or 100 (90%, 9%, 1%), this took 6% less recomputation
// time than the frequency alone, on average over the traces and
// capacities of BenchmarkDiskCostAware (up to 42% less; at most 0.8%
// more), for 1.6 points of hit ratio (6 at worst); with equal costs it
// is the frequency alone. Main's victim is chosen
// by a hand that sweeps main in order, as CLOCK's does: an entry with uses
// left has one taken off and is passed over, where it is (the hand moves,
// not the entry); the first without is the victim. While the store is
// under its bound, the window's oldest entries join main unopposed.
//
// The window's share starts at windowPercent of WithMaxBytes and is tuned
// by a hill climber, Caffeine's, with a guard against noise (see climber),
// and between the climber's samples by two ghosts, the keys that just lost
// their duel and those just evicted from main (see steerer): a small
// window keeps main's entries from being displaced by keys that come back
// only after a long time (a loop longer than the store: 97% of requests
// hit instead of 78% at 1,000 entries), a large one keeps keys that come
// back soon after their first use (Corda's trace).
//
// The file holds the order (the age index); the sketch, the use counts, b,
// the hand, the climber and the ghosts are memory. Close saves the sketch,
// the use counts and the hand in the file, and the next Open reads them
// back (see keyPolicy, at the end of this file); a reopened store starts
// with every entry in main and a window of windowPercent, climber and
// ghosts afresh. Without the counts (a process that ended without Close)
// its hand would evict the oldest entries first, which are those that
// stayed longest for being used (TestEvictionPolicySurvivesReopen: all 20
// of them, to 40 keys used once). Restarted halfway through the shared
// traces, the disk tier hits at most 0.43 points less than one that was
// not, where one that forgot lost up to 11 (BenchmarkDiskRestart). Each eviction reads the head of the window and the
// entries the hand passes, each passed entry having been hit since the
// hand last came by: O(evicted + hits).
//
// Written here rather than taken from a cache library (otter, ristretto)
// because their policies move an entry on every hit, which on disk is a
// write per hit; the simulation in the benchmarks (bench/diskpolicy_test.go)
// chose this form over S3-FIFO and thresholds on moves.

// windowPercent is the window's share of WithMaxBytes at Open, before the
// climber moves it.
const windowPercent = 20

// maxUses caps an entry's use count: the sweeps of the hand it survives
// unused.
const maxUses = 3

// maxNotedUses caps the use count that the memory tier's notes give an
// entry. Those notes come in batches (one for each 64 hits of an entry
// past its 64th, see store.Namespace.NoteUse), where the store's own
// hits come one at a time: an entry the store hits once a sweep keeps a
// use for the next, but one the memory tier hits 64 times between two
// notes, capped at maxUses, was passed over 3 sweeps and then evicted
// before its next note, if the store turned over more than 3 times in
// those 64 hits. With 15, the most a counter holds, an entry noted hit
// 4 or more times a sweep stays. With the cap at 3, the file kept 41 to
// 50 of the 50 keys that TestEvictionHearsMemoryHits hits every 100 calls
// through the memory tier (under 50 in 33 of 160 runs; 36 once in CI);
// with 15, all 50 in each of 160 runs.
const maxNotedUses = 15

// maxVictimSteps bounds the entries one victim search passes over; the
// entry it stops at is the victim.
const maxVictimSteps = 10_000

// maxSketchWidth caps the counters of one row of the sketch (and of the
// use table): 2^22 4-bit counters, 2 MiB a row, enough for a million
// entries at four counters each; a store with more shares counters.
const maxSketchWidth = 1 << 22

// agingPeriod sets how often the sketch halves its counters: every
// agingPeriod × width/4 additions. Caffeine's is 10; half as often kept
// more hits in the simulation of this policy on the shared traces
// (bench/diskpolicy_test.go), where loop and gli gained most.
const agingPeriod = 20

// minSketchEntries is the fewest entries the sketch and the use table are
// sized for (256: 512 bytes a row), so that a store filling up does not
// count with a few crowded counters, whose collisions the table keeps as
// it grows.
const minSketchEntries = 256

// policy is the eviction state of a store with WithMaxBytes.
type policy struct {
	// salt keys the hash of the sketch and the use table (see hash): random
	// for a new file, kept with the counts that Close saves (see
	// savePolicy), so that the next Open's counts are indexed alike.
	salt uint64

	// Shared: readers add to them, the writer reads, ages and resizes.
	sketch atomic.Pointer[sketch]
	uses   atomic.Pointer[nibbles]

	// The writer's, copied into each transaction (see txState.pol) and
	// installed if it commits.
	pos policyPos
	// victims counts the writer's searches for main's victim: each may
	// move the hand and spend use counts, which the saved state holds.
	// The writer's alone (a search in a transaction that fails counts
	// too: it only makes the next save come sooner).
	victims int64

	// The window's bound; readers count its samples, the writer moves it.
	climb climber
	// What moves it between samples: lookups of keys just evicted.
	steer steerer
	// The stored-at time of b, the window's start, for readers to tell a
	// hit in the window from one in main; the writer sets it when a
	// transaction that moved b commits.
	bAt atomic.Int64
}

// policyPos is the writer's part of the policy.
type policyPos struct {
	b        []byte // index keys at or after b are the window
	hand     []byte // where the hand is: the next entry it looks at is the first at or after it
	handEnd  []byte // the sweep ends before this index key; nil: at b
	winBytes int64  // bytes of the window's entries
}

func newPolicy(now, maxBytes int64) *policy {
	p := &policy{salt: rand.Uint64()}
	p.climb.init(maxBytes)
	p.sketch.Store(newSketch(4 * minSketchEntries))
	p.uses.Store(newNibbles(4 * minSketchEntries))
	// Every entry stored before Open is in main.
	p.pos.b = expiry.AppendIndexKey(nil, now, nil)
	p.bAt.Store(now)
	return p
}

// hash is the key of entry key of namespace sp, for the sketch and the use
// table: xxhash, whose value does not change from one process to the
// next (as maphash's does), so that saved counts can be read back, mixed
// with the file's salt.
func (p *policy) hash(sp *space, key []byte) uint64 {
	return rowHash(xxhash.Sum64(key), p.salt) ^ sp.polHash*0x9e3779b97f4a7c15
}

// noteLookup notes a lookup of key in sp, found (an entry stored at
// storedAt) or not; a memory-tier miss that reaches the store. It is
// called concurrently by readers.
func (p *policy) noteLookup(sp *space, key []byte, found bool, storedAt int64) {
	h := p.hash(sp, key)
	p.sketch.Load().add(h)
	p.climb.lookups.Add(1)
	if !found {
		p.steer.missed(h)
		return
	}
	p.uses.Load().inc(h, maxUses)
	p.climb.hits.Add(1)
	// An entry stored at b's time is counted in the window whatever its
	// key: the counts only weigh the two regions against each other.
	if storedAt >= p.bAt.Load() {
		p.steer.winHits.Add(1)
	} else {
		p.steer.mainHits.Add(1)
	}
}

// noteUse notes hits of key in sp that a memory tier served, as that many
// hits of the store's are noted: in the sketch and the use table, each
// counter saturating as it does, but the use count at maxNotedUses rather
// than maxUses, as the notes come in batches. The climber and the steerer are not
// told: they weigh the window against main by the store's own lookups,
// which the memory tier's hits are not.
func (p *policy) noteUse(sp *space, key []byte, hits int) {
	h := p.hash(sp, key)
	p.sketch.Load().addN(h, hits)
	p.uses.Load().incBy(h, hits, maxNotedUses)
}

// climber tunes the window's bound by the hit ratio of the lookups, as
// Caffeine's hill climber does: once a sample of 10 × (the entries the
// bound holds) lookups is complete, the window moves by a step, in the
// direction of the last move if the hit ratio rose since the last sample,
// the other way if it fell. The step starts at 1/16 of the bound, down
// first; it shrinks by 2% a move, and is back to 1/16 after a change of 5
// points or more.
//
// Two changes to Caffeine's, each measured on the shared traces
// (bench/diskpolicy_test.go, TestDiskPolicy): the first sample only sets
// the ratio the next is compared with (it is mostly the store filling
// up), and a change within two standard errors of the samples' ratios is
// noise: the window holds still, and the sample is dropped. Without them
// the window wandered down on a trace where no size beats another (Corda,
// whose keys come back within 100 requests), and fell below first in,
// first out there.
//
// The counts are the readers' (atomics); the rest is the writer's alone,
// kept across its transactions whether they commit or not.
type climber struct {
	lookups, hits atomic.Int64

	maxBytes int64
	win      int64   // the window's bound, bytes
	step     float64 // bytes, signed
	prevRate float64
	sampled  bool // the first sample is done
}

func (c *climber) init(maxBytes int64) {
	c.maxBytes = maxBytes
	c.win = maxBytes / 100 * windowPercent
	c.step = -float64(maxBytes) / 16
}

// window returns the window's bound, moving it first if the sample is
// complete, and whether it moved down; holds is the entries the bound
// holds, at their mean size.
func (c *climber) window(holds int64) (win int64, shrunk bool) {
	if holds <= 0 || c.lookups.Load() < 10*holds {
		return c.win, false
	}
	n, h := c.lookups.Swap(0), c.hits.Swap(0)
	rate := min(float64(h)/float64(n), 1)
	if !c.sampled {
		c.sampled, c.prevRate = true, rate
		return c.win, false
	}
	change := rate - c.prevRate
	if p := (rate + c.prevRate) / 2; math.Abs(change) < 2*math.Sqrt(2*p*(1-p)/float64(n)) {
		return c.win, false
	}
	amount := c.step
	if change < 0 {
		amount = -amount
	}
	c.step = 0.98 * amount
	if math.Abs(change) >= 0.05 {
		c.step = math.Copysign(float64(c.maxBytes)/16, amount)
	}
	c.prevRate = rate
	before := c.win
	c.win = min(max(c.win+int64(amount), 0), c.maxBytes)
	return c.win, c.win < before // a window already at 0 did not shrink
}

// steerer moves the window between the climber's samples by the hits it
// gets and by what two ghosts see, as ARC adapts its target by its ghost lists: the keys of the
// last candidates that lost their duel (rejected), and of the last
// entries evicted from main (evicted), 1/16 of the entries the bound holds
// each, hashes in memory. A lookup that misses a key in rejected would
// have hit with a window larger by about that much; one that misses a key
// in evicted, with a main larger by as much. Once 16 such lookups are
// counted, if one ghost's exceed the other's by more than two standard
// errors (2·sqrt(n)), the window moves 1/16 of the bound that way, and
// the counts start again (after 320 without a verdict, too).
//
// A move is taken only if it gains more hits than it costs: the window
// grows only if the lookups of rejected keys outnumber main's hits on as
// many bytes as the step takes from it (main's hits since the last move,
// times the step over main's bytes), and shrinks only if those of evicted
// keys outnumber the window's on the step's bytes. Without that guard a
// loop just longer than the store (whose rejected candidates all come
// back, one lap later, to a window that could never hold them, while
// main's entries are each hit once a lap) grew the window and lost 11
// points at 1,000 entries.
//
// The window also shrinks by a step when it is hit far less than main:
// under 1/8 as often per byte since the last move, where at main's rate it
// would have had 16 hits or more. A window that holds keys used once, or
// keys that come back only long after leaving it, keeps main from holding
// what is used often, and neither ghost sees it when the keys that lost
// come back too late for them (LIRS's glimpse trace: no key came back to
// a ghost). In the simulation this took gli at 1,750 and 2,000 entries
// from 54.0% to 56.2% and 58.0% (the optimum) and loop at 1,000 to 97.1%;
// no trace lost more than 0.13 (loop at 250). Ratios of 4 and 16 did as
// well, within half a point either way.
//
// The climber needs 10 × (the entries held) lookups to take one step,
// more than a cold store or a short trace sees; the ghosts answer in
// dozens of misses. In the simulation (bench/diskpolicy_test.go) they
// gained up to 1.9 points on OLTP and on P3's first 200,000 requests, and
// took the loop above from 94.5% to 96.4%; none lost more than 0.3 (P3's
// prefix at 25,000 entries, still above FIFO). In BenchmarkHitRatio's
// replays of this store, with the thinning above, against the climber
// alone: the loop at 1,000 entries from 93.7% to 97.4% (otter 96.7%),
// P3's prefix at 100,000 from 7.8% to 9.5%, gli at 1,750 and 2,000 from
// 53.3% and 53.8% to 55.7% and 58.0%.
//
// The hit counts are the readers' (atomics); the ghosts and their counts
// are under mu, taken by a lookup that misses and by the writer.
type steerer struct {
	winHits, mainHits atomic.Int64

	mu                        sync.Mutex
	rejected, evicted         ghost
	rejectedHits, evictedHits int64
}

// thinRatio: the window shrinks when its hits per byte fall under
// 1/thinRatio of main's (see steerer).
const thinRatio = 8

// maxGhost caps each ghost's keys (64 Ki, 8 bytes each and a map entry):
// 1/16 of the million entries maxSketchWidth is sized for.
const maxGhost = maxSketchWidth / 4 / 16

// missed counts a lookup of h that found nothing, if h is in a ghost (and
// takes it out: one lookup, one count).
func (s *steerer) missed(h uint64) {
	s.mu.Lock()
	switch {
	case s.rejected.take(h):
		s.rejectedHits++
	case s.evicted.take(h):
		s.evictedHits++
	}
	s.mu.Unlock()
}

// lost notes that the entry of hash h left the store: rejected, a
// candidate that lost its duel, or evicted from main.
func (s *steerer) lost(h uint64, rejected bool) {
	s.mu.Lock()
	if rejected {
		s.rejected.push(h)
	} else {
		s.evicted.push(h)
	}
	s.mu.Unlock()
}

// move returns by how many bytes the window should move (0, or ±maxBytes/16),
// and sizes the ghosts for holds entries. winBytes and total are the
// window's bytes and the store's.
func (s *steerer) move(holds, winBytes, total, maxBytes int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int(min(max(holds/16, 1), maxGhost))
	s.rejected.limit(n)
	s.evicted.limit(n)
	r, e := s.rejectedHits, s.evictedHits
	w, m := float64(s.winHits.Load()), float64(s.mainHits.Load())
	step := maxBytes / 16
	mainBytes := float64(max(total-winBytes, 1))
	// The window's hits had it been hit as often as main, per byte.
	atMainRate := m * float64(winBytes) / mainBytes
	switch {
	case winBytes > 0 && atMainRate >= 16 && w*thinRatio < atMainRate:
		s.restart()
		return -step
	case r+e < 16:
		return 0
	}
	// What a step would cost: the hits, at the region's rate per byte,
	// of the step's bytes of the region it takes them from.
	growCost := m * float64(step) / mainBytes
	shrinkCost := w * float64(step) / float64(max(winBytes, 1))
	d := r - e
	if d > 0 && float64(r) < growCost || d < 0 && float64(e) < shrinkCost {
		d = 0
	}
	var amount int64
	switch {
	case d != 0 && math.Abs(float64(d)) > 2*math.Sqrt(float64(r+e)):
		amount = step
		if d < 0 {
			amount = -amount
		}
	case r+e < 320:
		return 0
	}
	s.restart()
	return amount
}

// restart zeroes the counts, after a move or a sample without a verdict.
// s.mu must be held.
func (s *steerer) restart() {
	s.rejectedHits, s.evictedHits = 0, 0
	s.winHits.Store(0)
	s.mainHits.Store(0)
}

// ghost remembers the hashes of the last keys pushed, up to a limit.
type ghost struct {
	order  []ghostKey // oldest first, from head
	head   int
	in     map[uint64]uint64 // hash → the number of its last push
	pushes uint64
	max    int
}

type ghostKey struct{ h, n uint64 }

func (g *ghost) push(h uint64) {
	if g.max == 0 {
		return
	}
	if g.in == nil {
		g.in = make(map[uint64]uint64)
	}
	g.pushes++
	g.in[h] = g.pushes
	g.order = append(g.order, ghostKey{h, g.pushes})
	g.limit(g.max)
}

// take reports whether h is remembered, forgetting it.
func (g *ghost) take(h uint64) bool {
	if _, ok := g.in[h]; ok {
		delete(g.in, h)
		return true
	}
	return false
}

// limit forgets the oldest hashes beyond n.
func (g *ghost) limit(n int) {
	g.max = n
	for len(g.order)-g.head > n {
		k := g.order[g.head]
		if g.in[k.h] == k.n {
			delete(g.in, k.h)
		}
		g.head++
	}
	if g.head >= 1024 && 2*g.head >= len(g.order) {
		g.order = append(g.order[:0], g.order[g.head:]...)
		g.head = 0
	}
}

// resize moves the window's bound by d bytes, within [0, the bound], and
// returns it.
func (c *climber) resize(d int64) int64 {
	c.win = min(max(c.win+d, 0), c.maxBytes)
	return c.win
}

// fit sizes the sketch and the use table for entries entries: four
// counters an entry per row, as Caffeine's sketch has (the use table is a
// row too), doubled by copying, so that the counts stay (but for a
// reader's addition to the old table while it is copied, which is lost:
// a hit or two, once a doubling).
func (p *policy) fit(entries int64) {
	want := min(4<<bits.Len64(uint64(max(entries, minSketchEntries)-1)), maxSketchWidth)
	if s := p.sketch.Load(); s.width() < want {
		p.sketch.Store(s.grow(want))
	}
	if u := p.uses.Load(); u.width() < want {
		p.uses.Store(u.grow(want))
	}
}

// weight is e's claim to stay: its frequency times the class of its cost
// (see the top of this file).
func (p *policy) weight(e *indexEntry) uint64 {
	f := uint64(p.sketch.Load().estimate(p.hash(e.sp, e.key)))
	h, _ := codec.ParseHeader(e.rec) // a record that does not parse costs 0
	return f * costClass(h.Cost)
}

// costClass is the power of 4 milliseconds at or below cost (1 below 4 ms),
// up to 4^15. Below a few milliseconds, what a computation measures is
// mostly the machine's noise (a preemption, a collection): weighing it
// cost cheap functions 1.5 points of hit ratio on the OLTP trace.
func costClass(cost time.Duration) uint64 {
	ms := uint64(max(cost/time.Millisecond, 1))
	return 1 << min((bits.Len64(ms)-1)/2*2, 30)
}

// nibbles is a table of 4-bit counters, 16 to a word, safe for concurrent
// use; an index is a hash masked to the width.
type nibbles struct {
	w    []atomic.Uint64
	mask uint64
}

// newNibbles returns a table of width counters (a power of two, 16 at
// least).
func newNibbles(width int) *nibbles {
	return &nibbles{w: make([]atomic.Uint64, width/16), mask: uint64(width - 1)}
}

func (t *nibbles) width() int { return len(t.w) * 16 }

func (t *nibbles) get(h uint64) uint8 {
	i := h & t.mask
	return uint8(t.w[i/16].Load() >> (i % 16 * 4) & 0xf)
}

// inc adds one to counter h, up to limit.
func (t *nibbles) inc(h uint64, limit uint8) { t.incBy(h, 1, limit) }

// incBy adds n to counter h, up to limit.
func (t *nibbles) incBy(h uint64, n int, limit uint8) {
	i := h & t.mask
	a, shift := &t.w[i/16], i%16*4
	for {
		w := a.Load()
		c := uint8(w >> shift & 0xf)
		if c >= limit {
			return
		}
		d := uint64(min(n, int(limit-c)))
		if a.CompareAndSwap(w, w+d<<shift) {
			return
		}
	}
}

// dec takes one from counter h, down to 0.
func (t *nibbles) dec(h uint64) {
	i := h & t.mask
	a, shift := &t.w[i/16], i%16*4
	for {
		w := a.Load()
		if w>>shift&0xf == 0 || a.CompareAndSwap(w, w-1<<shift) {
			return
		}
	}
}

// halve halves every counter (TinyLFU's aging).
func (t *nibbles) halve() {
	for i := range t.w {
		for {
			w := t.w[i].Load()
			if t.w[i].CompareAndSwap(w, w>>1&0x7777777777777777) {
				break
			}
		}
	}
}

// grow returns a copy of t of width counters, each counter copied to every
// index that masks to it: counts read the same.
func (t *nibbles) grow(width int) *nibbles {
	g := newNibbles(width)
	for i := range g.w {
		g.w[i].Store(t.w[i%len(t.w)].Load())
	}
	return g
}

// sketch is a count-min sketch: four rows of 4-bit counters, aged by
// halving every agingPeriod × width/4 additions.
type sketch struct {
	rows  [4]*nibbles
	added atomic.Int64
}

var sketchSeeds = [4]uint64{0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9, 0xd6e8feb86659fd93}

func newSketch(width int) *sketch {
	s := &sketch{}
	for r := range s.rows {
		s.rows[r] = newNibbles(width)
	}
	return s
}

func (s *sketch) width() int { return s.rows[0].width() }

func rowHash(h, seed uint64) uint64 {
	h = (h + seed) * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}

func (s *sketch) add(h uint64) { s.addN(h, 1) }

// addN adds n to h's counts, each saturating at 15; n counts as n
// additions for aging.
func (s *sketch) addN(h uint64, n int) {
	for r, row := range s.rows {
		row.incBy(rowHash(h, sketchSeeds[r]), n, 15)
	}
	s.added.Add(int64(min(n, maxNoteHits)))
}

// maxNoteHits bounds the additions one note counts for aging (a note
// comes from another process too, and could say anything): far more
// than a period, so that it still ages the counters, and far from
// overflowing the count.
const maxNoteHits = 1 << 30

func (s *sketch) estimate(h uint64) uint8 {
	f := uint8(15)
	for r, row := range s.rows {
		f = min(f, row.get(rowHash(h, sketchSeeds[r])))
	}
	return f
}

// period is the additions between two agings.
func (s *sketch) period() int64 { return int64(agingPeriod * s.width() / 4) }

// age halves the counters once a period of additions was made since it
// last did, and leaves half a period pending, as TinyLFU's reset does;
// only the writer calls it. A backlog of additions (a burst of notes of
// memory-tier hits, many at once) ages the counters once, not once a
// transaction until it is spent: halving is all the counters can
// forget, and halving them again would forget what came after.
func (s *sketch) age() {
	period := s.period()
	a := s.added.Load()
	if a < period {
		return
	}
	for _, row := range s.rows {
		row.halve()
	}
	s.added.Add(-(a - period/2))
}

func (s *sketch) grow(width int) *sketch {
	g := &sketch{}
	for r, row := range s.rows {
		g.rows[r] = row.grow(width)
	}
	g.added.Store(s.added.Load())
	return g
}

// indexEntry is an entry found by its age index key.
type indexEntry struct {
	sp   *space
	b    *spaceBuckets
	ik   []byte // the index key: stored-at ‖ key
	key  []byte
	rec  []byte
	size int64 // of key and record, as the counters count it
}

// after returns the least index key greater than ik.
func after(ik []byte) []byte { return append(bytes.Clone(ik), 0) }

// first returns the entry whose age index key is the least at or after
// from (nil: the start) and before to (nil: the end), across namespaces,
// or nil. Index keys whose entry is gone or was replaced are deleted on
// the way.
func (st *txState) first(tx *bolt.Tx, from, to []byte) (*indexEntry, error) {
	for {
		var best *indexEntry
		for _, sp := range st.spaces {
			if st.counters(sp).Entries == 0 {
				continue
			}
			b, err := st.bucketsOf(tx, sp)
			if err != nil {
				return nil, err
			}
			c := b.a.Cursor()
			var k []byte
			if from == nil {
				k, _ = c.First()
			} else {
				k, _ = c.Seek(from)
			}
			if k == nil || to != nil && bytes.Compare(k, to) >= 0 {
				continue
			}
			if best == nil || bytes.Compare(k, best.ik) < 0 {
				best = &indexEntry{sp: sp, b: b, ik: bytes.Clone(k)}
			}
		}
		if best == nil {
			return nil, nil
		}
		at, key, err := expiry.ParseIndexKey(best.ik)
		if err == nil {
			best.key = key
			best.rec = best.b.d.Get(key)
			if best.rec != nil && matches(best.rec, key, at, true, st.counters(best.sp)) {
				best.size = int64(len(key) + len(best.rec))
				return best, nil
			}
		}
		// A stale index key: its entry was replaced or is gone.
		if err := best.b.a.Delete(best.ik); err != nil {
			return nil, err
		}
	}
}

// victim returns main's victim (see the top of this file), or nil if main
// is empty. p is the transaction's copy of the policy's position.
func (st *txState) victim(tx *bolt.Tx, pol *policy, p *policyPos) (*indexEntry, error) {
	pol.victims++
	uses := pol.uses.Load()
	wrapped := false
	for steps := 0; ; steps++ {
		to := p.b
		if p.handEnd != nil && bytes.Compare(p.handEnd, to) < 0 {
			to = p.handEnd
		}
		e, err := st.first(tx, p.hand, to)
		if err != nil {
			return nil, err
		}
		if e == nil {
			if wrapped {
				return nil, nil // main is empty
			}
			// The sweep is over; the next ends where main ends now.
			p.hand, p.handEnd, wrapped = nil, bytes.Clone(p.b), true
			continue
		}
		wrapped = false
		h := pol.hash(e.sp, e.key)
		if uses.get(h) <= st.spent[h] || steps >= maxVictimSteps {
			p.hand = e.ik
			return e, nil
		}
		if st.spent == nil {
			st.spent = map[uint64]uint8{}
		}
		st.spent[h]++ // taken off the table if the transaction commits
		p.hand = after(e.ik)
	}
}

// lostKey is a key that lost its place: rejected (a candidate that lost
// its duel) or evicted from main.
type lostKey struct {
	h        uint64
	rejected bool
}

// lose tells the ghosts of h, which lost its place, if the transaction
// commits (see install).
func (st *txState) lose(h uint64, rejected bool) {
	st.lost = append(st.lost, lostKey{h, rejected})
}

// inWindow reports whether the entry of index key ik is in the window.
func (p *policyPos) inWindow(ik []byte) bool { return bytes.Compare(ik, p.b) >= 0 }

// leaveWindow moves b past e, the window's oldest entry.
func (p *policyPos) leaveWindow(e *indexEntry) {
	p.b = after(e.ik)
	p.winBytes = max(p.winBytes-e.size, 0)
}

// leaveWindow moves the window's start past e's index key (see
// policyPos.leaveWindow), and takes off winBytes the bytes of the other
// namespaces' entries under the same index key (the same key, stored at
// the same nanosecond: two functions of the same keys, a coarse clock),
// which leave the window with e and join main unopposed. Without them,
// their bytes stayed in winBytes for good, and the window held less than
// its share from then on.
func (st *txState) leaveWindow(tx *bolt.Tx, p *policyPos, e *indexEntry) error {
	p.leaveWindow(e)
	at, _, err := expiry.ParseIndexKey(e.ik)
	if err != nil {
		return nil
	}
	for _, sp := range st.spaces {
		if sp == e.sp || st.counters(sp).Entries == 0 {
			continue
		}
		b, err := st.bucketsOf(tx, sp)
		if err != nil {
			return err
		}
		if k, _ := b.a.Cursor().Seek(e.ik); !bytes.Equal(k, e.ik) { // the index's values are empty: Get cannot tell
			continue
		}
		if rec := b.d.Get(e.key); rec != nil && matches(rec, e.key, at, true, st.counters(sp)) {
			p.winBytes = max(p.winBytes-int64(len(e.key)+len(rec)), 0)
		}
	}
	return nil
}

// evict deletes entries, across namespaces, until the stored bytes are
// within maxBytes or limit entries are gone, choosing them by use (see the
// top of this file). If it stops at limit with the store still too big it
// sets st.over.
func (st *txState) evict(tx *bolt.Tx, maxBytes int64, limit int) error {
	pol := st.s.pol
	p := st.position()
	var total, entries int64
	for _, sp := range st.spaces {
		c := st.counters(sp)
		total += c.Bytes
		entries += c.Entries
	}
	pol.fit(entries)
	pol.sketch.Load().age()
	holds := int64(0)
	if total > 0 {
		holds = int64(float64(maxBytes) / float64(total) * float64(entries))
	}
	winCap, shrunk := pol.climb.window(holds)
	if d := pol.steer.move(holds, p.winBytes, total, maxBytes); d != 0 {
		before := winCap
		winCap = pol.climb.resize(d)
		shrunk = shrunk || winCap < before
	}
	for moved := 0; p.winBytes > winCap && (total <= maxBytes || total-p.winBytes < maxBytes-winCap || shrunk && moved < limit); moved++ {
		// Under the bound, while main is under its share, or after the
		// window shrank, the window's oldest joins main unopposed (after
		// a shrink, up to limit; the rest duel main's victim as they
		// leave). Main's share matters when one transaction takes the
		// store from under its bound to far over it (a burst of writes):
		// else the window held everything past its own share, main stayed
		// empty, and the store evicted first in, first out from then on
		// (TestEvictionFillsMainFirst).
		cand, err := st.first(tx, p.b, nil)
		if err != nil {
			return err
		}
		if cand == nil {
			p.winBytes = 0
			break
		}
		if err := st.leaveWindow(tx, p, cand); err != nil {
			return err
		}
	}
	for n := 0; total > maxBytes; n++ {
		if n == limit {
			st.over = true
			return nil
		}
		var out *indexEntry
		if p.winBytes > winCap {
			cand, err := st.first(tx, p.b, nil)
			if err != nil {
				return err
			}
			if cand == nil {
				p.winBytes = 0 // the window is empty after all
			} else {
				if err := st.leaveWindow(tx, p, cand); err != nil {
					return err
				}
				v, err := st.victim(tx, pol, p)
				if err != nil {
					return err
				}
				out = cand
				if v != nil && pol.weight(cand) > pol.weight(v) {
					out = v
				}
				st.lose(pol.hash(out.sp, out.key), out == cand)
			}
		}
		if out == nil {
			v, err := st.victim(tx, pol, p)
			if err != nil {
				return err
			}
			if v == nil {
				// Main is empty: the window's oldest goes.
				if v, err = st.first(tx, p.b, nil); err != nil || v == nil {
					return err // no entry left to evict, though the counters count bytes
				}
				if err := st.leaveWindow(tx, p, v); err != nil {
					return err
				}
			} else {
				st.lose(pol.hash(v.sp, v.key), false)
			}
			out = v
		}
		total -= out.size
		if err := st.remove(out.b, out.sp, out.key, out.rec); err != nil {
			return err
		}
		st.counters(out.sp).Evictions++
	}
	return nil
}

// What the policy knows of use survives Close: Close saves the salt, the
// sketch, the use table and the hand under keyPolicy in the meta bucket
// (savePolicy), and the next Open reads them back (loadSalt at Open, the
// rest by the writer before its first transaction, so that Open does not
// grow with the entries: the tables take about 10 bytes an entry, 10 MiB
// at most). The window starts empty again (every entry in main), and the
// climber and the ghosts start afresh: they follow the workload of the
// moment. The writer also saves it every policySaveInterval while it
// changes, so that a process that ends without Close leaves the state of
// a minute before, not of its last Close (or none).
//
// The encoding, little-endian: the version (1 byte, savedPolicyVersion),
// the salt (8), the sketch's additions since its last aging (8), the
// hand's length (uvarint) and bytes, the tables' width in counters
// (uvarint), then the sketch's 4 rows and the use table, width/16 words
// each.
var keyPolicy = []byte("policy")

const savedPolicyVersion = 1

// marshal encodes the policy's saved state; only the writer's goroutine,
// or Close once it is gone, calls it.
func (p *policy) marshal() []byte {
	sk, uses := p.sketch.Load(), p.uses.Load()
	w := sk.width()
	if uses.width() > w {
		sk = sk.grow(uses.width())
		w = uses.width()
	} else if uses.width() < w {
		uses = uses.grow(w)
	}
	b := make([]byte, 0, 32+len(p.pos.hand)+5*w/2)
	b = append(b, savedPolicyVersion)
	b = binary.LittleEndian.AppendUint64(b, p.salt)
	b = binary.LittleEndian.AppendUint64(b, uint64(max(sk.added.Load(), 0)))
	b = binary.AppendUvarint(b, uint64(len(p.pos.hand)))
	b = append(b, p.pos.hand...)
	b = binary.AppendUvarint(b, uint64(w))
	for _, t := range append(sk.rows[:], uses) {
		for i := range t.w {
			b = binary.LittleEndian.AppendUint64(b, t.w[i].Load())
		}
	}
	return b
}

// savedPolicy is a decoded saved state.
type savedPolicy struct {
	salt  uint64
	added int64
	hand  []byte
	width int
	words []uint64 // the sketch's 4 rows, then the use table
}

var errSavedPolicy = errors.New("saved eviction state does not decode")

// parseSavedPolicy decodes b, checking every length; hand is copied.
func parseSavedPolicy(b []byte) (*savedPolicy, error) {
	if len(b) < 17 || b[0] != savedPolicyVersion {
		return nil, errSavedPolicy
	}
	sp := &savedPolicy{salt: binary.LittleEndian.Uint64(b[1:]), added: int64(binary.LittleEndian.Uint64(b[9:]) & math.MaxInt64)}
	b = b[17:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errSavedPolicy
	}
	sp.hand, b = bytes.Clone(b[k:k+int(n)]), b[k+int(n):]
	w, k := binary.Uvarint(b)
	if k <= 0 || w < 4*minSketchEntries || w > maxSketchWidth || w&(w-1) != 0 {
		return nil, errSavedPolicy
	}
	b = b[k:]
	if uint64(len(b)) != 5*w/16*8 {
		return nil, fmt.Errorf("%w: %d bytes of tables, want %d", errSavedPolicy, len(b), 5*w/16*8)
	}
	sp.width = int(w)
	sp.words = make([]uint64, 5*w/16)
	for i := range sp.words {
		sp.words[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return sp, nil
}

// loadSalt sets the salt from the saved state in meta, if any decodes:
// Open calls it, before any lookup hashes a key. It reads 9 bytes.
func (p *policy) loadSalt(v []byte) {
	if len(v) >= 17 && v[0] == savedPolicyVersion {
		p.salt = binary.LittleEndian.Uint64(v[1:])
	}
}

// restore adds the saved counts to the ones the lookups since Open made,
// and puts the hand where it was; the writer calls it before its first
// transaction. A state saved under another salt is ignored.
func (p *policy) restore(sp *savedPolicy) {
	if sp.salt != p.salt {
		return
	}
	p.fit(int64(sp.width / 4))
	sk, uses := p.sketch.Load(), p.uses.Load()
	n := sp.width / 16
	for r, row := range sk.rows {
		row.merge(sp.words[r*n:(r+1)*n], 15)
	}
	uses.merge(sp.words[4*n:], maxNotedUses) // the saved counts are each at most that
	sk.added.Add(min(sp.added, sk.period())) // no more than a period: see age
	p.pos.hand = sp.hand
}

// merge adds saved, the words of a table of counters, to t, each counter
// saturating at limit; a t wider than saved takes each counter at every
// index that masks to it, as grow does.
func (t *nibbles) merge(saved []uint64, limit uint8) {
	for i := range t.w {
		s := saved[i%len(saved)]
		if s == 0 {
			continue
		}
		for {
			w := t.w[i].Load()
			if t.w[i].CompareAndSwap(w, addNibbles(w, s, limit)) {
				break
			}
		}
	}
}

// addNibbles adds the 16 4-bit counters of a and b, each saturating at
// limit (15 at most).
func addNibbles(a, b uint64, limit uint8) uint64 {
	var r uint64
	for shift := 0; shift < 64; shift += 4 {
		r |= min(a>>shift&0xf+b>>shift&0xf, uint64(limit)) << shift
	}
	return r
}

// savePolicy saves what the policy knows of use in the file (see
// keyPolicy); Close calls it once the writer is gone, and the writer every
// policySaveInterval. Failing is not losing data: it is logged, and the
// next Open learns again.
func (s *Store) savePolicy() {
	v := s.pol.marshal()
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyPolicy, v) })
	if err != nil {
		s.log.Warn("memostore: eviction state not saved; the next Open learns use again", "path", s.path, "err", err)
	}
}

// readSavedPolicy reads and decodes what savePolicy saved: nil if nothing.
func (s *Store) readSavedPolicy() (sp *savedPolicy, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyPolicy); v != nil {
			sp, err = parseSavedPolicy(v)
		}
		return err
	})
	return sp, err
}

// restorePolicy reads back what savePolicy saved; the writer calls it
// before its first transaction.
func (s *Store) restorePolicy() {
	sp, err := s.readSavedPolicy()
	if err != nil {
		s.log.Warn("memostore: saved eviction state ignored; use is learnt again", "path", s.path, "err", err)
		return
	}
	if sp != nil {
		s.pol.restore(sp)
	}
}
