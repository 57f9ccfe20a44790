package boltstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
)

// TestDeadFollowerDeleteKeepsOthersConnected: a session's requests now
// run under its connection's context, canceled when the connection ends.
// A follower's Delete waits for the other followers to acknowledge the
// push of its invalidation, under that context; Peer.push closes the
// connection of a follower it was waiting for when the context ends. So a
// follower that goes (killed, or its call timed out) while its Delete
// waits disconnects every healthy follower whose acknowledgement had not
// come yet; before, requests ran under the endpoint's context.
func TestDeadFollowerDeleteKeepsOthersConnected(t *testing.T) {
	testDeadFollowerInvalidation(t, func(cli *control.Client) {
		cli.Go(&control.Msg{Op: control.OpDelete, NS: "n", Key: key("k")}, func(*control.Msg) {})
	})
}

// TestDeadFollowerClearKeepsOthersConnected: the same with a Clear (a
// follower's, or memoctl clear interrupted).
func TestDeadFollowerClearKeepsOthersConnected(t *testing.T) {
	testDeadFollowerInvalidation(t, func(cli *control.Client) {
		cli.Go(&control.Msg{Op: control.OpClear, NS: "n"}, func(*control.Msg) {})
	})
}

func testDeadFollowerInvalidation(t *testing.T, invalidate func(*control.Client)) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "r.db")
	s := openStore(t, path)
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "v"))
	flush(t, s)
	data, _ := json.Marshal(spec("1"))

	// b, a healthy follower that is slow to acknowledge (its memory tier
	// waits for a keep in progress, say).
	b, err := control.DialPush(ctx, path, func(*control.Msg) { time.Sleep(400 * time.Millisecond) })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: data}, time.Second); err != nil {
		t.Fatal(err)
	}
	a, err := control.DialPush(ctx, path, func(*control.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: data}, time.Second); err != nil {
		t.Fatal(err)
	}
	invalidate(a)
	time.Sleep(100 * time.Millisecond) // the holder waits for b's acknowledgement
	a.Close()                          // a goes
	time.Sleep(600 * time.Millisecond) // b has acknowledged
	select {
	case <-b.Done():
		t.Fatal("a healthy follower was disconnected by the holder because another follower went while its invalidation waited for acknowledgements")
	default:
	}
	if _, err := b.Call(ctx, &control.Msg{Op: control.OpLookup, NS: "n", Key: key("k")}, time.Second); err != nil {
		t.Fatalf("the healthy follower's next request: %v (disconnected because another follower went)", err)
	}
}
