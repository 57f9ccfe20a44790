package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store/driver"
	bolt "go.etcd.io/bbolt"
)

// evictEntry is the size of the entries these tests store: a 6-byte key
// and a record of 100 bytes of value.
func evictEntry() int64 {
	return int64(len(key("k00000")) + len(record("k00000", 0, 0, strings.Repeat("v", 100))))
}

// miss does what a memoized call does on a miss: a lookup that finds
// nothing, then a put.
func miss(t *testing.T, ns *Namespace, k string, at int64) {
	t.Helper()
	if f := lookup(t, ns, k); f.OK {
		t.Fatalf("%s found, want a miss", k)
	}
	put(t, ns, k, record(k, at, 0, strings.Repeat("v", 100)))
}

// reopenable returns a store path, a clock and a function that opens the
// store at path, bounded to entries entries, with namespace "n"; more
// options may be given.
func reopenable(t *testing.T, entries int64) (path string, clock *mtesting.FakeClock, open func(...Option) (*Store, *Namespace)) {
	clock, path = newFakeClock(), tempPath(t)
	return path, clock, func(opts ...Option) (*Store, *Namespace) {
		s := openStore(t, path, append([]Option{WithClock(clock), WithSweepInterval(0), WithMaxBytes(entries * evictEntry())}, opts...)...)
		return s, openNS(t, s, "n")
	}
}

// closedAfterMisses is reopenable, with the store opened, n keys missed
// (a00000, a00001, ...) and the store closed.
func closedAfterMisses(t *testing.T, entries int64, n int) (path string, clock *mtesting.FakeClock, open func(...Option) (*Store, *Namespace)) {
	path, clock, open = reopenable(t, entries)
	s, ns := open()
	missKeys(t, ns, clock, "a", n)
	closeStore(t, s)
	return path, clock, open
}

// missKeys misses n new keys, prefix and a number, one clock tick apart.
func missKeys(t *testing.T, ns *Namespace, clock *mtesting.FakeClock, prefix string, n int) {
	t.Helper()
	for i := range n {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("%s%05d", prefix, i), clock.Nanos())
	}
}

// TestEvictionKeepsWhatIsUsed: a key read on every call stays in a store
// bounded to 50 entries while 2,000 others come and go (first in, first
// out, it was evicted after 50).
func TestEvictionKeepsWhatIsUsed(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	miss(t, ns, "hot", clock.Nanos())
	for i := range 2000 {
		clock.Advance(1)
		if f := lookup(t, ns, "hot"); !f.OK {
			t.Fatalf("call %d: the key used on every call was evicted", i)
		}
		miss(t, ns, fmt.Sprintf("k%05d", i), clock.Nanos())
		if i%5 == 4 {
			flush(t, s)
		}
	}
	flush(t, s)
	if st := nsStats(t, s, "n"); st.Bytes > 50*evictEntry() || st.Evictions < 1900 {
		t.Errorf("stats %+v: want within 50 entries, and the others evicted", st)
	}
}

// TestEvictionResistsScan: keys used often survive a scan of keys used
// once (TinyLFU's admission); first in, first out, none did.
func TestEvictionResistsScan(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	hot := make([]string, 30)
	for i := range hot {
		hot[i] = fmt.Sprintf("h%05d", i)
		clock.Advance(1)
		miss(t, ns, hot[i], clock.Nanos())
	}
	flush(t, s)
	for range 5 {
		for _, k := range hot {
			lookup(t, ns, k)
		}
	}
	for i := range 1000 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("s%05d", i), clock.Nanos())
		if i%10 == 9 {
			flush(t, s)
		}
	}
	flush(t, s)
	kept := 0
	for _, k := range hot {
		if lookup(t, ns, k).OK {
			kept++
		}
	}
	if kept < 27 {
		t.Errorf("%d of the 30 keys used often survived a scan of 1,000 keys used once, want at least 27", kept)
	}
}

// TestEvictionNoWritePerHit: hits write nothing: 10,000 of them on a
// bounded store, then a Flush, write what a Flush alone writes.
func TestEvictionNoWritePerHit(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	for i := range 100 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("k%05d", i), clock.Nanos())
	}
	flush(t, s)
	start := s.db.Stats()
	flush(t, s) // what a Flush writes alone
	before := s.db.Stats()
	alone := before.TxStats.GetWrite() - start.TxStats.GetWrite()
	hits := 0
	for i := range 10_000 {
		if lookup(t, ns, fmt.Sprintf("k%05d", i%100)).OK {
			hits++
		}
	}
	flush(t, s)
	after := s.db.Stats()
	if hits < 5000 {
		t.Fatalf("%d hits, want at least half", hits)
	}
	if w := after.TxStats.GetWrite() - before.TxStats.GetWrite(); w != alone {
		t.Errorf("%d hits and a Flush made %d writes, a Flush alone %d; want no more", hits, w, alone)
	}
}

// TestEvictionAfterReopen: a reopened store, with the use counts it saved,
// keeps its bound, learns which keys are used now, and passes Check.
func TestEvictionAfterReopen(t *testing.T) {
	_, clock, open := closedAfterMisses(t, 50, 200)
	limit := 50 * evictEntry()
	s, ns := open()
	clock.Advance(1)
	miss(t, ns, "hot", clock.Nanos())
	for i := range 500 {
		clock.Advance(1)
		if !lookup(t, ns, "hot").OK {
			t.Fatalf("call %d after reopening: the key used on every call was evicted", i)
		}
		miss(t, ns, fmt.Sprintf("b%05d", i), clock.Nanos())
		if i%5 == 4 {
			flush(t, s)
		}
	}
	flush(t, s)
	if st := nsStats(t, s, "n"); st.Bytes > limit {
		t.Errorf("Bytes = %d, over the bound %d", st.Bytes, limit)
	}
	rep, err := s.Check(t.Context(), false, nil)
	if err != nil || !rep.OK() {
		t.Errorf("Check: %v %v", err, rep.Problems)
	}
}

// handScene opens a store bounded to 50 entries, misses m00000 to
// m00049 in it, one commit each, and hits the ten oldest once.
func handScene(t *testing.T) (*Store, *Namespace, *mtesting.FakeClock) {
	t.Helper()
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	for i := range 50 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("m%05d", i), clock.Nanos())
		flush(t, s)
	}
	for i := range 10 {
		if !lookup(t, ns, fmt.Sprintf("m%05d", i)).OK {
			t.Fatalf("m%05d evicted before the test began", i)
		}
	}
	return s, ns, clock
}

// admitFrequentWantSpared stores 30 keys, each looked up three times
// first (frequent: each wins its admission), and fails the test unless
// the ten oldest of handScene, hit since the hand last passed, stay.
func admitFrequentWantSpared(t *testing.T, s *Store, ns *Namespace, clock *mtesting.FakeClock) {
	t.Helper()
	for i := range 30 {
		k := fmt.Sprintf("c%05d", i)
		for range 3 {
			lookup(t, ns, k) // frequent: wins its admission
		}
		clock.Advance(1)
		miss(t, ns, k, clock.Nanos())
		flush(t, s)
	}
	for i := range 10 {
		if !lookup(t, ns, fmt.Sprintf("m%05d", i)).OK {
			t.Errorf("m%05d, hit since the hand last passed, was evicted", i)
		}
	}
}

// TestEvictionHandSparesRecentlyUsed: main's victims are the entries not
// hit since the hand last passed, oldest first, though they are as
// frequent as the ones hit: the ten oldest entries, hit once each, outlive
// twenty admissions of more frequent keys, which evict younger entries.
func TestEvictionHandSparesRecentlyUsed(t *testing.T) {
	s, ns, clock := handScene(t)
	admitFrequentWantSpared(t, s, ns, clock)
	if st := nsStats(t, s, "n"); st.Evictions < 30 {
		t.Errorf("%d evictions, want 30", st.Evictions)
	}
}

// TestEvictionWeighsCost: an expensive result outlives cheaper ones used
// more: keys looked up twice that cost 1 ms to compute do not push out
// keys looked up once that cost a second.
func TestEvictionWeighsCost(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	put := func(k string, cost time.Duration) {
		clock.Advance(1)
		rec := codec.Meta{StoredAt: clock.Nanos(), Cost: cost}.Record(key(k), codec.AppendString(nil, strings.Repeat("v", 100)))
		mtesting.Put(t, ns, k, rec)
		flush(t, s)
	}
	for i := range 50 {
		k := fmt.Sprintf("e%05d", i)
		lookup(t, ns, k)
		put(k, time.Second)
	}
	for i := range 100 {
		k := fmt.Sprintf("c%05d", i)
		lookup(t, ns, k)
		lookup(t, ns, k)
		put(k, time.Millisecond)
	}
	// The store holds 50: the window's ten (cheap keys, the newest) and
	// forty of the expensive ones (ten of which lost to the others as
	// they left the window).
	kept := 0
	for i := range 50 {
		if lookup(t, ns, fmt.Sprintf("e%05d", i)).OK {
			kept++
		}
	}
	if kept != 40 {
		t.Errorf("%d of the 50 results that cost a second survived 100 cheap ones used twice, want 40", kept)
	}
}

func TestCostClass(t *testing.T) {
	for _, tt := range []struct {
		cost time.Duration
		want uint64
	}{{0, 1}, {3 * time.Millisecond, 1}, {4 * time.Millisecond, 4}, {15 * time.Millisecond, 4}, {16 * time.Millisecond, 16},
		{time.Second, 1 << 8}, {100 * time.Hour, 1 << 28}, {10000 * time.Hour, 1 << 30}} {
		if got := costClass(tt.cost); got != tt.want {
			t.Errorf("costClass(%v) = %d, want %d", tt.cost, got, tt.want)
		}
	}
}

// TestEvictionWindowClimbs: on a loop of 110 keys through a store bounded
// to 100 entries, the climber shrinks the window, so that main keeps more
// of the loop: with the window fixed at 20% of the bound, about 80 of each
// 110 requests hit (73%); the test wants at least 80% over the last 20
// rounds (it measured 85%, and 71.7% with the window fixed).
func TestEvictionWindowClimbs(t *testing.T) {
	wantLoopHitRatio(t, 100, 110, 200, 20, 0, 0.80)
}

// wantLoopHitRatio replays rounds of a loop of keys through a new store
// bounded to entries entries, flushing after each put (every 0) or every
// every requests, and fails unless the last rounds hit at least want of
// the time.
func wantLoopHitRatio(t *testing.T, entries int64, keys, rounds, last, every int, want float64) {
	t.Helper()
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(entries*evictEntry()))
	ns := openNS(t, s, "n")
	hits, requests := 0, 0
	for r := range rounds {
		for i := range keys {
			k := fmt.Sprintf("k%05d", i)
			clock.Advance(1)
			ok := lookup(t, ns, k).OK
			if !ok {
				put(t, ns, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
			}
			if !ok && every == 0 || every > 0 && i%every == every-1 {
				flush(t, s)
			}
			if r >= rounds-last {
				requests++
				if ok {
					hits++
				}
			}
		}
	}
	if ratio := float64(hits) / float64(requests); ratio < want {
		t.Errorf("hit ratio %.1f%% over the last %d rounds of a loop of %d keys through %d entries, want at least %.0f%% (window %d bytes of %d)",
			100*ratio, last, keys, entries, 100*want, s.pol.climb.win, entries*evictEntry())
	}
}

// TestClimber checks the climber's rules: the first sample only sets the
// ratio to compare with; a change within noise holds the window still; a
// rise keeps the direction (down first), a fall turns it; a change of 5
// points or more restores the step to 1/16 of the bound; the window stays
// within [0, bound].
func TestClimber(t *testing.T) {
	const maxBytes = 16_000
	var c climber
	c.init(maxBytes)
	// Samples of 1,000 lookups: the bound holds 100 entries.
	sample := func(hits, n int64) (int64, bool) {
		c.lookups.Add(n)
		c.hits.Add(hits)
		return c.window(100)
	}
	if w, _ := c.window(100); w != 3200 {
		t.Fatalf("initial window %d, want 20%% of %d", w, maxBytes)
	}
	if w, _ := sample(100, 999); w != 3200 {
		t.Fatalf("an incomplete sample moved the window to %d", w)
	}
	if w, _ := sample(200, 1); w != 3200 || c.lookups.Load() != 0 || c.prevRate != 0.3 {
		t.Fatalf("the first sample moved the window to %d, or was not taken (%d lookups left, rate %v)", w, c.lookups.Load(), c.prevRate)
	}
	if w, _ := sample(310, 1000); w != 3200 {
		t.Fatalf("a change within noise (30%% to 31%% of 1,000) moved the window to %d", w)
	}
	w, shrunk := sample(400, 1000) // +10 points: down by 1/16
	if w != 3200-1000 || !shrunk {
		t.Fatalf("after a rise: window %d (shrunk %v), want %d", w, shrunk, 3200-1000)
	}
	w, shrunk = sample(460, 1000) // +6 points: down again, step back to 1/16
	if w != 2200-1000 || !shrunk {
		t.Fatalf("after a second rise: window %d, want %d", w, 2200-1000)
	}
	w, shrunk = sample(300, 1000) // -16 points: turn, up by 1/16
	if w != 1200+1000 || shrunk {
		t.Fatalf("after a fall: window %d (shrunk %v), want %d", w, shrunk, 1200+1000)
	}
	w, _ = sample(345, 1000) // +4.5 points, beyond noise: on up; the next step is 98%
	if w != 2200+1000 || c.step != 980 {
		t.Fatalf("after a small rise: window %d, next step %v, want %d and 980", w, c.step, 2200+1000)
	}
	for range 100 {
		sample(0, 1000)
		sample(1000, 1000)
	}
	if c.win < 0 || c.win > maxBytes {
		t.Fatalf("window %d outside [0, %d]", c.win, maxBytes)
	}
}

// boundedStore opens a store bounded to entries entries of evictEntry's
// size, on a fake clock, and a namespace in it, and returns them with use,
// which looks k up a tick later and, if it misses, stores it and flushes,
// reporting whether it hit.
func boundedStore(t *testing.T, entries int64) (*Store, *Namespace, func(k string) bool) {
	t.Helper()
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(entries*evictEntry()))
	ns := openNS(t, s, "n")
	return s, ns, func(k string) bool {
		clock.Advance(1)
		if lookup(t, ns, k).OK {
			return true
		}
		put(t, ns, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
		flush(t, s)
		return false
	}
}

// TestEvictionWindowSteers replays keys each used twice, the second time
// 24 new keys after the first: just beyond the 20 entries of the window a
// store bounded to 100 entries starts with, well within the bound. A
// second use only looks (one that missed and stored again would make the
// distance 48). Every second use hits under first in, first out; with the
// window at 20 none does (the key has left the window, and lost its duel
// to main's victim: frequencies tie). The climber needs 500 steps a sample
// (1,000 lookups) and takes until step 2,000 or so; the lookups of keys
// whose duel was just lost must grow the window within a few hundred.
func TestEvictionWindowSteers(t *testing.T) {
	s, ns, use := boundedStore(t, 100)
	const from, to, distance = 500, 1500, 24
	hits := 0
	for i := range to {
		use(fmt.Sprintf("k%05d", i))
		if i >= from && lookup(t, ns, fmt.Sprintf("k%05d", i-distance)).OK {
			hits++
		}
	}
	if ratio := float64(hits) / (to - from); ratio < 0.9 {
		t.Errorf("%.1f%% of the second uses hit from step %d to %d, want at least 90%% (window %d bytes of %d)",
			100*ratio, from, to, s.pol.climb.win, 100*evictEntry())
	}
}

// TestSteerer checks the steerer's rules: no move before 16 lookups of
// ghost keys; a move of 1/16 of the bound toward the ghost whose keys come
// back more, by more than two standard errors, if it gains more than the
// hits it costs; none otherwise, the counts kept until 320; a step down
// when the window is hit under 1/8 as often as main per byte, with 16
// hits expected at main's rate; each ghost remembers 1/16 of the entries
// held, a key counted once.
func TestSteerer(t *testing.T) {
	const maxBytes, holds = 16_000, 160 // ghosts of 10 keys
	var s steerer
	s.move(holds, 0, 0, maxBytes)
	for h := range uint64(20) {
		s.lost(h, true)      // rejected: 10 to 19 remembered
		s.lost(100+h, false) // evicted: 110 to 119
	}
	if s.missed(5); s.rejectedHits != 0 {
		t.Fatalf("a key pushed out of the ghost was counted")
	}
	for h := range uint64(10) {
		s.missed(10 + h)
		s.missed(10 + h) // taken at the first: counted once
	}
	if s.rejectedHits != 10 {
		t.Fatalf("rejected hits %d, want 10", s.rejectedHits)
	}
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 {
		t.Fatalf("moved %d after 10 ghost lookups", d)
	}
	for h := range uint64(6) {
		s.missed(110 + h)
	}
	// 10 against 6: within 2·sqrt(16).
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 || s.rejectedHits != 10 {
		t.Fatalf("moved %d on 10 against 6 (counts kept: %d)", d, s.rejectedHits)
	}
	s.rejectedHits, s.evictedHits = 30, 6
	// A step (1,000 bytes) would take 1/12 of main's bytes: 31 of its
	// 372 hits, more than the 30 it gains. (The window's 20 hits are more
	// than 1/8 of the 124 it would have had at main's rate: no thinning.)
	s.winHits.Store(20)
	s.mainHits.Store(372)
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 {
		t.Fatalf("grew by %d though it cost more of main's hits than it gained", d)
	}
	s.mainHits.Store(348) // 29 of them
	s.winHits.Store(20)
	if d := s.move(holds, 4000, 16_000, maxBytes); d != maxBytes/16 {
		t.Fatalf("moved %d on 30 against 6, want +%d", d, maxBytes/16)
	}
	if s.rejectedHits != 0 || s.winHits.Load() != 0 || s.mainHits.Load() != 0 {
		t.Fatalf("counts not restarted after a move")
	}
	s.rejectedHits, s.evictedHits = 6, 30
	s.winHits.Store(124) // a step is 1/4 of the window's bytes: 31 hits
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 {
		t.Fatalf("shrank by %d though it cost more of the window's hits than it gained", -d)
	}
	s.winHits.Store(116)
	if d := s.move(holds, 4000, 16_000, maxBytes); d != -maxBytes/16 {
		t.Fatalf("moved %d on 6 against 30, want -%d", d, maxBytes/16)
	}
	s.rejectedHits, s.evictedHits = 170, 150
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 || s.rejectedHits != 0 {
		t.Fatalf("moved %d on 170 against 150, or kept the counts past 320 (%d)", d, s.rejectedHits)
	}
	// Thinning: the window, a quarter of the bytes, would have had 20 hits
	// at main's rate (60 on three quarters); 3 are more than 1/8 of that.
	s.winHits.Store(3)
	s.mainHits.Store(60)
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 {
		t.Fatalf("thinned by %d with 3 hits against 20 at main's rate", -d)
	}
	s.winHits.Store(0)
	s.mainHits.Store(45) // 15 at main's rate: too few to judge
	if d := s.move(holds, 4000, 16_000, maxBytes); d != 0 {
		t.Fatalf("thinned by %d on 15 hits expected", -d)
	}
	s.mainHits.Store(60)
	if d := s.move(holds, 4000, 16_000, maxBytes); d != -maxBytes/16 || s.mainHits.Load() != 0 {
		t.Fatalf("moved %d with no hits against 20 at main's rate, want -%d and the counts restarted", d, maxBytes/16)
	}
	if n := len(s.rejected.in); n != 0 {
		t.Fatalf("rejected ghost still holds %d keys, all were taken", n)
	}
	if s.move(16, 0, 0, maxBytes); s.evicted.max != 1 {
		t.Fatalf("ghost of %d keys for 16 entries, want 1", s.evicted.max)
	}
}

// TestEvictionLoopInBatches replays a loop of twice as many keys as a store
// bounded to 500 entries holds, committing every 10 requests, as a busy
// store does. First in, first out hits nothing; a store that keeps a
// fixed half of the keys hits half the time. A window already at 0 that
// is told to shrink again must not let the batch's new entries into main
// unopposed: that flushed some of main at every commit, and the keys it
// flushed, coming back, told the window to shrink again (31% to 42% of
// requests hit in most runs).
func TestEvictionLoopInBatches(t *testing.T) {
	wantLoopHitRatio(t, 500, 1000, 60, 20, 10, 0.48)
}

// TestEvictionWindowThins replays 90 hot keys in turn, each followed by a
// key used once, through a store bounded to 100 entries: main, 80 entries
// while the window is 20, cannot hold the 90, and every hot key that does
// not fit loses its duel on the way out of the window (a tie with a key as
// hot). Nothing is ever hit in the window. It must shrink, well before the
// climber's first step (after 1,000 lookups at least), until main holds
// every hot key.
func TestEvictionWindowThins(t *testing.T) {
	s, _, use := boundedStore(t, 100)
	const hot, from, to = 90, 500, 1000
	hits := 0
	for i := range to {
		if use(fmt.Sprintf("h%05d", i%hot)) && i >= from {
			hits++
		}
		use(fmt.Sprintf("c%05d", i))
	}
	if ratio := float64(hits) / (to - from); ratio < 0.95 {
		t.Errorf("%.1f%% of the hot keys' uses hit from step %d to %d, want at least 95%% (window %d bytes of %d)",
			100*ratio, from, to, s.pol.climb.win, 100*evictEntry())
	}
}

// TestEvictionPolicySurvivesReopen: what the store learnt of use is saved
// at Close and read again at Open. 20 keys stored first and used on every
// round, among 500 keys used once, are the oldest of a store bounded to
// 100 entries when it closes; after reopening, 40 keys used once come in,
// and no key is looked up. A store that forgot its counts would start its
// hand at the oldest entries with none and evict the 20 used keys first;
// this one must keep them all.
func TestEvictionPolicySurvivesReopen(t *testing.T) {
	_, clock, open := reopenable(t, 100)
	limit := 100 * evictEntry()
	s, ns := open()
	for i := range 20 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("hot%02d", i), clock.Nanos())
	}
	for i := range 500 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("a%05d", i), clock.Nanos())
		if i%5 == 4 {
			for j := range 20 {
				if !lookup(t, ns, fmt.Sprintf("hot%02d", j)).OK {
					t.Fatalf("hot%02d evicted before the reopen", j)
				}
			}
			flush(t, s)
		}
	}
	closeStore(t, s)

	s, ns = open()
	for i := range 40 {
		clock.Advance(1)
		miss(t, ns, fmt.Sprintf("b%05d", i), clock.Nanos())
		flush(t, s)
	}
	var lost []string
	for j := range 20 {
		if k := fmt.Sprintf("hot%02d", j); !lookup(t, ns, k).OK {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		t.Errorf("after reopening, 40 keys used once evicted %d of the 20 keys used on every round: %v", len(lost), lost)
	}
	if st := nsStats(t, s, "n"); st.Bytes > limit {
		t.Errorf("Bytes = %d, over the bound %d", st.Bytes, limit)
	}
}

// TestEvictionSavedPolicyDamaged: a saved eviction state that does not
// decode (cut short here) is ignored with a warning: Open works, and the
// store keeps its bound and learns use again.
func TestEvictionSavedPolicyDamaged(t *testing.T) {
	path, clock, open := closedAfterMisses(t, 50, 100)
	limit := 50 * evictEntry()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		v := m.Get(keyPolicy)
		if len(v) < 100 {
			return fmt.Errorf("saved state of %d bytes, want more", len(v))
		}
		return m.Put(keyPolicy, bytes.Clone(v[:len(v)-8]))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	logOpt, logs := captureLog()
	s, ns := open(logOpt)
	missKeys(t, ns, clock, "b", 100)
	flush(t, s)
	if !strings.Contains(logs.String(), "saved eviction state ignored") {
		t.Errorf("no warning of the damaged state; log:\n%s", logs.String())
	}
	if st := nsStats(t, s, "n"); st.Bytes > limit || st.Entries == 0 {
		t.Errorf("%d entries, %d bytes: want some, within the bound %d", st.Entries, st.Bytes, limit)
	}
}

// TestAddNibbles: restoring saved counts adds them counter by counter,
// each saturating at 15, none carrying into its neighbour.
func TestAddNibbles(t *testing.T) {
	for _, c := range []struct {
		a, b  uint64
		limit uint8
		want  uint64
	}{
		{0, 0, 15, 0},
		{0x1, 0x2, 15, 0x3},
		{0xf, 0x1, 15, 0xf},    // saturates, no carry
		{0x8f, 0x81, 15, 0xff}, // 8+8 saturates too
		{0xffffffffffffffff, 0x1111111111111111, 15, 0xffffffffffffffff},
		{0x0123456789abcdef, 0x1111111111111111, 15, 0x123456789abcdeff},
		{0x0123, 0x1111, 3, 0x1233}, // the use table's limit
		{0x0, 0xf0f, 3, 0x303},
	} {
		if got := addNibbles(c.a, c.b, c.limit); got != c.want {
			t.Errorf("addNibbles(%#x, %#x, %d) = %#x, want %#x", c.a, c.b, c.limit, got, c.want)
		}
	}
}

// savingOften opens a store bounded to 50 entries whose writer saves the
// eviction state every 10ms while it changes, and misses 100 keys in it
// (a00000 to a00099), committed.
func savingOften(t *testing.T) (*Store, *Namespace, *mtesting.FakeClock) {
	t.Helper()
	d := policySaveInterval
	t.Cleanup(func() { policySaveInterval = d })
	policySaveInterval = 10 * time.Millisecond
	_, clock, open := reopenable(t, 50)
	s, ns := open()
	missKeys(t, ns, clock, "a", 100)
	flush(t, s)
	return s, ns, clock
}

// TestEvictionPolicySavedWhileOpen: the writer saves the eviction state
// every policySaveInterval while it changes, not only at Close, so that a
// process that ends without Close leaves a recent one.
func TestEvictionPolicySavedWhileOpen(t *testing.T) {
	s, _, _ := savingOften(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sp, err := s.readSavedPolicy()
		if err != nil {
			t.Fatal(err)
		}
		if sp != nil {
			if sp.salt != s.pol.salt {
				t.Fatalf("saved under salt %x, the store's is %x", sp.salt, s.pol.salt)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no eviction state saved in 5s with the store open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEvictionPolicySavedAfterEvictions: evictions alone (puts with no
// lookup: memo's Set) spend use counts as the hand passes, and the
// writer's periodic save must keep up with them too, not only with
// lookups: before, it saved only once the sketch's additions changed.
func TestEvictionPolicySavedAfterEvictions(t *testing.T) {
	s, ns, clock := savingOften(t)
	// A hit each for the keys kept (main's share from a00000, the window
	// the newest): use counts for the hand to spend. They come after the
	// commit of the misses, whose evictions would spend them at once.
	for i := range 100 {
		lookup(t, ns, fmt.Sprintf("a%05d", i))
	}
	flush(t, s)
	saved := func() *savedPolicy {
		sp, err := s.readSavedPolicy()
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	adds := s.pol.sketch.Load().added.Load()
	var before *savedPolicy
	for deadline := time.Now().Add(5 * time.Second); before == nil || before.added != adds; before = saved() {
		if time.Now().After(deadline) {
			t.Fatal("the lookups' state not saved in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 100 {
		clock.Advance(1)
		k := fmt.Sprintf("b%05d", i)
		put(t, ns, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
	}
	flush(t, s)
	if a := s.pol.sketch.Load().added.Load(); a != adds {
		t.Fatalf("puts with no lookup made %d additions to the sketch; the test needs none", a-adds)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		after := saved()
		// The use counts spent, or the hand moved; not both always: a
		// hand that spent every count comes back to where it was.
		if !slices.Equal(after.words, before.words) || !bytes.Equal(after.hand, before.hand) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("100 evictions with no lookup, and the state saved 5s later has the hand %q and the use counts of before them", after.hand)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settlerTier is a memory tier that counts the store's calls of
// SettleHits (driver.HitSettler).
type settlerTier struct {
	testTier
	settled atomic.Int64
}

func (t *settlerTier) SettleHits() { t.settled.Add(1) }

// TestEvictionSettlesTierHits checks that a bounded store asks the memory
// tier attached to a namespace to settle the hits it has not noted yet
// (driver.HitSettler: the front of memo's LRU tier, which never tells
// of its hits until another entry takes its place) while it is open, and
// once more at Close, before it saves its eviction state.
func TestEvictionSettlesTierHits(t *testing.T) {
	s := openStore(t, tempPath(t), WithMaxBytes(1<<20), quiet())
	tier := &settlerTier{}
	openNS(t, s, "f").Attach(tier)
	for deadline := time.Now().Add(5 * time.Second); tier.settled.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	n := tier.settled.Load()
	if n == 0 {
		t.Fatal("SettleHits not called in 5s with the store open")
	}
	closeStore(t, s)
	if tier.settled.Load() == n {
		t.Error("Close did not call SettleHits")
	}
}

// TestSketchAgesBacklogOnce: additions far beyond an aging period (a
// burst of notes of memory-tier hits) age the counts once, not once a
// transaction until the backlog is spent, which took every count to 0
// and the duel with it.
func TestSketchAgesBacklogOnce(t *testing.T) {
	p := newPolicy(0, 1<<20)
	sk := p.sketch.Load()
	h := p.hash(&space{polHash: 1}, []byte("k"))
	sk.addN(h, 1_000_000) // counts 15, and a million additions
	sk.age()
	if got := sk.estimate(h); got != 7 {
		t.Fatalf("estimate %d after one aging, want 7", got)
	}
	for range 10 { // ten transactions, no addition
		sk.age()
	}
	if got := sk.estimate(h); got != 7 {
		t.Errorf("estimate %d after ten more transactions without additions, want 7: aged again", got)
	}
	if a := sk.added.Load(); a > agingPeriod*int64(sk.width())/4 {
		t.Errorf("%d additions pending after aging, more than a period", a)
	}
}

// TestRestoreClampsSavedState: a saved state that decodes but holds more
// than the store would have saved (damaged, or written by a bug) is taken
// within bounds: its additions at most a period, so that the count of
// additions neither wraps (aging would stop) nor forces aging on and on;
// its use counts at most maxNotedUses (what a note of memory-tier hits
// gives), each added to the live one.
func TestRestoreClampsSavedState(t *testing.T) {
	p := newPolicy(0, 1<<20)
	h := p.hash(&space{polHash: 1}, []byte("k"))
	p.sketch.Load().added.Add(10)      // lookups since Open
	p.uses.Load().incBy(h, 2, maxUses) // hits since Open
	w := 4 * minSketchEntries
	sp := &savedPolicy{salt: p.salt, added: math.MaxInt64, width: w, words: make([]uint64, 5*w/16)}
	for i := range sp.words {
		sp.words[i] = math.MaxUint64 // every counter at 15
	}
	p.restore(sp)
	sk := p.sketch.Load()
	if a, period := sk.added.Load(), agingPeriod*int64(sk.width())/4; a < 10 || a > period+10 {
		t.Errorf("%d additions after restore, want the 10 since Open and at most a period more (%d)", a, period)
	}
	if u := p.uses.Load().get(h); u != maxNotedUses {
		t.Errorf("use count %d after restore, want %d", u, maxNotedUses)
	}
}

// TestEvictionFillsMainFirst: a store that goes from empty to over its
// bound in one transaction (a burst of writes while the writer was busy)
// must still fill main to its share before it duels: before, every entry
// past the window's share was a candidate, main was empty, and the store
// evicted first in, first out from then on. 100 misses in one
// transaction on a store of 50 entries; the keys are hit twice more;
// a scan of 100 keys used once must leave 30 of them at least (main's
// share is 40): it left none.
func TestEvictionFillsMainFirst(t *testing.T) {
	_, clock, open := reopenable(t, 50)
	s, ns := open()
	resume := holdWriter(t, s)
	missKeys(t, ns, clock, "a", 100)
	resume()
	flush(t, s)
	for i := range 100 { // two memory-tier hits each: no lookup of an evicted key, which would steer the window
		ns.NoteUse(key(fmt.Sprintf("a%05d", i)), 2)
	}
	missKeys(t, ns, clock, "b", 100)
	flush(t, s)
	kept := 0
	for i := range 100 {
		if lookup(t, ns, fmt.Sprintf("a%05d", i)).OK {
			kept++
		}
	}
	if kept < 30 {
		t.Errorf("%d keys hit three times kept after a scan of 100 keys used once, want 30 at least", kept)
	}
}

// TestTakeoverKeepsFollowerUses: a follower adds up its memory tier's hits
// by key and tells the holder every second (sendCounts). If the holder
// goes in between and the follower takes the file over, the hits it had
// not told yet go to its own eviction, as its other counts go to its own
// counters: before, they were dropped.
func TestTakeoverKeepsFollowerUses(t *testing.T) {
	path := filepath.Join(shortDir(t), "uses.db")
	o := DefaultOptions()
	o.Logger, o.Clock, o.LockTimeout, o.SweepInterval, o.MaxBytes = slog.New(slog.DiscardHandler), expiry.SystemClock{}, 5*time.Second, 0, 1<<20
	holder, err := OpenShared(path, o)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenShared(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if !f.Following() {
		t.Fatal("the second opener holds the file")
	}
	ctx := context.Background()
	dn, err := f.Namespace(ctx, "n", driver.NamespaceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	sn := dn.(*sharedNS)
	// Fewer keys than a batch: told with the next report, a second away.
	for i := range 10 {
		sn.NoteUse([]byte(fmt.Sprintf("k%d", i)), 3)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); f.Following(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not take the file over in 10s")
		}
	}
	// Hits noted after the takeover, before the namespace is next used
	// (which binds it to this process's store), count too.
	for i := 10; i < 20; i++ {
		sn.NoteUse([]byte(fmt.Sprintf("k%d", i)), 3)
	}
	hns, _, err := sn.backend(ctx)
	if err != nil || hns == nil {
		t.Fatalf("the namespace after the takeover: %v, %v", hns, err)
	}
	st, _, _ := f.current()
	for i := range 20 {
		k := []byte(fmt.Sprintf("k%d", i))
		if u := st.pol.uses.Load().get(st.pol.hash(hns.sp, k)); u == 0 {
			t.Errorf("%s: use count 0 after the takeover; the follower had noted 3 hits", k)
		}
	}
}

// realWindow returns the bytes of the entries whose age index key is at
// or after the policy's b (the window as the file holds it), and the
// policy's winBytes, read with the writer idle.
func realWindow(t *testing.T, s *Store) (real, counted int64) {
	t.Helper()
	s.mu.RLock()
	b := bytes.Clone(s.pol.pos.b)
	counted = s.pol.pos.winBytes
	var spaces []*space
	for _, sp := range s.spaces {
		spaces = append(spaces, sp)
	}
	s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, sp := range spaces {
			a, d := tx.Bucket(sp.ageName), tx.Bucket(sp.dataName)
			if a == nil || d == nil {
				continue
			}
			c := a.Cursor()
			for k, _ := c.Seek(b); k != nil; k, _ = c.Next() {
				_, key, err := expiry.ParseIndexKey(k)
				if err != nil {
					continue
				}
				if rec := d.Get(key); rec != nil {
					real += int64(len(key) + len(rec))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return real, counted
}

// TestClearKeepsWindowBytes: Clear of a namespace deletes its entries,
// those in the window too, and the window's count of bytes must lose
// them: it kept them, and the next puts found the window over its share
// and pushed the other namespaces' newest entries into main, where the
// hand may evict them unopposed (10 of 15 left in the window, of 20).
func TestClearKeepsWindowBytes(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, tempPath(t), WithClock(clock), WithSweepInterval(0), WithMaxBytes(100*evictEntry()))
	a, b := openNS(t, s, "a"), openNS(t, s, "b")
	for i := range 10 {
		clock.Advance(1)
		k := fmt.Sprintf("a%05d", i)
		put(t, a, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
		clock.Advance(1)
		k = fmt.Sprintf("b%05d", i)
		put(t, b, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
	}
	flush(t, s)
	if real, counted := realWindow(t, s); real != counted {
		t.Fatalf("before Clear: window holds %d bytes, winBytes %d", real, counted)
	}
	if err := a.Clear(t.Context()); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if real, counted := realWindow(t, s); real != counted {
		t.Errorf("after Clear of a: window holds %d bytes, winBytes counts %d", real, counted)
	}
	// 20 entries' share; b's 10 and 5 more fit in it.
	for i := 10; i < 15; i++ {
		clock.Advance(1)
		k := fmt.Sprintf("b%05d", i)
		put(t, b, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
	}
	flush(t, s)
	if real, _ := realWindow(t, s); real != 15*evictEntry() {
		t.Errorf("window holds %d entries of b's 15, all within its share of 20", real/evictEntry())
	}
}

// TestFailedCommitKeepsUses: a transaction whose commit fails after its
// eviction ran (as a full disk fails bbolt's Commit, after applyBatch)
// leaves the hand where it was, as the policy's position is installed
// only on commit; the use counts its victim search took off the entries
// it passed must stay too. They were spent on the shared table at once,
// the retry's search found those entries unused, and the ten oldest, hit
// since the hand last passed, were evicted (as
// TestEvictionHandSparesRecentlyUsed says they are not).
func TestFailedCommitKeepsUses(t *testing.T) {
	s, ns, clock := handScene(t)
	// One batch: a put that takes the store over its bound, and a commit
	// that fails once its eviction has run.
	resume := holdWriter(t, s)
	clock.Advance(1)
	miss(t, ns, "x00000", clock.Nanos())
	failed := false
	release, err := s.hold()
	if err != nil {
		t.Fatal(err)
	}
	o := &op{kind: opFunc, fn: func(tx *bolt.Tx, st *txState) error {
		if failed {
			return nil
		}
		failed = true
		if err := st.evict(tx, s.opts.MaxBytes, evictBatch+2); err != nil {
			return err
		}
		return errNoSpace // the commit fails after the eviction
	}}
	if err := s.enqueue(t.Context(), o, release); err != nil {
		t.Fatal(err)
	}
	resume()
	// The Flush fails with the batch it joined; the retry commits.
	for range 50 {
		if s.Flush(t.Context()) == nil {
			break
		}
	}
	flush(t, s)
	if !failed {
		t.Fatal("the failing transaction did not run")
	}
	admitFrequentWantSpared(t, s, ns, clock)
}

// TestAcquireNotesOneLookup: with another process connected, Acquire of a
// missing key looks it up, claims it, and looks it up again, in case the
// value came meanwhile; it is still one request, and eviction must hear
// of one lookup. Each look was noted: a miss added 2 to the key's
// frequency where a hit adds 1, and 2 lookups to the climber's sample.
// The same through a follower's session (OpAcquire).
func TestAcquireNotesOneLookup(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "acq.db")
	s := openStore(t, path, WithSweepInterval(0), WithMaxBytes(50*evictEntry()))
	ns := openNS(t, s, "n")
	c, err := control.Dial(ctx, path) // another process, connected
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, _ := json.Marshal(spec("1"))
	if _, err := c.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: data}, time.Second); err != nil {
		t.Fatal(err)
	}
	noted := func(k []byte, lookups int64) {
		t.Helper()
		if f := s.pol.sketch.Load().estimate(s.pol.hash(ns.sp, k)); f != 1 {
			t.Errorf("%q: one miss noted as frequency %d, want 1", k, f)
		}
		if n := s.pol.climb.lookups.Load(); n != lookups {
			t.Errorf("%q: %d lookups counted in all, want %d", k, n, lookups)
		}
	}

	k := key("k00000")
	found, release, err := ns.Acquire(ctx, k, func([]byte, codec.Header) error { return nil })
	if err != nil || found {
		t.Fatalf("Acquire = %v, %v", found, err)
	}
	release()
	noted(k, 1)

	k = key("k00001")
	r, err := c.Call(ctx, &control.Msg{Op: control.OpAcquire, NS: "n", Key: k, Now: time.Now().UnixNano(), N: int64(time.Second)}, time.Second)
	if err != nil || r.Flag || r.N == 0 {
		t.Fatalf("OpAcquire: found %v, token %d, %v", r.Flag, r.N, err)
	}
	noted(k, 2)
}

// TestNotedHitsOutlastSweeps: a key the memory tier serves is told of in
// notes of 64 hits each (past its 64th), far apart where the store's own
// hits come one at a time; between two notes the key must outlast the
// hand's sweeps. A store of 100 entries serves a Zipf stream over 10,000
// keys (each request a lookup, and a put when it misses); a key stored
// first is noted hit 64 times every 1,000 requests, with a reopen halfway,
// just after a note (the counts it gave must be saved and read back as
// they were: capped at 3 by the reopen, the key was evicted too). With a note's
// use count capped at 3, as a lookup's hits are, the key was evicted
// between two notes.
func TestNotedHitsOutlastSweeps(t *testing.T) {
	_, clock, open := reopenable(t, 100)
	s, ns := open()
	clock.Advance(1)
	miss(t, ns, "hot", clock.Nanos())
	ns.NoteUse(key("hot"), 64)
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 10, 10_000)
	for half := range 2 {
		for i := range 5_000 {
			k := fmt.Sprintf("z%05d", z.Uint64())
			if !lookup(t, ns, k).OK {
				clock.Advance(1)
				put(t, ns, k, record(k, clock.Nanos(), 0, strings.Repeat("v", 100)))
			}
			if i%1000 == 999 { // the last of the first half just before the reopen
				flush(t, s)
				ns.NoteUse(key("hot"), 64)
			}
		}
		flush(t, s)
		if half == 0 {
			closeStore(t, s)
			s, ns = open()
			if u := s.pol.uses.Load().get(s.pol.hash(ns.sp, key("hot"))); u != maxNotedUses {
				t.Errorf("use count %d after the reopen, want the %d the note gave", u, maxNotedUses)
			}
		}
	}
	if st := nsStats(t, s, "n"); st.Evictions < 1000 {
		t.Fatalf("%d evictions: the store did not turn over", st.Evictions)
	}
	if !lookup(t, ns, "hot").OK {
		t.Error("the key noted hit 64 times every 1,000 requests was evicted")
	}
}
