package boltstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/driver"
)

// followerPutDuringInvalidation has a follower (a raw control client that
// claimed namespace "n") send a put of key "k" while the holder's
// invalidation inv is waiting for its deletion to commit (the writer is
// held), before the follower heard of the invalidation: the value was
// computed before it. Once inv has returned, the key must not be stored.
func followerPutDuringInvalidation(t *testing.T, inv func(ns *Namespace) error, opts ...Option) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "r.db")
	s := openStore(t, path, opts...)
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "old"))
	flush(t, s)

	var pushed atomic.Bool
	cli, err := control.DialPush(ctx, path, func(*control.Msg) { pushed.Store(true) })
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	data, _ := json.Marshal(spec("1"))
	if _, err := cli.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: data}, time.Second); err != nil {
		t.Fatal(err)
	}

	resume := holdWriter(t, s)
	invDone := make(chan error, 1)
	go func() { invDone <- inv(ns) }()
	time.Sleep(50 * time.Millisecond) // inv has queued its deletion and waits for it

	if pushed.Load() {
		t.Fatal("the follower heard of the invalidation before its deletion committed")
	}
	answered := make(chan *control.Msg, 1)
	if !cli.Go(&control.Msg{Op: control.OpPut, NS: "n", Key: key("k"), Rec: record("k", 1, 0, "computed before")}, func(r *control.Msg) { answered <- r }) {
		t.Fatal("put not sent")
	}
	time.Sleep(50 * time.Millisecond) // the holder has read the put
	resume()
	if err := <-invDone; err != nil {
		t.Fatal(err)
	}
	if r := <-answered; r == nil {
		t.Fatal("put not answered")
	}
	flush(t, s)
	if !pushed.Load() {
		t.Fatal("the invalidation returned before the follower heard of it")
	}
	if rec, err := ns.lookupRecord(key("k"), 0); err != nil || rec != nil {
		t.Errorf("after the invalidation returned, the file holds %q (%v): a follower's value computed before it and sent before it reached that follower", rec, err)
	}
}

// TestClearRacesFollowerPut: a follower's put that reaches the holder
// while a Clear waits for its commit, sent before the follower heard of
// the Clear, must be dropped. It was stored after the Clear (the holder
// marked the invalidation at the follower only when it sent the push,
// after the commit; found by a review).
func TestClearRacesFollowerPut(t *testing.T) {
	followerPutDuringInvalidation(t, func(ns *Namespace) error { return ns.Clear(context.Background()) })
}

// TestDeleteRacesFollowerPut: the same with Forget (Delete), with
// SyncWrites so that the window is the commit's.
func TestDeleteRacesFollowerPut(t *testing.T) {
	followerPutDuringInvalidation(t, func(ns *Namespace) error { return ns.Delete(context.Background(), key("k")) }, WithSyncWrites())
}

// openSharedPair opens path twice with OpenShared: the holder, then a
// follower.
func openSharedPair(t *testing.T, path string) (holder, follower *Shared) {
	t.Helper()
	o := DefaultOptions()
	o.Logger, o.Clock = slog.New(slog.DiscardHandler), expiry.SystemClock{}
	o.LockTimeout = time.Second
	h, err := OpenShared(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	f, err := OpenShared(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if h.Following() || !f.Following() {
		t.Fatal("roles")
	}
	return h, f
}

// TestConcurrentCountReports: a follower reports its memory tier's counts
// from its ticker and from each Stats, Inspect and Flush; two reports at
// once both sent the same delta, which the holder added twice (found by a
// review).
func TestConcurrentCountReports(t *testing.T) {
	ctx := context.Background()
	h, f := openSharedPair(t, filepath.Join(shortDir(t), "c.db"))
	if _, err := h.Namespace(ctx, "n", spec("1")); err != nil {
		t.Fatal(err)
	}
	fn, err := f.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	tier := &testTier{}
	fn.(*sharedNS).Attach(tier)
	const rounds, per = 50, 100
	for range rounds {
		tier.Hits.Add(per)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.Stats(ctx)
			}()
		}
		wg.Wait()
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := h.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Namespaces) != 1 || st.Namespaces[0].Hits != rounds*per {
		t.Errorf("holder's hits = %d, want %d (the follower's tier counted that many)", st.Namespaces[0].Hits, rounds*per)
	}
}

// TestCanceledAcquireLeavesNoClaim: a follower's Acquire whose context is
// canceled while it waits for another process's claim must not leave the
// claim the holder then grants it: nobody released it, and every other
// process that missed on the key waited for ClaimLease, 30 s (found by a
// review; TestCanceledAcquireReleasesLateClaim in internal/control covers
// the connection and the lane alike).
func TestCanceledAcquireLeavesNoClaim(t *testing.T) {
	ctx := context.Background()
	h, f := openSharedPair(t, filepath.Join(shortDir(t), "l.db"))
	hn, err := h.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := f.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	decode := func([]byte, codec.Header) error { return nil }
	// The holder's process claims k.
	found, release, err := hn.(driver.LookupAcquirer).(driver.Namespace).Acquire(ctx, key("k"), decode)
	if err != nil || found {
		t.Fatalf("holder Acquire = %v, %v", found, err)
	}
	// The follower waits for it, and gives up.
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, rel, err := fn.Acquire(fctx, key("k"), decode)
		rel()
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the follower's Acquire did not end with its context")
	}
	// The holder's computation fails: it releases k without storing it.
	release()
	time.Sleep(300 * time.Millisecond)
	rel, ok := hn.(driver.Claimer).TryClaim(ctx, key("k"))
	defer rel()
	if !ok {
		t.Error("k is still claimed, by the follower whose Acquire returned an error: other processes wait ClaimLease for it")
	}
}

// TestConcurrentFlushReportsLostWrite: a follower's write is refused by
// the holder, and two Flushes begin after it: both must fail. One of them
// returned nil, although a write before it is not in the file: the first
// to return took the failure from the other (found by a review).
func TestConcurrentFlushReportsLostWrite(t *testing.T) {
	ctx := context.Background()
	h, f := openSharedPair(t, filepath.Join(shortDir(t), "f.db"))
	fn, err := f.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	resume := holdWriter(t, h.holder)
	if err := fn.Put(ctx, key("a"), record("a", 1, 0, "a")); err != nil {
		t.Fatal(err)
	}
	if err := fn.Put(ctx, key("b"), []byte("not a record")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // b is refused; a waits for the writer
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- f.Flush(ctx) }()
	}
	time.Sleep(50 * time.Millisecond)
	resume()
	for range 2 {
		if err := <-errs; err == nil {
			t.Error("a Flush begun after a refused write returned nil")
		}
	}
}

// TestFailuresBounded: a follower that never flushes keeps at most
// maxFailures entries for the writes its holder refused, however many,
// and still counts them all; a Flush then reports every one.
func TestFailuresBounded(t *testing.T) {
	sh := &Shared{inflight: map[uint64]struct{}{}, putDone: make(chan struct{})}
	const n = 5 * maxFailures
	for range n {
		sh.putAnswered(sh.sentPut(), true)
	}
	if len(sh.failures) > maxFailures {
		t.Errorf("%d failures kept apart, want at most %d", len(sh.failures), maxFailures)
	}
	if got := sh.failedSince(); got != n {
		t.Errorf("failedSince = %d, want %d", got, n)
	}
	sh.flushes++
	if err := sh.waitPuts(context.Background(), sh.putSeq, sh.flushes); err == nil || !strings.Contains(err.Error(), strconv.Itoa(n)+" writes") {
		t.Errorf("a Flush after %d refused writes: %v", n, err)
	}
}
