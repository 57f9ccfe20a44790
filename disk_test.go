// Resource bounds and a failing disk: a full disk never fails a call, the
// write-behind queue stays within its budget, oversized values are
// returned and not stored.
package memostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// fillDisk writes a file in dir until the file system is full, and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xba}, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

func bigValue(k int) string {
	return fmt.Sprint(k, ":", strings.Repeat(string(rune('A'+k%26)), 4000+k%500))
}

// TestFullDisk runs a store on a small tmpfs and fills it: Calls keep
// returning their values and memoizing them in memory, the failures are
// logged and counted, the writer retries with back-off, the file stays
// consistent, and when space returns every queued write lands.
func TestFullDisk(t *testing.T) {
	t.Run("write-behind", func(t *testing.T) { testFullDisk(t, false, 0) })
	t.Run("sync writes", func(t *testing.T) { testFullDisk(t, true, 0) })
}

// TestFullDiskSmallQueue is TestFullDisk with a write-behind queue that
// the calls fill: writes beyond it are refused (counted), never waited
// for, since the disk may stay full. It found the bug that
// store/fault_test.go's TestQueueFullWhenCommitsStartFailing pins down
// (Calls blocked on a full disk until space returned; fixed in 9a34a04).
func TestFullDiskSmallQueue(t *testing.T) {
	testFullDisk(t, false, 64<<10)
}

func testFullDisk(t *testing.T, syncWrites bool, queueBytes int64) {
	dir := mountTmpfs(t, "8m")
	path := filepath.Join(dir, "full.db")
	ctx := context.Background()
	logOpt, logs := captureLog()
	opts := []store.Option{logOpt}
	if syncWrites {
		opts = append(opts, store.WithSyncWrites())
	}
	if queueBytes > 0 {
		opts = append(opts, store.WithQueueBytes(queueBytes))
	}
	s := openT(t, path, opts...)
	f, runs := bigFunc(t, s)
	call := func(k int) error {
		if v, err := f.Call(ctx, k); err != nil || v != bigValue(k) {
			return fmt.Errorf("Call(%d) = %.20q, %v; want its value and no error", k, v, err)
		}
		return nil
	}
	const before, total = 10, 300
	for k := range before - 1 {
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// One more written behind, and committed, without a Flush: the writer
	// is idle and nothing is urgent when the disk fills.
	if err := call(before - 1); err != nil {
		t.Fatal(err)
	}
	for s.Stats().Queued > 0 {
		time.Sleep(time.Millisecond)
	}

	ballast := fillDisk(t, dir)
	// 16 callers at once: the queue holds their writes before the writer
	// has tried to commit them.
	done := make(chan error, 1)
	var returned atomic.Int64
	go func() {
		var (
			next  atomic.Int64
			wg    sync.WaitGroup
			first atomic.Value
		)
		next.Store(before - 1)
		for range 16 {
			wg.Go(func() {
				for k := int(next.Add(1)); k < total; k = int(next.Add(1)) {
					if err := call(k); err != nil {
						first.CompareAndSwap(nil, err)
						return
					}
					returned.Add(1)
				}
			})
		}
		wg.Wait()
		err, _ := first.Load().(error)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Calls on a full disk are blocked: %d of %d returned after 5s", returned.Load(), total-before)
		os.Remove(ballast) // let them finish
		<-done
		t.FailNow()
	}
	if runs.Load() != total {
		t.Fatalf("fn ran %d times, want %d", runs.Load(), total)
	}
	for k := range total { // memoized in memory all the same
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != total {
		t.Fatalf("calls again on a full disk ran fn: %d runs, want %d", runs.Load(), total)
	}
	if err := s.Flush(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Flush on a full disk = %v, want ENOSPC", err)
	}
	if st := nsStats(t, s, "big"); st.WriteErrors == 0 {
		t.Errorf("no write errors counted on a full disk: %+v", st)
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the log does not report the full disk:\n%.2000s", logs.String())
	}

	// The writer retries with back-off: a few tries a second, not a
	// spinning loop, and not never. (With sync writes every Call has cut
	// the back-off short, which has grown to its bound of 1s meanwhile.)
	// Each "commit failed" line says how many commits failed since the
	// line before (failed=N).
	failures := func() int {
		n := 0
		for _, m := range regexp.MustCompile(`commit failed.*failed=(\d+)`).FindAllStringSubmatch(logs.String(), -1) {
			k, _ := strconv.Atoi(m[1])
			n += k
		}
		return n
	}
	// The line that follows a burst of failures counts the burst: once a
	// retry or two have logged it, the count starts.
	time.Sleep(2100 * time.Millisecond)
	n0 := failures()
	window, least := 2500*time.Millisecond, 2
	if syncWrites {
		window, least = 1500*time.Millisecond, 1
	}
	time.Sleep(window)
	if retries := failures() - n0; retries < least || retries > 25 {
		t.Errorf("the writer retried %d times in %v on a full disk; want back-off, between %d and 25", retries, window, least)
	} else {
		t.Logf("%d retries in %v on a full disk", retries, window)
	}
	// The file holds what was committed before the disk filled, and is
	// consistent, for this process and for another that copies it.
	wantCheckOK(t, s, "on a full disk")
	copied := filepath.Join(t.TempDir(), "copy.db")
	if data, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(copied, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cs := openT(t, copied, store.WithReadOnly())
	wantCheckOK(t, cs, "of a copy taken on a full disk")
	if st := cs.Stats(); st.Entries != before {
		t.Errorf("a copy taken on a full disk has %d entries, want the %d committed before", st.Entries, before)
	}
	cs.Close()

	// Space returns: the writer catches up on its own.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10s after space returned, %d writes still queued", s.Stats().Queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush after space returned: %v", err)
	}
	st := nsStats(t, s, "big")
	switch {
	case queueBytes == 0 && st.Entries != total:
		t.Errorf("after space returned: %d entries, want all %d", st.Entries, total)
	case st.Entries < before || st.Entries > total || st.WriteErrors < total-st.Entries:
		t.Errorf("after space returned: %d entries, %d write errors; want %d to %d entries, every missing one counted",
			st.Entries, st.WriteErrors, before, total)
	}
	wantCheckOK(t, s, "after space returned")
	if err := s.Close(); err != nil {
		t.Fatalf("Close after space returned: %v", err)
	}

	s = openT(t, path, opts...)
	runs.Store(0)
	f, err := memo.New(s, "big", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		return bigValue(k), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range total {
		if err := call(k); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != total-st.Entries {
		t.Errorf("after reopening, fn ran %d times; want %d, for the values not stored", runs.Load(), total-st.Entries)
	}
}

// TestOversizedValue: a value whose record exceeds store.MaxRecordBytes is
// returned and memoized in memory, but not written: the refusal is logged
// and counted, and the next process recomputes it. A large value under the
// limit is stored.
func TestOversizedValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.db")
	ctx := context.Background()
	logOpt, logs := captureLog()
	s := openT(t, path, logOpt)
	var runs atomic.Int64
	size := func(k int) int { return k }
	newF := func(s *store.Store) *memo.Func[int, []byte] {
		f, err := memo.New(s, "blob", func(_ context.Context, k int) ([]byte, error) {
			runs.Add(1)
			b := make([]byte, size(k))
			for i := 0; i < len(b); i += 4096 {
				b[i] = byte(k)
			}
			return b, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := newF(s)
	over, under := store.MaxRecordBytes, 1<<20 // a payload of MaxRecordBytes makes a record over it
	for range 2 {
		for _, k := range []int{over, under} {
			if v, err := f.Call(ctx, k); err != nil || len(v) != k || v[0] != byte(k) {
				t.Fatalf("Call(%d) = %d bytes, %v", k, len(v), err)
			}
		}
	}
	if runs.Load() != 2 {
		t.Errorf("fn ran %d times for two values called twice, want 2: the oversized value is memoized in memory", runs.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := nsStats(t, s, "blob")
	if st.WriteErrors != 1 || st.Entries != 1 || st.Bytes > 2<<20 {
		t.Errorf("stats %+v; want 1 write error and only the 1 MiB value stored", st)
	}
	if !strings.Contains(logs.String(), "MaxRecordBytes") {
		t.Errorf("the log does not say why the value was not stored:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	f = newF(s)
	runs.Store(0)
	for _, k := range []int{over, under} {
		if v, err := f.Call(ctx, k); err != nil || len(v) != k {
			t.Fatalf("Call(%d) after reopening = %d bytes, %v", k, len(v), err)
		}
	}
	if runs.Load() != 1 || f.Info().DiskHits != 1 {
		t.Errorf("after reopening: %d runs, %v; want the oversized value recomputed and the other from disk", runs.Load(), f.Info())
	}
}

// TestQueueBytesBound samples Stats while 16 goroutines write: the
// write-behind queue never holds more than WithQueueBytes.
func TestQueueBytesBound(t *testing.T) {
	const budget, queueCalls = 128 << 10, 1000
	s := openT(t, filepath.Join(t.TempDir(), "queue.db"), store.WithQueueBytes(budget))
	f, err := memo.New(s, "q", func(_ context.Context, k int) (string, error) {
		return strings.Repeat("q", 6000+k%3000), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		next    atomic.Int64
		writers sync.WaitGroup
		maxSeen atomic.Int64
		samples atomic.Int64
	)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			q := s.Stats().QueuedBytes
			samples.Add(1)
			if q > maxSeen.Load() {
				maxSeen.Store(q)
			}
		}
	}()
	for range 16 {
		writers.Go(func() {
			for k := next.Add(1); k <= queueCalls; k = next.Add(1) {
				if _, err := f.Call(ctx, int(k)); err != nil {
					t.Errorf("Call(%d): %v", k, err)
				}
			}
		})
	}
	writers.Wait()
	close(done)
	<-sampled
	t.Logf("the queue held up to %d bytes of its %d budget (%d samples)", maxSeen.Load(), budget, samples.Load())
	if m := maxSeen.Load(); m > budget {
		t.Errorf("the queue held %d bytes, over its budget of %d", m, budget)
	} else if m < budget/2 {
		t.Errorf("the queue never held more than %d bytes of its %d budget in %d samples: the test did not exercise it", m, budget, samples.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := nsStats(t, s, "q"); st.Entries != queueCalls || st.WriteErrors != 0 {
		t.Errorf("after the burst: %+v; want all entries, no write errors (backpressure waits, never drops)", st)
	}
}

// TestQueueBytesBoundLargeRecord: a record larger than the whole
// write-behind budget must not take the queue over it either.
//
// Such a record is written through (Put waits for its commit) instead of
// being queued.
func TestQueueBytesBoundLargeRecord(t *testing.T) {
	const budget = 64 << 10
	s := openT(t, filepath.Join(t.TempDir(), "large.db"), store.WithQueueBytes(budget))
	f, err := memo.New(s, "large", func(_ context.Context, k int) (string, error) {
		return strings.Repeat("L", 4*budget), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Call(context.Background(), 1); err != nil || len(v) != 4*budget {
		t.Fatalf("Call = %d bytes, %v", len(v), err)
	}
	// Written behind, the record waits about 10ms for the writer.
	if q := s.Stats().QueuedBytes; q > budget {
		t.Errorf("the queue holds %d bytes, over its budget of %d", q, budget)
	}
}

// bigFunc returns a Func of bigValue on s, namespace "big", with an
// unbounded memory tier, and the count of its runs of fn.
func bigFunc(t *testing.T, s *store.Store) (*memo.Func[int, string], *atomic.Int64) {
	t.Helper()
	runs := new(atomic.Int64)
	f, err := memo.New(s, "big", func(_ context.Context, k int) (string, error) {
		runs.Add(1)
		return bigValue(k), nil
	}, memo.MaxSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	return f, runs
}
