package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDiskPolicy replays every trace of BenchmarkHitRatio, whole and (for
// the long ones) its first 200,000 requests as the disk tier replays it,
// at the same capacities, against the references (FIFO, LRU, otter,
// S3-FIFO; ARC is shown too) and simulated disk-tier policies (diskpolicy_test.go), each also
// restarted halfway (all it keeps in memory dropped). It prints a table per
// trace and checks the chosen policy, wDisk with a window starting at 20%
// and tuned by a guarded hill climber, its sketch aged every 20 × width/4
// increments (half as often as Caffeine), against
// issue 15's targets: never below FIFO; LRU + 2 points where FIFO and LRU
// differ by 1 point or more; the better of otter and S3-FIFO less 2 points.
// Where it is known to fall short (diskKnownShort), it must not fall
// shorter. Several minutes (p3 is 3.9 million requests): limit it to some
// traces with DISKPOLICY_TRACES=oltp,gli,...
func TestDiskPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("replays every trace: minutes")
	}
	rows := diskReplays(t)
	var b strings.Builder
	for i, r := range rows {
		if i == 0 || rows[i-1].trace != r.trace || rows[i-1].requests != r.requests {
			fmt.Fprintf(&b, "\n%s, %d requests: hit%%; restarted halfway after /\n%8s %6s %6s %6s %6s %6s", r.trace, r.requests, "cap", "fifo", "lru", "otter", "s3", "arc")
			for _, d := range candidates() {
				fmt.Fprintf(&b, " %15s", d.name)
			}
			fmt.Fprintf(&b, " %10s %10s %10s\n", "moves/hit", "steps/ev", "targets")
		}
		fmt.Fprintf(&b, "%8d %6.2f %6.2f %6.2f %6.2f %6.2f", r.capacity, r.ref["fifo"], r.ref["lru"], r.ref["otter"], r.ref["s3-fifo"], r.ref["arc"])
		for j := range candidates() {
			fmt.Fprintf(&b, " %6.2f / %6.2f", r.hit[j], r.restart[j])
		}
		st := r.st[0]
		var moves, steps float64
		if st.hits > 0 {
			moves = float64(st.moves) / float64(st.hits)
		}
		if st.evictions > 0 {
			steps = float64(st.steps) / float64(st.evictions)
		}
		fmt.Fprintf(&b, " %10.4f %10.2f %10s\n", moves, steps, r.verdict(r.hit[0]))
	}
	t.Log(b.String())

	b.Reset()
	b.WriteString("FIFO with reinsertion of an entry with at least h hits (one index write a move): hit% and moves per hit\n")
	for i, r := range rows {
		if i == 0 || rows[i-1].trace != r.trace || rows[i-1].requests != r.requests {
			fmt.Fprintf(&b, "\n%s, %d requests\n%8s", r.trace, r.requests, "cap")
			for _, h := range reinsertMinHits {
				fmt.Fprintf(&b, " %17s", fmt.Sprintf("h=%d", h))
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%8d", r.capacity)
		for _, st := range r.reins {
			moves := 0.0
			if st.hits > 0 {
				moves = float64(st.moves) / float64(st.hits)
			}
			fmt.Fprintf(&b, " %6.2f %10.4f", 100*float64(st.hits)/float64(r.requests), moves)
		}
		b.WriteString("\n")
	}
	t.Log(b.String())

	for _, r := range rows {
		short := r.shortfalls(r.hit[0])
		known := diskKnownShort[r.trace]
		for i, name := range diskTargets {
			if short[i] > known[i]+0.01 {
				t.Errorf("%s, %d requests, capacity %d: %s %.2f%% is %.2f points short of %s (known: %.2f)",
					r.trace, r.requests, r.capacity, diskCandidates[0].name, r.hit[0], short[i], name, known[i])
			}
		}
		if st := r.st[0]; st.moves != 0 {
			t.Errorf("%s at %d: %d moves, want none", r.trace, r.capacity, st.moves)
		}
	}
}

// diskCandidates are the simulated disk-tier policies replayed; the first
// is the chosen one, whose costs the table shows and the test checks: a
// 20% window to start with, tuned by Caffeine's hill climber guarded
// against noise (a change within 2 standard errors holds the window still;
// the first sample only sets the ratio to compare with) and, between its
// samples, by two ghosts of the keys that just lost a duel or were evicted
// from main, guarded by the hits a move costs, and by its hits (it shrinks
// when hit under 1/8 as often as main), as the store's
// (store/boltstore/evict.go). The second has the ghosts without the last
// rule: 2 to 4 points behind on gli (no key came back to a ghost there).
// The third starts at 1%, as Caffeine's does: better on gli at small
// capacities, a little below FIFO on Corda (see wDisk's steer). The fourth
// is the previous choice, the climber alone: 2 points behind otter on loop
// at 1,000 entries, up to 2 behind the steered window on OLTP and P3's
// prefix, whose climber samples are too long to take a step before the
// trace ends. The fifth steers unguarded, which loses 11 points on loop at
// 1,000 entries: its rejected keys come back a lap later, to a window that
// could never hold them. The sixth is the window fixed at 20%: 17 points
// behind otter on loop at 1,000 entries. caffeine-w1 is Caffeine's
// settings (a 1% window, the climber alone, aging every 10 × width/4):
// on P3's whole trace 3 points above the chosen policy at 25,000 and
// 50,000 entries (14.89%, 25.80%) and 2.2 below the better of otter and
// S3-FIFO less 2 at 100,000 (38.30%). The last grows the window when
// main is hit under half as often per entry (see wDisk's sparseMain):
// above FIFO on P3's prefix at 100,000 entries, first in, first out at
// 25,000 and 50,000.
var diskCandidates = []diskCandidate{
	{"w-tinylfu-disk", func(c int) diskCache {
		return newWDiskWith(c, 0.20, true, func(w *wDisk) { w.period, w.noise, w.skipFirst, w.steer, w.dense = 20, 2, true, true, 8 })
	}},
	{"ghosts-only", func(c int) diskCache {
		return newWDiskWith(c, 0.20, true, func(w *wDisk) { w.period, w.noise, w.skipFirst, w.steer = 20, 2, true, true })
	}},
	{"steer-w1", func(c int) diskCache {
		return newWDiskWith(c, 0.01, true, func(w *wDisk) { w.period, w.noise, w.skipFirst, w.steer = 20, 2, true, true })
	}},
	{"climber-only", func(c int) diskCache {
		return newWDiskWith(c, 0.20, true, func(w *wDisk) { w.period, w.noise, w.skipFirst = 20, 2, true })
	}},
	{"ungated-ghost", func(c int) diskCache {
		return newWDiskWith(c, 0.20, true, func(w *wDisk) { w.period, w.noise, w.skipFirst, w.steer, w.unguarded = 20, 2, true, true, true })
	}},
	{"w20%-fixed", func(c int) diskCache {
		return newWDiskWith(c, 0.20, false, func(w *wDisk) { w.period = 20 })
	}},
	{"s3-fifo-disk", func(c int) diskCache { return newS3Disk(c) }},
	{"clock-hand", func(c int) diskCache { return newClockDisk(c, 3) }},
	{"caffeine-w1", func(c int) diskCache {
		return newWDiskWith(c, 0.01, true, func(w *wDisk) { w.period, w.noise, w.skipFirst = 10, 2, true })
	}},
	{"sparse-main", func(c int) diskCache {
		return newWDiskWith(c, 0.20, true, func(w *wDisk) {
			w.period, w.noise, w.skipFirst, w.steer, w.dense, w.sparseMain = 20, 2, true, true, 8, 2
		})
	}},
}

var diskTargets = [3]string{"FIFO", "LRU + 2", "max(otter, S3-FIFO) - 2"}

// diskKnownShort is, by trace, the most the chosen policy falls short of
// each target (FIFO, LRU + 2, best - 2) at any capacity, whole or prefix, as
// measured: a regression is falling shorter. p3's: its prefix at 100,000
// entries 2.25 under FIFO; the whole trace 5.01 under LRU + 2 at 300,000
// entries and 2.70 under S3-FIFO less 2 at 100,000 (S3-FIFO and LRU replay
// alike every time). The others have room for otter's mean, which varies
// from run to run (by a point on gli, half a point on loop). p3's whole
// trace takes most of an hour with every reference and candidate:
// DISKPOLICY_TRACES=p3 DISKPOLICY_CANDIDATES=1 makes it shorter.
var diskKnownShort = map[string][3]float64{
	"p3":   {2.3, 5.1, 2.8},
	"gli":  {0, 1.5, 0.5}, // LRU + 2 at 2,000 is above the optimum, which it hits
	"loop": {0, 0, 0.8},
	"zipf": {0, 2.1, 0.3},
}

// candidates are diskCandidates, or their first DISKPOLICY_CANDIDATES.
func candidates() []diskCandidate {
	if n, err := strconv.Atoi(os.Getenv("DISKPOLICY_CANDIDATES")); err == nil && n > 0 && n < len(diskCandidates) {
		return diskCandidates[:n]
	}
	return diskCandidates
}

// A diskCandidate is a simulated disk-tier policy under test.
type diskCandidate struct {
	name string
	new  func(capacity int) diskCache
}

// diskRow is one replay of a trace, or of a prefix, at one capacity.
type diskRow struct {
	trace    string
	requests int
	capacity int
	ref      map[string]float64 // hit% of fifo, lru, otter, s3-fifo
	hit      []float64          // hit% of each candidate
	restart  []float64          // the same, restarted halfway
	st       []diskStats        // each candidate's costs, not restarted
	reins    []diskStats        // reinsertDisk's, by reinsertMinHits
}

// reinsertMinHits are the thresholds of the policies that write: FIFO with
// reinsertion (CLOCK as a queue), an entry moved if it has this many hits.
var reinsertMinHits = []uint8{1, 4, 16}

// replayDisk replays keys against c, restarting it before request
// restartAt if restartAt > 0, and returns its hit%.
func replayDisk(c diskCache, keys []uint64, restartAt int) float64 {
	for i, k := range keys {
		if i == restartAt && restartAt > 0 {
			c.restart()
		}
		c.request(k)
	}
	h, _ := c.counts()
	return 100 * float64(h) / float64(len(keys))
}

func diskReplays(t *testing.T) []diskRow {
	only := os.Getenv("DISKPOLICY_TRACES")
	var rows []diskRow
	for _, tr := range traces {
		if only != "" && !slices.Contains(strings.Split(only, ","), tr.name) {
			continue
		}
		keys, err := tr.load()
		if err != nil {
			t.Skipf("trace %s: %v (set MEMOSTORE_TRACES to the directory of the traces)", tr.name, err)
		}
		sets := [][]uint64{keys}
		if len(keys) > 200_000 {
			sets = append(sets, keys[:200_000])
			if os.Getenv("DISKPOLICY_PREFIX") != "" {
				sets = sets[1:]
			}
		}
		for _, ks := range sets {
			for _, capacity := range tr.caps {
				r := diskRow{trace: tr.name, requests: len(ks), capacity: capacity, ref: map[string]float64{}}
				for _, p := range policies[:4] {
					times := 1
					if p.random { // as BenchmarkHitRatio: the mean of several
						times = min(max(1_000_000/len(ks), 1), maxReplays)
					}
					var sum float64
					for range times {
						sum += replay(t, p.new(t, capacity), ks)
					}
					r.ref[p.name] = 100 * sum / float64(times)
				}
				r.ref["arc"] = 100 * replay(t, newARCRef(capacity), ks) // shown beside the others, not a target
				for _, d := range candidates() {
					c := d.new(capacity)
					r.hit = append(r.hit, replayDisk(c, ks, 0))
					r.st = append(r.st, *c.stats())
					r.restart = append(r.restart, replayDisk(d.new(capacity), ks, len(ks)/2))
				}
				for _, h := range reinsertMinHits {
					c := newReinsertDisk(capacity, h)
					replayDisk(c, ks, 0)
					r.reins = append(r.reins, *c.stats())
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// shortfalls returns by how many points hit% falls short of each target:
// FIFO; LRU + 2 where FIFO and LRU differ by 1 point or more; the better of
// otter and S3-FIFO less 2. Not short is 0 or less.
func (r diskRow) shortfalls(hit float64) [3]float64 {
	fifo, lru := r.ref["fifo"], r.ref["lru"]
	lruShort := 0.0
	if lru-fifo >= 1 || fifo-lru >= 1 {
		lruShort = lru + 2 - hit
	}
	return [3]float64{fifo - hit, lruShort, max(r.ref["otter"], r.ref["s3-fifo"]) - 2 - hit}
}

// verdict is "ok", or the targets missed: f (FIFO), l (LRU + 2), b (best - 2).
func (r diskRow) verdict(hit float64) string {
	var v string
	for i, s := range r.shortfalls(hit) {
		if s > 0.005 {
			v += "flb"[i : i+1]
		}
	}
	if v == "" {
		return "ok"
	}
	return "miss " + v
}
