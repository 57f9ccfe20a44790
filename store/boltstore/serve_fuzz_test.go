package boltstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/driver"
)

// FuzzSessionOps sends one request of any operation, with any
// fields, to a holder's control endpoint, on a connection that claimed
// namespace "n", as a follower (well-behaved or not) may: the holder must
// neither panic nor hang, and must go on answering. The holder's store is
// shared by the inputs, so that what one leaves (claims released at
// disconnection, records, namespaces, counts) meets the next.
func FuzzSessionOps(f *testing.F) {
	now := time.Now().UnixNano()
	rec := record("k", now, now+int64(time.Hour), "v")
	sp, _ := json.Marshal(spec("1"))
	counts, _ := json.Marshal(control.Counts{Hits: 1, Uses: []control.Use{{Key: key("k"), Hits: 3}}})
	for _, op := range []control.Op{control.OpNamespace, control.OpLookup, control.OpAcquire, control.OpRelease,
		control.OpPut, control.OpDelete, control.OpClear, control.OpCounts, control.OpStats, control.OpInspect,
		control.OpFlush, control.OpSweep, control.OpCheck, control.OpKeys, control.OpDrop, control.OpClaim, control.OpHello, control.OpAck} {
		f.Add(uint8(op), "n", key("k"), rec, int64(1), now, sp)
	}
	f.Add(uint8(control.OpCounts), "n", []byte(nil), []byte(nil), int64(0), int64(0), counts)
	f.Add(uint8(control.OpPut), "n", key("k"), record("k", -1<<62, -1, "v"), int64(0), int64(-1), []byte(nil))
	f.Add(uint8(control.OpNamespace), "\xff/x", []byte(nil), []byte(nil), int64(0), int64(0), []byte(`{"Version":"2"}`))
	f.Add(uint8(control.OpKeys), "n", []byte(nil), []byte(nil), int64(-1), int64(0), []byte(nil))

	path := filepath.Join(shortDir(f), "f.db")
	s, err := openWith(path, quiet(), WithMaxBytes(1<<20), WithSweepInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ns := openNS(f, s, "mine")
	put(f, ns, "k", rec)

	f.Fuzz(func(t *testing.T, op uint8, name string, k, r []byte, n, at int64, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := control.Dial(ctx, path)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: "n", Data: sp}, 5*time.Second); err != nil {
			t.Fatalf("claim: %v", err)
		}
		// An op outside the protocol's range is a malformed frame, which
		// drops the connection by design: every op within it.
		op = 1 + op%uint8(control.OpClaim)
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("op %d took %v", op, d)
			}
		}()
		m := &control.Msg{Op: control.Op(op), NS: name, Key: k, Rec: r, N: n, Now: at, Data: data}
		if m.Op == control.OpAcquire {
			m.N = n % int64(20*time.Millisecond) // a wait the test can afford
		}
		switch m.Op {
		case control.OpRelease, control.OpDrop, control.OpCounts, control.OpAck,
			control.OpForget, control.OpPurge: // the client takes a reply of a push's op for a push

			if err := c.Send(m); err != nil {
				t.Fatalf("Send: %v", err)
			}
		case control.OpKeys:
			_ = c.Keys(ctx, name, int(n), func(driver.KeyInfo) error { return nil })
		default:
			_, err := c.Call(ctx, m, 10*time.Second)
			if ctx.Err() != nil {
				t.Fatalf("op %d: no answer: %v", op, err)
			}
		}
		// The holder still answers, on this connection and a new one.
		if _, err := c.Stats(ctx, 5*time.Second); err != nil {
			t.Fatalf("Stats after op %d: %v", op, err)
		}
		if !control.Live(ctx, path) {
			t.Fatalf("endpoint down after op %d", op)
		}
	})
}
