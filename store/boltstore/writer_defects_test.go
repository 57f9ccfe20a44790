package boltstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
)

// TestSyncPutFailureCountedOnce: a sync Put whose commit fails is one
// failed write; it was counted twice, by commitFailed (the op is marked
// failed) and by Namespace.write, which counted every error enqueue
// returned (found by a review).
func TestSyncPutFailureCountedOnce(t *testing.T) {
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
		t.Fatalf("sync Put while commits fail = %v, want boom", err)
	}
	fail.Store(false)
	flush(t, s)
	st := nsStats(t, s, "n")
	if st.WriteErrors != 1 || st.Writes != 1 {
		t.Errorf("after one sync Put that failed once, then landed: WriteErrors = %d, Writes = %d; want 1 and 1", st.WriteErrors, st.Writes)
	}
}

// TestDeleteIfKeepsNewerQueuedPut: a lookup that finds a bad record
// queues a conditional delete of it (tryEnqueue), which made that delete
// the key's pending op unconditionally, replacing a newer Put queued
// meanwhile. Until the batch committed (for the whole outage, if commits
// failed) the queued Put was invisible: read-your-writes broke (found by
// a review).
// The decode callback puts the fresh value, which forces the interleaving
// that a concurrent Put (or a follower's Drop arriving late) gives.
func TestDeleteIfKeepsNewerQueuedPut(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "old"))
	flush(t, s)
	fault := injectFaults(s)
	fault.on.Store(true) // commits fail: the queue stays
	ok, err := ns.Lookup(context.Background(), key("k"), func([]byte, codec.Header) error {
		// Meanwhile a caller stores the fresh value.
		if err := ns.Put(context.Background(), key("k"), record("k", 2, 0, "new")); err != nil {
			t.Errorf("Put: %v", err)
		}
		return errors.New("does not decode")
	})
	if ok || err != nil {
		t.Fatalf("Lookup of the bad record = %v, %v; want a miss", ok, err)
	}
	wantValue(t, ns, "k", "new") // queued, and must be read back
	fault.on.Store(false)
	flush(t, s)
	wantValue(t, ns, "k", "new")
}
