package boltstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
)

// TestBackpressure writes far more than the queue holds: writers wait for
// the writer, and nothing is dropped.
func TestBackpressure(t *testing.T) {
	const limit = 400
	s := openStore(t, tempPath(t), WithQueueBytes(limit))
	ns := openNS(t, s, "n")
	const writers, each = 4, 50
	var maxQueued atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := key(fmt.Sprintf("%d-%d", w, i))
				if err := ns.Put(context.Background(), k, codec.NewRecord(k, int64(i+1), 0, codec.AppendString(nil, "a value of some thirty bytes.."))); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if q := s.stats().QueuedBytes; q > maxQueued.Load() {
					maxQueued.Store(q)
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.Entries != writers*each || st.Writes != writers*each || st.WriteErrors != 0 {
		t.Errorf("stats = %+v, want %d entries and writes, no write errors", st, writers*each)
	}
	if q := maxQueued.Load(); q > limit {
		t.Errorf("QueuedBytes reached %d, over the %d-byte queue", q, limit)
	}
	for w := range writers {
		for i := range each {
			wantValue(t, ns, fmt.Sprintf("%d-%d", w, i), "a value of some thirty bytes..")
		}
	}
}

// TestBackpressureContext: a Put waiting for room in the queue gives up
// when its context ends, and is counted as a write error.
func TestBackpressureContext(t *testing.T) {
	s := openStore(t, tempPath(t), WithQueueBytes(200))
	ns := openNS(t, s, "n")
	resume := holdWriter(t, s)
	put(t, ns, "first", record("first", 1, 0, strings.Repeat("x", 80))) // 103 bytes: fits
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := ns.Put(ctx, key("second"), record("second", 1, 0, strings.Repeat("x", 80)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put into a full queue = %v, want DeadlineExceeded", err)
	}
	wantMiss(t, ns, "second")
	resume()
	flush(t, s)
	wantValue(t, ns, "first", strings.Repeat("x", 80))
	if st := nsStats(t, s, "n"); st.Entries != 1 || st.WriteErrors != 1 {
		t.Errorf("stats = %+v, want 1 entry and 1 write error", st)
	}
}

func TestFlushContext(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	resume := holdWriter(t, s)
	put(t, ns, "k", record("k", 1, 0, "v"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the writer held = %v, want DeadlineExceeded", err)
	}
	resume()
	flush(t, s)
	if st := s.stats(); st.Entries != 1 || st.Queued != 0 {
		t.Errorf("Entries = %d, Queued = %d; want 1, 0", st.Entries, st.Queued)
	}
}

// TestPutRefused: Put refuses what bbolt or the indexes cannot take, with
// an error, instead of queuing a write that would fail every commit.
// failingOp queues an op whose function fails while fail says so.
func failingOp(tb testing.TB, s *Store, fail *atomic.Bool) {
	tb.Helper()
	release, err := s.hold()
	if err != nil {
		tb.Fatal(err)
	}
	o := &op{kind: opFunc, fn: func(*bolt.Tx, *txState) error {
		if fail.Load() {
			return errBoom
		}
		return nil
	}}
	if err := s.enqueue(context.Background(), o, release); err != nil {
		tb.Fatal(err)
	}
}

var errBoom = errors.New("boom")

// TestCommitFailure: while commits fail, waiting callers get the error,
// queued records stay readable, and once commits work again everything
// lands.
func TestCommitFailure(t *testing.T) {
	logOpt, log := captureLog()
	s := openStore(t, tempPath(t), logOpt)
	ns := openNS(t, s, "n")
	var fail atomic.Bool
	fail.Store(true)
	resume := holdWriter(t, s)
	failingOp(t, s, &fail)
	for i := range 5 {
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), int64(i+1), 0, "v"))
	}
	resume()
	for i := range 3 {
		if err := s.Flush(context.Background()); !errors.Is(err, errBoom) {
			t.Fatalf("Flush %d while commits fail = %v, want boom", i, err)
		}
	}
	wantValue(t, ns, "3", "v") // still readable from the queue
	if !strings.Contains(log.String(), "boom") {
		t.Errorf("log = %q, want the failure reported", log.String())
	}
	fail.Store(false)
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.Entries != 5 || st.WriteErrors != 5 {
		t.Errorf("stats = %+v, want 5 entries and 5 write errors (one per put in the failed batch)", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after recovery: %v", err)
	}
}

// TestCommitFailureSyncWrites: a waiting Put learns that its commit failed,
// and the failure is counted once: it was counted twice, by commitFailed
// (the op is marked failed) and by Namespace.write, which counted every
// error enqueue returned (found by a review).
func TestCommitFailureSyncWrites(t *testing.T) {
	s := openStore(t, tempPath(t), WithSyncWrites())
	ns := openNS(t, s, "n")
	var fail atomic.Bool
	fail.Store(true)
	resume := holdWriter(t, s)
	failingOp(t, s, &fail)
	errc := make(chan error, 1)
	go func() { errc <- ns.Put(context.Background(), key("k"), record("k", 1, 0, "v")) }()
	for s.stats().Queued < 3 { // the hold, the failing op and the put
		time.Sleep(time.Millisecond)
	}
	resume()
	if err := <-errc; !errors.Is(err, errBoom) {
		t.Errorf("sync Put while commits fail = %v, want boom", err)
	}
	fail.Store(false)
	flush(t, s)
	wantValue(t, ns, "k", "v")
	st := nsStats(t, s, "n")
	if st.WriteErrors != 1 || st.Writes != 1 {
		t.Errorf("after one sync Put that failed once, then landed: WriteErrors = %d, Writes = %d; want 1 and 1", st.WriteErrors, st.Writes)
	}
}

// TestCloseWithFailingCommits: Close gives up on writes it cannot commit,
// says so, and does not hang; a full queue refuses writes meanwhile.
func TestCloseWithFailingCommits(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path, WithQueueBytes(200))
	ns := openNS(t, s, "n")
	put(t, ns, "kept", record("kept", 1, 0, "v"))
	flush(t, s)
	var fail atomic.Bool
	fail.Store(true)
	failingOp(t, s, &fail)
	if err := s.Flush(context.Background()); !errors.Is(err, errBoom) {
		t.Fatalf("Flush = %v, want boom", err)
	}
	rec := record("", 2, 0, strings.Repeat("x", 80))
	put(t, ns, "lost", rec) // fits in the queue
	start := time.Now()
	err := ns.Put(context.Background(), key("refused"), rec)
	if err == nil || !errors.Is(err, errBoom) {
		t.Errorf("Put into a full queue while commits fail = %v, want a refusal wrapping boom", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused Put took %v", d)
	}
	start = time.Now()
	err = s.Close()
	if err == nil || !errors.Is(err, errBoom) {
		t.Errorf("Close = %v, want an error wrapping boom", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err2 := s.Close(); err2 != err {
		t.Errorf("second Close = %v, want the first's %v", err2, err)
	}
	ro := openStore(t, path, WithReadOnly())
	if st := nsStats(t, ro, "n"); st.Entries != 1 {
		t.Errorf("after reopen: Entries = %d, want 1", st.Entries)
	}
}

// TestIdleWriterSavesCounters: counts gathered by hits reach the file
// within a second even if nothing is written.
func TestIdleWriterSavesCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The control endpoint's socket I/O would keep the bubble's clock
		// from moving.
		s := openStore(t, tempPath(t), WithoutControl())
		ns := openNS(t, s, "n")
		countHit(ns, true)
		countMiss(ns)
		time.Sleep(countersInterval + batchDelay)
		synctest.Wait()
		s.mu.RLock()
		c := ns.sp.c
		s.mu.RUnlock()
		if c.Hits != 1 || c.DiskHits != 1 || c.Misses != 1 {
			t.Errorf("committed counters = %+v, want the hit and the miss", c)
		}
		closeStore(t, s)
	})
}

// TestWriteBehind: Put returns before its commit, and a burst of writes is
// committed in few transactions.
func TestWriteBehind(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	txBefore := lastTxID(t, s)
	const n = 3000
	for i := range n {
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), int64(i+1), 0, "v"))
	}
	flush(t, s)
	commits := lastTxID(t, s) - txBefore
	if st := s.stats(); st.Entries != n {
		t.Errorf("Entries = %d, want %d", st.Entries, n)
	}
	if commits <= 0 || commits > n/10 {
		t.Errorf("%d writes took %d commits, want them grouped", n, commits)
	}
}

// lastTxID returns the id of the last transaction committed to s's file.
func lastTxID(tb testing.TB, s *Store) int {
	tb.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestFullQueueWakesWriter: a Put that waits for room in a queue full by
// bytes (with fewer than batchEntries ops in it) has the writer commit at
// once, rather than after the batchDelay it lets writes gather for: a
// queue of large records would otherwise stall every writer for batchDelay
// each time it fills.
func TestFullQueueWakesWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The control endpoint's socket I/O would keep the bubble's clock
		// from moving.
		s := openStore(t, tempPath(t), WithoutControl(), WithQueueBytes(1000))
		ns := openNS(t, s, "n")
		val := strings.Repeat("x", 400) // two records fit in the queue
		start := time.Now()
		for i := range 20 {
			put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), 1, 0, val))
		}
		// The bubble's clock moves only while every goroutine waits: the
		// Puts that found the queue full and waited for the writer's
		// timer took batchDelay each.
		if waited := time.Since(start); waited >= batchDelay {
			t.Errorf("20 Puts into a queue that holds 2 waited %v for the writer, want no timer (batchDelay %v)", waited, batchDelay)
		}
		closeStore(t, s)
	})
}
