//go:build linux

package memostore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memostore/memostore/store"
)

// TestFullDiskLogsOncePerOutage: on a full disk with a small
// write-behind queue, writes beyond the queue are refused. The standard
// ("a failing disk never fails a Call: the failure logged once and
// counted") wants the refusals counted (WriteErrors), not one log line per
// Call: 200 calls during one outage must not write ~200 lines.
func TestFullDiskLogsOncePerOutage(t *testing.T) {
	t.Run("queue full", func(t *testing.T) { testFullDiskLogsOnce(t, store.WithQueueBytes(16<<10)) })
	t.Run("sync writes", func(t *testing.T) { testFullDiskLogsOnce(t, store.WithSyncWrites()) })
}

func testFullDiskLogsOnce(t *testing.T, opt store.Option) {
	dir := mountTmpfs(t, "8m")
	path := filepath.Join(dir, "full.db")
	ctx := context.Background()
	logOpt, logs := captureLog()
	s := openT(t, path, logOpt, opt)
	f, _ := bigFunc(t, s)
	if _, err := f.Call(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, dir)
	const calls = 200
	for k := 1; k <= calls; k++ {
		if v, err := f.Call(ctx, k); err != nil || v != bigValue(k) {
			t.Fatalf("Call(%d) = %.20q, %v on a full disk; want its value", k, v, err)
		}
	}
	st := nsStats(t, s, "big")
	if st.WriteErrors < calls/2 {
		t.Fatalf("%d write errors; the test expects most of the %d writes refused by the full queue", st.WriteErrors, calls)
	}
	perCall := strings.Count(logs.String(), "result not stored")
	commits := strings.Count(logs.String(), "commit failed")
	if perCall+commits > 10 {
		t.Errorf("%d calls on a full disk (%d write errors counted) wrote %d \"result not stored\" and %d \"commit failed\" log lines: about one per call, not one per outage; first lines:\n%.600s",
			calls, st.WriteErrors, perCall, commits, logs.String())
	}
}
