package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
)

func TestNamespaceClaimedTwice(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "fib")
	if ns.sp.name != "fib" {
		t.Errorf("name = %q, want fib", ns.sp.name)
	}
	for _, sp := range []driver.NamespaceSpec{spec("1"), spec("2")} {
		again, err := s.Namespace(context.Background(), "fib", sp)
		if err == nil {
			t.Fatalf("second Namespace(fib) = %v, want an error", again)
		}
		if !strings.Contains(err.Error(), "fib") {
			t.Errorf("err = %q does not name the namespace", err)
		}
	}
	// The first claim still works and was not reset by the refused ones.
	put(t, ns, "k", record("k", 1, 0, "v"))
	flush(t, s)
	wantValue(t, ns, "k", "v")
	st := nsStats(t, s, "fib")
	if !st.Claimed || st.Version != "1" || st.Entries != 1 {
		t.Errorf("stats = %+v", st)
	}
	// Another name is fine.
	openNS(t, s, "other")
}

func TestNamespaceMetadata(t *testing.T) {
	path := tempPath(t)
	clock := newFakeClock()
	s := openStore(t, path, WithClock(clock))
	sp := driver.NamespaceSpec{Version: "v3", KeyType: "main.Key", KeyID: "kid", ValueType: "[]string", ValueID: "vid"}
	openNSSpec(t, s, "n", sp)
	closeStore(t, s)
	ro := openStore(t, path, WithReadOnly())
	got := nsStats(t, ro, "n")
	if got.Version != sp.Version || got.KeyType != sp.KeyType || got.ValueType != sp.ValueType || got.Created != clock.Nanos() {
		t.Errorf("stats = %+v, want spec %+v created at %d", got, sp, clock.Nanos())
	}
}

func TestNamespaceSpecChange(t *testing.T) {
	base := spec("1")
	tests := []struct {
		name string
		spec driver.NamespaceSpec
		drop bool
	}{
		{"same spec", base, false},
		{"version", spec("2"), true},
		{"key type", driver.NamespaceSpec{Version: "1", KeyType: "int64", KeyID: "other", ValueType: "string", ValueID: "s"}, true},
		{"value type", driver.NamespaceSpec{Version: "1", KeyType: "int64", KeyID: "i", ValueType: "string", ValueID: "other"}, true},
		{"value type name", driver.NamespaceSpec{Version: "1", KeyType: "int64", KeyID: "i", ValueType: "main.S", ValueID: "s"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			clock := newFakeClock()
			s := openStore(t, path, WithClock(clock))
			ns := openNSSpec(t, s, "fib", base)
			keep := openNSSpec(t, s, "bystander", base)
			exp := clock.Nanos() + int64(1e12)
			put(t, ns, "a", record("a", 1, 0, "x"))
			put(t, ns, "b", record("b", 2, exp, "y"))
			put(t, keep, "a", record("a", 3, 0, "z"))
			countHit(ns, true)
			closeStore(t, s)

			logOpt, log := captureLog()
			s = openStore(t, path, WithClock(clock), logOpt)
			ns = openNSSpec(t, s, "fib", tt.spec)
			st := nsStats(t, s, "fib")
			if tt.drop {
				wantMiss(t, ns, "a")
				wantMiss(t, ns, "b")
				if st.Entries != 0 || st.Bytes != 0 || st.Hits != 0 || st.Writes != 0 {
					t.Errorf("after a spec change: %+v, want zero counters", st)
				}
				if st.Version != tt.spec.Version || st.ValueType != tt.spec.ValueType {
					t.Errorf("after a spec change: stats show the old spec: %+v", st)
				}
				out := log.String()
				if !strings.Contains(out, "namespace=fib") || !strings.Contains(out, "WARN") {
					t.Errorf("log = %q, want a warning naming namespace fib", out)
				}
			} else {
				wantValue(t, ns, "a", "x")
				wantValue(t, ns, "b", "y")
				if st.Entries != 2 || st.Hits != 1 {
					t.Errorf("same spec: %+v, want 2 entries and 1 hit", st)
				}
				if out := log.String(); out != "" {
					t.Errorf("same spec logged %q", out)
				}
			}
			// The other namespace is never touched.
			wantCounts(t, nsStats(t, s, "bystander"), driver.NamespaceStats{Name: "bystander", Entries: 1,
				Bytes: int64(len(key("a")) + len(record("a", 3, 0, "z"))), Writes: 1})

			// A sweep later finds no stale index keys to trip on.
			clock.Advance(2e12)
			n, err := s.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.drop]; n != want {
				t.Errorf("Sweep = %d, want %d", n, want)
			}
			closeStore(t, s)

			ro := openStore(t, path, WithReadOnly())
			got := nsStats(t, ro, "fib")
			if want := map[bool]int64{true: 0, false: 1}[tt.drop]; got.Entries != want {
				t.Errorf("reopened: Entries = %d, want %d", got.Entries, want)
			}
			if got.Version != tt.spec.Version {
				t.Errorf("reopened: Version = %q, want %q", got.Version, tt.spec.Version)
			}
		})
	}
}

func TestClear(t *testing.T) {
	path := tempPath(t)
	clock := newFakeClock()
	s := openStore(t, path, WithClock(clock))
	a := openNS(t, s, "a")
	b := openNS(t, s, "b")
	c := openNS(t, s, "c")
	ctx := context.Background()
	fill := func() {
		for _, ns := range []*Namespace{a, b, c} {
			put(t, ns, "k1", record("k1", clock.Nanos(), 0, "v"))
			put(t, ns, "k2", record("k2", clock.Nanos(), clock.Nanos()+1e9, "v"))
			countHit(ns, true)
			countMiss(ns)
		}
	}
	fill()

	// Clear returns once the deletion is committed, queued writes included.
	if err := s.Clear(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, a, "k1")
	wantCounts(t, nsStats(t, s, "a"), driver.NamespaceStats{Name: "a"})
	if st := nsStats(t, s, "b"); st.Entries != 2 || st.Hits != 1 {
		t.Errorf("Clear(a) changed b: %+v", st)
	}

	if err := b.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, b, "k2")
	wantCounts(t, nsStats(t, s, "b"), driver.NamespaceStats{Name: "b"})
	wantValue(t, c, "k1", "v")

	err := s.Clear(ctx, "nosuch")
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("Clear(nosuch) = %v, want an error naming it", err)
	}

	fill()
	if err := s.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	st := s.stats()
	if st.Entries != 0 || st.Bytes != 0 || len(st.Namespaces) != 3 {
		t.Errorf("after Clear(\"\"): %+v", st)
	}
	for _, n := range st.Namespaces {
		wantCounts(t, n, driver.NamespaceStats{Name: n.Name})
	}
	for _, ns := range []*Namespace{a, b, c} {
		wantMiss(t, ns, "k1")
		wantMiss(t, ns, "k2")
	}
	// Nothing expired is left in the index to sweep, and the namespaces
	// still work.
	clock.Advance(time.Hour)
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("Sweep after Clear = %d, %v; want 0", n, err)
	}
	put(t, a, "k3", record("k3", clock.Nanos(), 0, "after"))
	wantValue(t, a, "k3", "after")
	closeStore(t, s)

	ro := openStore(t, path, WithReadOnly())
	if st := ro.stats(); st.Entries != 1 || len(st.Namespaces) != 3 {
		t.Errorf("reopened after Clear: Entries = %d, namespaces = %d; want 1, 3", st.Entries, len(st.Namespaces))
	}
	wantCounts(t, nsStats(t, ro, "b"), driver.NamespaceStats{Name: "b"})
}

// TestClearUnclaimed clears a namespace that is in the file but not in use
// in this process.
func TestClearUnclaimed(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	put(t, openNS(t, s, "old"), "k", record("k", 1, 0, "v"))
	closeStore(t, s)

	s = openStore(t, path)
	if st := nsStats(t, s, "old"); st.Claimed || st.Entries != 1 {
		t.Fatalf("stats = %+v, want 1 unclaimed entry", st)
	}
	if err := s.Clear(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	if st := nsStats(t, s, "old"); st.Entries != 0 || st.Writes != 0 {
		t.Errorf("after Clear: %+v", st)
	}
	wantMiss(t, openNS(t, s, "old"), "k")
}

// corrupt returns rec with one payload byte changed, so that its checksum
// fails.
func corrupt(rec []byte) []byte {
	bad := append([]byte(nil), rec...)
	bad[codec.HeaderSize] ^= 0x01
	return bad
}

func TestBadRecord(t *testing.T) {
	errRejected := errors.New("rejected")
	tests := []struct {
		name   string
		rec    []byte
		decode func([]byte, codec.Header) error
	}{
		{"bad checksum", corrupt(record("bad", 1, 0, "value")), func([]byte, codec.Header) error { return nil }},
		{"decode error", record("bad", 1, 0, "value"), func([]byte, codec.Header) error { return errRejected }},
	}
	for _, tt := range tests {
		for _, queued := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/committed", true: "/queued"}[queued]
			t.Run(name, func(t *testing.T) {
				logOpt, log := captureLog()
				s := openStore(t, tempPath(t), logOpt)
				ns := openNS(t, s, "n")
				good := record("good", 2, 0, "good")
				put(t, ns, "bad", tt.rec)
				put(t, ns, "good", good)
				if !queued {
					flush(t, s)
				}
				ok, err := ns.Lookup(context.Background(), key("bad"), tt.decode)
				if ok || err != nil {
					t.Fatalf("Lookup of a bad record = %v, %v; want a miss without error", ok, err)
				}
				if st := nsStats(t, s, "n"); st.DecodeErrors != 1 {
					t.Errorf("DecodeErrors = %d, want 1", st.DecodeErrors)
				}
				if !strings.Contains(log.String(), "namespace=n") {
					t.Errorf("log = %q, want the bad record reported", log.String())
				}
				flush(t, s)
				st := nsStats(t, s, "n")
				wantCounts(t, st, driver.NamespaceStats{Name: "n", Entries: 1, Bytes: int64(len(key("good")) + len(good)),
					DecodeErrors: 1, Writes: 2})
				wantMiss(t, ns, "bad")
				if got := nsStats(t, s, "n").DecodeErrors; got != 1 {
					t.Errorf("DecodeErrors = %d after Flush: the bad record was still there to fail again", got)
				}
				wantValue(t, ns, "good", "good")
			})
		}
	}
}

// TestBadRecordReplaced checks that the delete of a bad record, queued by
// a Lookup, does not remove a good record that replaced it meanwhile.
func TestBadRecordReplaced(t *testing.T) {
	s := openStore(t, tempPath(t))
	ns := openNS(t, s, "n")
	bad := corrupt(record("k", 1, 0, "v"))
	put(t, ns, "k", bad)
	flush(t, s)
	wantMiss(t, ns, "k") // queues the delete of the bad record
	put(t, ns, "k", record("k", 2, 0, "fresh"))
	flush(t, s)
	wantValue(t, ns, "k", "fresh")

	// The same delete arriving after the replacement is committed.
	s.tryEnqueue(&op{kind: opDeleteIf, sp: ns.sp, key: key("k"), rec: bad})
	flush(t, s)
	wantValue(t, ns, "k", "fresh")
	if st := nsStats(t, s, "n"); st.Entries != 1 || st.DecodeErrors != 1 {
		t.Errorf("stats = %+v, want 1 entry and 1 decode error", st)
	}
}

// TestBadRecordInFile: a record in the file whose header does not parse (a
// newer record version, or garbage) is a miss, counted, and deleted.
func TestBadRecordInFile(t *testing.T) {
	newer := record("bad", 1, 0, "v")
	newer[0] = codec.RecordVersion + 1
	for name, bad := range map[string][]byte{"newer version": newer, "garbage": []byte("junk")} {
		t.Run(name, func(t *testing.T) {
			path := tempPath(t)
			s := openStore(t, path)
			good := record("good", 1, 0, "good")
			put(t, openNS(t, s, "n"), "good", good)
			closeStore(t, s)
			// Write the bad record behind the store's back, with counters
			// that agree.
			updateBolt(t, path, func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte("d/n")).Put(key("bad"), bad); err != nil {
					return err
				}
				cb := tx.Bucket(bucketCounters)
				c := unmarshalCounters(cb.Get([]byte("n")))
				c.Entries++
				c.Bytes += int64(len(key("bad")) + len(bad))
				return cb.Put([]byte("n"), marshalCounters(&c))
			})

			s = openStore(t, path)
			ns := openNS(t, s, "n")
			if st := nsStats(t, s, "n"); st.Entries != 2 {
				t.Fatalf("Entries = %d, want 2", st.Entries)
			}
			wantMiss(t, ns, "bad")
			flush(t, s)
			wantCounts(t, nsStats(t, s, "n"), driver.NamespaceStats{Name: "n", Entries: 1,
				Bytes: int64(len(key("good")) + len(good)), DecodeErrors: 1, Writes: 1})
			wantValue(t, ns, "good", "good")
			closeStore(t, s)

			ro := openStore(t, path, WithReadOnly())
			if st := nsStats(t, ro, "n"); st.Entries != 1 || st.DecodeErrors != 1 {
				t.Errorf("reopened: %+v", st)
			}
		})
	}
}

// TestAttachDuringCommits pins a data race: Attach (from memo.New) against
// commits reading the attached tier's counts. Run with -race. It also
// checks that the counts of a tier attached during commits all arrive.
func TestAttachDuringCommits(t *testing.T) {
	s := openStore(t, tempPath(t), WithoutControl())
	ns := openNS(t, s, "a")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprint(i % 50)
			put(t, ns, k, record(k, 1, 0, "v"))
			if i%10 == 0 {
				flush(t, s)
			}
		}
	})
	var last *testTier
	for range 200 {
		last = &testTier{}
		ns.Attach(last)
		last.Hits.Add(1)
	}
	close(stop)
	wg.Wait()
	last.Hits.Add(1)
	flush(t, s)
	// Each tier's hits before the next Attach may or may not be counted,
	// but the last tier's, counted after its Attach, must be.
	if got := nsStats(t, s, "a").Hits; got < 2 || got > 201 {
		t.Fatalf("hits = %d, want the last tier's 2 and at most one per earlier tier", got)
	}
}

// TestNamespaceSpecInUse: a namespace is one set of entries, so its spec
// does not change while another process uses it at another. A follower
// that claimed it at version 2 while the holder used version 1 reset it
// in place: the holder went on writing version-1 records, and the
// follower was served them as version 2 (two releases of a program
// during a rolling upgrade, say). The claim is refused, both ways; once
// the other process is gone, the spec changes as before.
func TestNamespaceSpecInUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "spec.db")
	s := openStore(t, path)
	holderNS := openNSSpec(t, s, "n", spec("1"))
	now := time.Now().UnixNano()
	put(t, holderNS, "k", record("k", now, 0, "computed by version 1"))
	flush(t, s)

	follower := func() *control.Client {
		c, err := control.Dial(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	claim := func(c *control.Client, name, version string) error {
		data, _ := json.Marshal(spec(version))
		_, err := c.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: name, Data: data}, time.Second)
		return err
	}
	c := follower()
	if err := claim(c, "n", "2"); err == nil || !strings.Contains(err.Error(), `version "1"`) {
		t.Fatalf("a follower claims n at version 2 while the holder uses version 1: %v, want an error naming version 1", err)
	}
	wantValue(t, holderNS, "k", "computed by version 1")
	if st := nsStats(t, s, "n"); st.Version != "1" || st.Entries != 1 {
		t.Errorf("after the refused claim: %+v, want version 1 and its entry", st)
	}

	// The other way: a follower's spec stands against the holder's.
	if err := claim(c, "m", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Namespace(ctx, "m", spec("1")); err == nil || !strings.Contains(err.Error(), `version "2"`) {
		t.Errorf("the holder claims m at version 1 while a follower uses version 2: %v, want an error naming version 2", err)
	}

	// With the follower gone, the holder's own claim changes m's spec.
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := s.Namespace(ctx, "m", spec("1"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m at version 1 with its follower gone: %v", err)
		}
	}
	if st := nsStats(t, s, "m"); st.Version != "1" {
		t.Errorf("m after its follower left: version %q, want 1", st.Version)
	}
}
