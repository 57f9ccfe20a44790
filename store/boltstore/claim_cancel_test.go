package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestCancelledTryClaimLeavesNoClaim: memo's claimExpired calls TryClaim
// with the caller's context, for every Call of an expired key kept for
// StaleIfError in a process sharing the file. A follower whose context is
// cancelled while its claim request is at the holder gets (noop, true)
// back, while the holder grants the claim anyway: the reply was dropped
// (control.Client.call released a late OpAcquire token, never an OpClaim
// one; Peer.unsent likewise on a lane), and nothing released the claim
// until ClaimLease (30 s). Meanwhile every other process calling
// the key waited in claimExpired (claimWait, 30 s) for a computation no
// one ran. The holder's lockMu is held here only to make the request stay
// at the holder while the context is cancelled (a cancellation at the
// wrong microsecond does the same).
func TestCancelledTryClaimLeavesNoClaim(t *testing.T) {
	ctx := context.Background()
	hsn, fn, st := claimPair(t, "c.db")

	st.lockMu.Lock() // the holder is slow to answer the claim
	cctx, cancel := context.WithCancel(ctx)
	type res struct {
		rel func()
		ok  bool
	}
	done := make(chan res, 1)
	go func() {
		rel, ok := fn.TryClaim(cctx, key("k"))
		done <- res{rel, ok}
	}()
	time.Sleep(100 * time.Millisecond) // the request waits at the holder
	cancel()
	var r res
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		st.lockMu.Unlock()
		t.Fatal("TryClaim did not return when its context was cancelled")
	}
	st.lockMu.Unlock()
	// Let the holder answer the request it was holding (it takes lockMu
	// after this test let it go).
	for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
		st.lockMu.Lock()
		n := len(st.locks)
		st.lockMu.Unlock()
		if n > 0 {
			break
		}
	}
	r.rel() // what the caller does with the release it got (a no-op here)

	// No one holds the claim now: the follower's caller went on without
	// a token. Another process must be able to claim the key.
	deadline := time.Now().Add(2 * time.Second)
	for {
		rel, ok := hsn.TryClaim(ctx, key("k"))
		if ok {
			rel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key is still claimed 2 s after the follower's TryClaim returned (ok=%v) for a cancelled context: the claim the holder granted is held by no one until ClaimLease (%v), and other processes' Calls wait for it (claimWait)", r.ok, ClaimLease)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// claimPair opens a file held here and followed here (a store file named
// name in a short directory), with namespace "n" in both, and returns the
// holder's namespace, the follower's, and the holder's store, for tests
// of claims between the two.
func claimPair(t *testing.T, name string) (holder, follower *sharedNS, st *Store) {
	t.Helper()
	ctx := context.Background()
	h, f := openSharedPair(t, filepath.Join(shortDir(t), name))
	hn, err := h.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := f.Namespace(ctx, "n", spec("1"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ = h.current(); st == nil {
		t.Fatal("no holder store")
	}
	return hn.(*sharedNS), fn.(*sharedNS), st
}
