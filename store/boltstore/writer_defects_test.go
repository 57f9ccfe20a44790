package boltstore

import (
	"context"
	"errors"
	"testing"

	"github.com/memostore/memostore/codec"
)

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
