//go:build linux

package boltstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
)

// TestDeadFollowerReleasesClaimsAtOnce: "A process that dies
// releases its claims at once (its connection closes)". A follower holds
// a claim on k1 and has a request in progress at the holder: an Acquire
// of k2, which another process (here the holder's) is computing, so the
// holder waits on a goroutine of the connection. The follower dies. Its
// claims are released only in Session.Close, after the connection's
// goroutines end (serveSession waits for them), and those run with the
// endpoint's context, not the connection's: nothing ends the wait when
// the connection closes. k1 stays claimed until the dead process's
// request ends: here up to ClaimLease, while every other process that
// misses on k1 waits.
func TestDeadFollowerReleasesClaimsAtOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "d.db")
	s := openStore(t, path)
	n := openNS(t, s, "n")

	cli, err := control.DialPush(ctx, path, func(*control.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(spec("1"))
	if _, err := cli.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: data}, time.Second); err != nil {
		t.Fatal(err)
	}
	// The follower claims k1.
	r, err := cli.Call(ctx, &control.Msg{Op: control.OpClaim, NS: "n", Key: key("k1")}, time.Second)
	if err != nil || r.N == 0 {
		t.Fatalf("claim k1: %+v, %v", r, err)
	}
	// The holder's process computes k2; the follower asks for it, on its
	// connection, and is made to wait.
	rel2, ok := n.TryClaim(ctx, key("k2"))
	if !ok {
		t.Fatal("the holder could not claim k2")
	}
	defer rel2()
	cli.Go(&control.Msg{Op: control.OpAcquire, NS: "n", Key: key("k2"), N: int64(20 * time.Second)}, func(*control.Msg) {})
	time.Sleep(100 * time.Millisecond)

	// The follower dies: its connection closes.
	cli.Close()

	deadline := time.Now().Add(2 * time.Second)
	for {
		rel, ok := n.TryClaim(ctx, key("k1"))
		if ok {
			rel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("k1 is still claimed 2s after the process that claimed it died (its connection closed); released only when its pending request ends (up to ClaimLease %v)", ClaimLease)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
