package boltstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A diskFault makes the store's commits fail, through the failCommit seam,
// as a full disk would, while it is on.
type diskFault struct {
	on       atomic.Bool
	rate     atomic.Int64 // percentage of commits that fail while on; 0 means all
	attempts atomic.Int64 // commits tried
	failures atomic.Int64 // commits failed at their start
	late     atomic.Int64 // commits failed by a lateFailure
	mu       sync.Mutex
	r        *rand.Rand
}

// errNoSpace is what a commit on a full disk fails with.
var errNoSpace = fmt.Errorf("write %s: %w", "cache.db", syscall.ENOSPC)

// injectFaults installs a diskFault in s. It must be called before s
// commits anything: the writer reads failCommit without a lock.
func injectFaults(s *Store) *diskFault {
	f := &diskFault{r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))}
	s.mu.Lock()
	s.failCommit = f.commit
	s.mu.Unlock()
	return f
}

func (f *diskFault) commit() error {
	f.attempts.Add(1)
	if !f.on.Load() {
		return nil
	}
	if rate := f.rate.Load(); rate > 0 {
		f.mu.Lock()
		pass := f.r.Int64N(100) >= rate
		f.mu.Unlock()
		if pass {
			return nil
		}
	}
	f.failures.Add(1)
	return errNoSpace
}

// lateFailure returns an op that, while f is on, fails one in ten of the
// transactions that apply it, at the point where it is applied, as a
// write error in the middle of a commit would.
func (f *diskFault) lateFailure() *op {
	return &op{kind: opFunc, fn: func(*bolt.Tx, *txState) error {
		if !f.on.Load() {
			return nil
		}
		f.mu.Lock()
		fail := f.r.IntN(10) == 0
		f.mu.Unlock()
		if fail {
			f.late.Add(1)
			return errNoSpace
		}
		return nil
	}}
}

// wantCheckOK fails the test unless Check finds s's file consistent.
func wantCheckOK(tb testing.TB, s *Store, when string) {
	tb.Helper()
	rep, err := s.Check(context.Background(), false, nil)
	if err != nil {
		tb.Fatalf("Check %s: %v", when, err)
	}
	if !rep.OK() {
		tb.Fatalf("Check %s found %d problems:\n%s", when, len(rep.Problems), strings.Join(rep.Problems, "\n"))
	}
}

// TestFailingCommits: while every commit fails, writes still succeed for
// their callers and stay readable from the queue; each failed write is
// counted once and the failure logged; the writer retries with back-off,
// neither spinning nor giving up; the file stays consistent. When commits
// work again the writer catches up by itself, and everything lands.
func TestFailingCommits(t *testing.T) {
	logOpt, log := captureLog()
	path := tempPath(t)
	s := openStore(t, path, logOpt)
	fault := injectFaults(s)
	ns := openNS(t, s, "n")
	const before, during = 20, 100
	for i := range before {
		put(t, ns, fmt.Sprint("b", i), record(fmt.Sprint("b", i), int64(i+1), 0, fmt.Sprint("before ", i)))
	}
	flush(t, s)

	fault.on.Store(true)
	for i := range during {
		put(t, ns, fmt.Sprint("d", i), record(fmt.Sprint("d", i), int64(i+1), 0, fmt.Sprint("during ", i)))
	}
	if err := s.Flush(context.Background()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush while commits fail = %v, want ENOSPC", err)
	}
	for i := range during {
		wantValue(t, ns, fmt.Sprint("d", i), fmt.Sprint("during ", i))
	}
	if st := nsStats(t, s, "n"); st.WriteErrors != during || st.Entries != before {
		t.Errorf("while commits fail: %d write errors, %d entries; want %d (one per failed write, however often retried) and %d",
			st.WriteErrors, st.Entries, during, before)
	}
	if l := log.String(); !strings.Contains(l, "commit failed") || !strings.Contains(l, "no space left on device") {
		t.Errorf("log = %q, want the failed commits reported", l)
	}

	// Back-off: a few tries a second. Nothing here wakes the writer early.
	a0 := fault.attempts.Load()
	time.Sleep(1500 * time.Millisecond)
	if n := fault.attempts.Load() - a0; n < 2 || n > 20 {
		t.Errorf("the writer tried %d commits in 1.5s of failures; want back-off, between 2 and 20", n)
	}
	if st := s.stats(); st.Queued < during {
		t.Errorf("%d writes queued while commits fail, want the %d failed ones kept", st.Queued, during)
	}
	wantCheckOK(t, s, "while commits fail")
	if st := nsStats(t, s, "n"); st.Entries != before {
		t.Errorf("Entries = %d while commits fail, want %d", st.Entries, before)
	}

	// The disk has room again: no Flush, the writer resumes on its own.
	fault.on.Store(false)
	deadline := time.Now().Add(3 * time.Second)
	for s.stats().Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("3s after commits work again, %d writes are still queued", s.stats().Queued)
		}
		time.Sleep(5 * time.Millisecond)
	}
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.Entries != before+during || st.Writes != before+during || st.WriteErrors != during {
		t.Errorf("after recovery: %+v; want %d entries and writes, %d write errors", st, before+during, during)
	}
	wantCheckOK(t, s, "after recovery")
	closeStore(t, s)

	s = openStore(t, path)
	ns = openNS(t, s, "n")
	for i := range during {
		wantValue(t, ns, fmt.Sprint("d", i), fmt.Sprint("during ", i))
	}
	if st := nsStats(t, s, "n"); st.WriteErrors != during {
		t.Errorf("after reopening: %d write errors persisted, want %d", st.WriteErrors, during)
	}
}

// TestFailingCommitsQueueBudget: while commits fail the queue fills to its
// budget and then refuses writes at once (counted), rather than growing or
// blocking; what it accepted lands when commits work again.
func TestFailingCommitsQueueBudget(t *testing.T) {
	const budget = 4 << 10
	s := openStore(t, tempPath(t), WithQueueBytes(budget))
	fault := injectFaults(s)
	ns := openNS(t, s, "n")
	fault.on.Store(true)
	// Let a commit fail first: a Put that found the queue full before any
	// commit failed waits instead (TestQueueFullWhenCommitsStartFailing).
	put(t, ns, "first", record("first", 1, 0, "v"))
	if err := s.Flush(context.Background()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush = %v, want ENOSPC", err)
	}
	accepted, refused := 1, 0
	for i := 0; refused < 10; i++ {
		start := time.Now()
		err := ns.Put(context.Background(), key(fmt.Sprint(i)), record(fmt.Sprint(i), int64(i+1), 0, strings.Repeat("v", 200)))
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Put %d took %v while commits fail", i, d)
		}
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, syscall.ENOSPC):
			refused++
		default:
			t.Fatalf("Put %d = %v, want nil or a refusal wrapping the commit error", i, err)
		}
		if q := s.stats().QueuedBytes; q > budget {
			t.Fatalf("%d bytes queued, over the budget of %d", q, budget)
		}
		if i > 1000 {
			t.Fatal("the queue never refused a write while commits failed")
		}
	}
	if accepted == 0 {
		t.Fatal("no write accepted")
	}
	fault.on.Store(false)
	flush(t, s)
	st := nsStats(t, s, "n")
	// Every refused write is counted, and so is every accepted one that
	// was in a failed commit: at least the first.
	if st.Entries != int64(accepted) || st.WriteErrors <= int64(refused) || st.WriteErrors > int64(accepted+refused) {
		t.Errorf("after recovery: %d entries, %d write errors; want %d entries, %d to %d errors",
			st.Entries, st.WriteErrors, accepted, refused+1, accepted+refused)
	}
	wantCheckOK(t, s, "after recovery")
}

// TestIntermittentCommitFailures: with a third of commits failing, writers,
// deleters and readers run concurrently; afterwards the counters agree with
// the data, the file passes Check, and every key holds its last write.
func TestIntermittentCommitFailures(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	fault := injectFaults(s)
	spaces := []*Namespace{openNS(t, s, "a"), openNS(t, s, "b")}
	fault.rate.Store(35)
	fault.on.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	const writers, keys = 8, 40
	last := make([][keys]string, writers) // per writer: its keys' last value, "" = deleted
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 1; ctx.Err() == nil; i++ {
				k := r.IntN(keys)
				name := fmt.Sprintf("g%d-k%d", g, k)
				ns := spaces[k%2]
				var err error
				switch n := r.IntN(40); {
				case n < 24:
					v := fmt.Sprintf("%s-v%d-%s", name, i, strings.Repeat("x", r.IntN(300)))
					if err = ns.Put(ctx, key(name), record(name, int64(i), 0, v)); err == nil {
						last[g][k] = v
					}
				case n < 32:
					if err = ns.Delete(ctx, key(name)); err == nil {
						last[g][k] = ""
					}
				case n < 37:
					want := last[g][k]
					f := lookup(t, ns, name)
					if want == "" && f.OK || want != "" && !f.OK {
						t.Errorf("Lookup(%s) = %v, want present=%v (read-your-writes while commits fail)", name, f.OK, want != "")
					}
				case n < 38:
					// A commit that fails late, after the batch's puts and
					// deletes were applied: what they did in memory must
					// be rolled back with the transaction.
					err = s.enqueue(ctx, fault.lateFailure(), func() {})
				default:
					if err := s.Flush(ctx); err != nil && !errors.Is(err, syscall.ENOSPC) && ctx.Err() == nil {
						t.Errorf("Flush: %v", err)
					}
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("write %s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	failed := fault.failures.Load() + fault.late.Load()
	if fault.failures.Load() == 0 || fault.late.Load() == 0 || failed >= fault.attempts.Load() {
		t.Fatalf("%d of %d commits failed at their start, %d late: the test wants some of each, and some commits", fault.failures.Load(), fault.attempts.Load(), fault.late.Load())
	}
	fault.on.Store(false)
	flush(t, s)
	wantCheckOK(t, s, "after intermittent failures")
	closeStore(t, s)

	s = openStore(t, path)
	spaces = []*Namespace{openNS(t, s, "a"), openNS(t, s, "b")}
	for g := range writers {
		for k := range keys {
			name := fmt.Sprintf("g%d-k%d", g, k)
			if v := last[g][k]; v == "" {
				wantMiss(t, spaces[k%2], name)
			} else {
				wantValue(t, spaces[k%2], name, v)
			}
		}
	}
	t.Logf("%d commits: %d failed at their start, %d late", fault.attempts.Load(), fault.failures.Load(), fault.late.Load())
}

// TestQueueFullWhenCommitsStartFailing: a Put that waits for room in a
// full queue must not wait forever when the commits it waits for begin to
// fail: like a Put that arrives after the first failure, it is refused.
//
// This test found a bug, since fixed (commit 9a34a04): enqueue checked
// s.failErr only when s.progress was closed, which only a successful
// commit did, so a Put (and the memo Call whose write it was) that found
// the queue full just before the disk filled blocked until space
// returned. commitQueued's failure path now wakes the waiters too.
func TestQueueFullWhenCommitsStartFailing(t *testing.T) {
	const budget = 4 << 10
	s := openStore(t, tempPath(t), WithQueueBytes(budget))
	fault := injectFaults(s)
	ns := openNS(t, s, "n")
	rec := record("", 1, 0, strings.Repeat("v", 200))
	// The writer is busy with a commit that will succeed; meanwhile the
	// disk fills and writes fill the queue.
	resume := holdWriter(t, s)
	fault.on.Store(true)
	for i := 0; s.stats().QueuedBytes+int64(len(rec)) <= budget; i++ {
		put(t, ns, fmt.Sprint(i), rec)
	}
	errc := make(chan error, 1)
	go func() { errc <- ns.Put(context.Background(), key("waits"), rec) }()
	select {
	case err := <-errc:
		t.Fatalf("Put into a full queue returned %v at once; want it to wait for the writer", err)
	case <-time.After(50 * time.Millisecond):
	}
	resume()
	select {
	case err := <-errc:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("Put waiting for room when commits began to fail = %v, want a refusal wrapping ENOSPC", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("a Put waiting for room in the queue is still blocked 2s after commits began to fail")
		fault.on.Store(false) // let it finish, so that the test can end
		if err := <-errc; err != nil {
			t.Errorf("Put after commits work again: %v", err)
		}
	}
}
