package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/expiry"
)

// writeLoad keeps s busy until stop is closed: puts, deletes and hits in
// two namespaces, entries that expire for the sweeper, and WithMaxBytes
// eviction if s has it. It returns once the load has started; wait waits
// for its goroutines, and ops counts the operations made so far.
func writeLoad(tb testing.TB, s *Store, stop chan struct{}) (wait func(), ops *atomic.Int64) {
	tb.Helper()
	nss := []*Namespace{openNS(tb, s, "a"), openNS(tb, s, "b")}
	ops = new(atomic.Int64)
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			ctx := context.Background()
			for i := 0; ; i++ {
				if i == 100 {
					started.Done()
				}
				select {
				case <-stop:
					if i < 100 {
						started.Done()
					}
					return
				default:
				}
				ops.Add(1)
				ns := nss[r.IntN(len(nss))]
				k := fmt.Sprintf("k%d", r.IntN(5000))
				now := s.Now()
				switch n := r.IntN(10); {
				case n < 6:
					exp := int64(0)
					if n < 3 {
						exp = now + int64(r.IntN(50))*int64(time.Millisecond)
					}
					ns.Put(ctx, key(k), record(k, now, exp, strings.Repeat("v", r.IntN(300))))
				case n < 8:
					ns.Delete(ctx, key(k))
				default:
					ns.Lookup(context.Background(), key(k), func([]byte, codec.Header) error { return nil })
					countHit(ns, true)
				}
			}
		}()
	}
	started.Wait()
	return wg.Wait, ops
}

// busy waits until the load has made n more operations.
func busy(ops *atomic.Int64, n int64) {
	for from := ops.Load(); ops.Load()-from < n; {
		time.Sleep(time.Millisecond)
	}
}

// checkAtRest closes s, checks the file at path with nothing running, and
// fails the test on any problem.
func checkAtRest(tb testing.TB, s *Store, path string) *driver.CheckReport {
	tb.Helper()
	closeStore(tb, s)
	ro := openStore(tb, path, WithReadOnly())
	rep, err := ro.Check(context.Background(), false, nil)
	if err != nil {
		tb.Fatalf("Check at rest: %v", err)
	}
	if !rep.OK() {
		tb.Fatalf("Check at rest found problems:\n%s", strings.Join(rep.Problems, "\n"))
	}
	return rep
}

// TestCheckLiveUnderWriteLoad checks a healthy store again and again while
// writers, the sweeper and eviction change it, as memoctl check does through
// the holder's control endpoint. Every check must find no problem; run with
// -race, it also shows that the check reads nothing the writer changes.
func TestCheckLiveUnderWriteLoad(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path, WithSweepInterval(5*time.Millisecond), WithMaxBytes(1<<20), WithQueueBytes(256<<10))
	stop := make(chan struct{})
	wait, ops := writeLoad(t, s, stop)
	ctx := context.Background()
	var checks, problems atomic.Int64
	var first []string
	for range 20 {
		busy(ops, 500)
		rep, err := s.Check(ctx, false, nil)
		if err != nil {
			close(stop)
			wait()
			t.Fatalf("Check: %v", err)
		}
		checks.Add(1)
		if !rep.OK() {
			problems.Add(int64(len(rep.Problems)))
			if first == nil {
				first = rep.Problems[:min(len(rep.Problems), 5)]
			}
		}
	}
	close(stop)
	wait()
	if problems.Load() > 0 {
		t.Fatalf("%d live checks of a healthy store reported %d problems; the first:\n%s",
			checks.Load(), problems.Load(), strings.Join(first, "\n"))
	}
	rep := checkAtRest(t, s, path)
	if rep.Records == 0 {
		t.Fatal("Check read no records: the load wrote nothing")
	}
}

// TestCheckFixUnderWriteLoad runs check --fix again and again while
// writers, the sweeper and eviction change the store, each time after
// putting namespace "a"'s counters off by 7 entries and 700 bytes. Each
// fix must find that and nothing else, and set the counters right: a fix
// counted from one view of the file and written into a later one leaves
// them off by what changed in between.
func TestCheckFixUnderWriteLoad(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path, WithSweepInterval(5*time.Millisecond), WithMaxBytes(1<<20), WithQueueBytes(256<<10))
	stop := make(chan struct{})
	wait, ops := writeLoad(t, s, stop)
	ctx := context.Background()
	var wrong []string
	for range 10 {
		busy(ops, 500)
		inWriter(t, s, func(_ *bolt.Tx, st *txState) error {
			for _, sp := range st.spaces {
				if sp.name == "a" {
					c := st.counters(sp)
					c.Entries += 7
					c.Bytes += 700
				}
			}
			return nil
		})
		rep, err := s.Check(ctx, true, nil)
		if err != nil {
			close(stop)
			wait()
			t.Fatalf("Check --fix: %v", err)
		}
		for _, l := range rep.Problems {
			if !strings.HasPrefix(l, `namespace "a": counters say `) {
				wrong = append(wrong, "problem: "+l)
			}
		}
		for _, l := range rep.Fixed {
			if !strings.HasPrefix(l, `namespace "a": counters set to `) {
				wrong = append(wrong, "fixed: "+l)
			}
		}
		if len(rep.Problems) != 1 || len(rep.Fixed) != 1 {
			wrong = append(wrong, fmt.Sprintf("%d problems and %d repairs, want 1 and 1", len(rep.Problems), len(rep.Fixed)))
		}
	}
	close(stop)
	wait()
	checkAtRest(t, s, path)
	if len(wrong) > 0 {
		t.Fatalf("check --fix under load: %d unexpected lines; the first:\n%s",
			len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
	}
}

// inWriter runs fn in a write transaction of s's writer and fails the
// test on error.
func inWriter(tb testing.TB, s *Store, fn func(*bolt.Tx, *txState) error) {
	tb.Helper()
	release, err := s.hold()
	if err != nil {
		tb.Fatal(err)
	}
	o := &op{kind: opFunc, wait: make(chan error, 1), fn: fn}
	if err := s.enqueue(context.Background(), o, release); err != nil {
		tb.Fatal(err)
	}
}

// TestCheckFixThenClose closes the store while check --fix is reading it.
// Both must return, and the repair be in the file: Check must not take the
// store's lifetime lock a second time while Close waits for it.
func TestCheckFixThenClose(t *testing.T) {
	path := tempPath(t)
	// Not closed by a cleanup: after a deadlock, that Close would wait
	// forever too.
	s, err := openWith(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ns := openNS(t, s, "n")
	for i := range 2500 {
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), 1, 0, "v"))
	}
	stray := expiry.AppendIndexKey(nil, 5, key("nothing"))
	inWriter(t, s, func(tx *bolt.Tx, _ *txState) error {
		return tx.Bucket([]byte("a/n")).Put(stray, nil)
	})

	closed := make(chan error, 1)
	var once bool
	progress := func(done, total int64) {
		if once {
			return
		}
		once = true
		go func() { closed <- s.Close() }()
		// Go on once Close has begun: it waits for the lifetime lock, or
		// has it.
		for !s.closed.Load() {
			if !s.life.TryRLock() {
				break
			}
			s.life.RUnlock()
		}
	}
	checked := make(chan error, 1)
	var rep *driver.CheckReport
	go func() {
		var err error
		rep, err = s.Check(context.Background(), true, progress)
		checked <- err
	}()
	deadlock := time.After(10 * time.Second)
	select {
	case err := <-checked:
		if err != nil && !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("Check --fix: %v", err)
		}
	case <-deadlock:
		t.Fatal("Check --fix did not return within 10s of Close (deadlock)")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-deadlock:
		t.Fatal("Close did not return within 10s (deadlock)")
	}
	if !once {
		t.Fatal("progress was never called: the test did not close during the check")
	}
	if want := "namespace \"n\": deleted a/" + hex.EncodeToString(stray); rep == nil || !slices.Contains(rep.Fixed, want) {
		t.Fatalf("Check --fix repairs = %v, want %q", rep, want)
	}
	ro := openStore(t, path, WithReadOnly())
	if rep, err := ro.Check(context.Background(), false, nil); err != nil || !rep.OK() {
		t.Fatalf("Check after reopening: %v %v", err, rep)
	}
}

// version1Record builds a record as record version 1 wrote it: its
// checksum covers the version, the timestamps and the payload, not the key.
func version1Record(storedAt int64, v string) []byte {
	rec := []byte{1}
	rec = binary.BigEndian.AppendUint64(rec, uint64(storedAt))
	rec = binary.BigEndian.AppendUint64(rec, 0)
	payload := codec.AppendString(nil, v)
	sum := crc32.Checksum(append(bytes.Clone(rec), payload...), crc32.MakeTable(crc32.Castagnoli))
	return append(binary.BigEndian.AppendUint32(rec, sum), payload...)
}

// TestCheckFixVersion1DamagedKey: records of version 1, whose checksum
// leaves out the key, are read as they were written. One whose key was
// damaged ("carol" become "carom") passes its checksum, but not its
// indexes, which name "carol": check --fix deletes it, and the index key
// that points nowhere, instead of indexing the record under the wrong key.
func TestCheckFixVersion1DamagedKey(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	put(t, openNS(t, s, "n"), "alice", record("alice", 1, 0, "alice's value"))
	closeStore(t, s)
	bob, carol := version1Record(2, "bob's value"), version1Record(3, "carol's value")
	carolIndex := expiry.AppendIndexKey(nil, 3, key("carol"))
	updateBolt(t, path, func(tx *bolt.Tx) error {
		d, a := tx.Bucket([]byte("d/n")), tx.Bucket([]byte("a/n"))
		for _, kv := range []struct{ k, rec, ik []byte }{
			{key("bob"), bob, expiry.AppendIndexKey(nil, 2, key("bob"))},
			{key("carom"), carol, carolIndex},
		} {
			if err := d.Put(kv.k, kv.rec); err != nil {
				return err
			}
			if err := a.Put(kv.ik, nil); err != nil {
				return err
			}
		}
		cb := tx.Bucket(bucketCounters)
		c := unmarshalCounters(cb.Get([]byte("n")))
		c.Entries += 2
		c.Bytes += int64(len(key("bob")) + len(bob) + len(key("carom")) + len(carol))
		return cb.Put([]byte("n"), marshalCounters(&c))
	})

	s = openStore(t, path)
	ns := openNS(t, s, "n")
	wantValue(t, ns, "bob", "bob's value") // version 1, read as written
	ctx := context.Background()
	rep, err := s.Check(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`namespace "n": key ` + hex.EncodeToString(key("carom")) + `: missing from the age index`,
		`namespace "n": index a: key ` + hex.EncodeToString(carolIndex) + ` points to no record`,
	}
	if !slices.Equal(rep.Problems, want) {
		t.Fatalf("Check problems:\n%s\nwant:\n%s", strings.Join(rep.Problems, "\n"), strings.Join(want, "\n"))
	}
	rep, err = s.Check(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		`namespace "n": deleted d/` + hex.EncodeToString(key("carom")),
		`namespace "n": deleted a/` + hex.EncodeToString(carolIndex),
	}
	if !slices.Equal(rep.Fixed, want) {
		t.Fatalf("Check --fix repairs:\n%s\nwant:\n%s", strings.Join(rep.Fixed, "\n"), strings.Join(want, "\n"))
	}
	wantMiss(t, ns, "carom")
	wantValue(t, ns, "bob", "bob's value")
	wantValue(t, ns, "alice", "alice's value")
	if st := nsStats(t, s, "n"); st.Entries != 2 {
		t.Errorf("Entries = %d after the fix, want 2", st.Entries)
	}
	checkAtRest(t, s, path)
}

// TestCheckLiveGivesWay: a commit that must grow bbolt's mapping of the
// file waits for every read transaction, and every read begun after it
// waits for the commit. A live check, whose record pass is one long read
// transaction, must give way to it rather than hold every caller up until
// its end.
func TestCheckLiveGivesWay(t *testing.T) {
	// A queue that takes the large record below: Put must not wait for
	// its commit, which waits for the check.
	s := openStore(t, tempPath(t), WithQueueBytes(32<<20))
	ns := openNS(t, s, "n")
	for i := range 3000 {
		put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), 1, 0, "v"))
	}
	flush(t, s)

	inPass := make(chan struct{})
	proceed := make(chan struct{})
	flushed := make(chan error, 1)
	calls := 0
	progress := func(done, total int64) {
		calls++
		switch {
		case calls == 1:
			close(inPass)
			<-proceed
		case done < total:
			// The pass goes on only once the commit is through: it
			// cannot be while the pass holds its transaction.
			select {
			case err := <-flushed:
				flushed <- err
			case <-time.After(10 * time.Second):
				t.Error("the check did not give way to the commit within 10s")
			}
		}
	}
	checked := make(chan error, 1)
	var rep *driver.CheckReport
	go func() {
		var err error
		rep, err = s.Check(context.Background(), false, progress)
		checked <- err
	}()
	<-inPass
	// A record far larger than the file: its commit must grow the mapping.
	put(t, ns, "large", record("large", 2, 0, strings.Repeat("x", 8<<20)))
	go func() { flushed <- s.Flush(context.Background()) }()
	for {
		at := s.committing.Load()
		if at != 0 && time.Since(time.Unix(0, at)) > giveWayAfter {
			break
		}
		select {
		case err := <-flushed:
			t.Fatalf("the commit went through (%v) while the check held its read transaction: it did not need to grow the mapping", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(proceed)
	if err := <-checked; err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if !rep.OK() || rep.Records < 3000 {
		t.Fatalf("Check: %d records, problems %v", rep.Records, rep.Problems)
	}
}
