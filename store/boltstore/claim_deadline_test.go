package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
)

// TestCallerDeadlineKeepsOtherClaims: memo passes the caller's context to
// TryClaim (claimExpired, for an expired key kept for StaleIfError) and to
// Acquire. A follower whose caller's context has a deadline (a request's,
// say) that ends while the request is at a busy holder gives up the
// request: control.Client.call and laneCall then closed the whole
// connection, as they do when FollowerTimeout passes (the holder is
// stuck), though the deadline was the caller's. The holder ended the
// session and released every claim the process held, among them the claim
// another goroutine of the follower held and was computing under: other
// processes then computed that key too, and the follower's Put of it was
// lost with the connection.
func TestCallerDeadlineKeepsOtherClaims(t *testing.T) {
	ctx := context.Background()
	hsn, fn, st := claimPair(t, "d.db")
	decode := func([]byte, codec.Header) error { return nil }

	// One goroutine of the follower computes a, under its claim.
	found, releaseA, err := fn.Acquire(ctx, key("a"), decode)
	if err != nil || found {
		t.Fatalf("follower Acquire(a) = %v, %v", found, err)
	}
	defer releaseA()
	if rel, ok := hsn.TryClaim(ctx, key("a")); ok {
		rel()
		t.Fatal("precondition: a is not claimed by the follower")
	}

	// Another asks for b's claim with a deadline of its caller's, which
	// passes while the holder is busy (lockMu held here).
	st.lockMu.Lock()
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		rel, _ := fn.TryClaim(dctx, key("b"))
		rel()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		st.lockMu.Unlock()
		t.Fatal("TryClaim did not return at its deadline")
	}
	st.lockMu.Unlock()
	time.Sleep(300 * time.Millisecond) // the holder has handled whatever came

	if rel, ok := hsn.TryClaim(ctx, key("a")); ok {
		rel()
		t.Error("a, which the follower is still computing under its claim, can be claimed by another process: a deadline of another caller's context, on b, closed the follower's connection, and the holder released all its claims")
	}
}
