package redisstore

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// TestRedisWriteFailuresLoggedOnce: at maxmemory with noeviction the
// server refuses every write. 200 calls that each fail to store their
// result log one warning, not 200; the failures are counted, and when
// writes succeed again that is logged once, with how many were dropped.
// A run that goes on is logged again every WriteFailureReminder.
func TestRedisWriteFailuresLoggedOnce(t *testing.T) {
	srv := redistest.StartWith(t, "--maxmemory-policy", "noeviction")
	logOpt, logs := captureLog()
	clock := mtesting.NewFakeClock()
	s := openStore(t, srv.URL(), logOpt, store.WithClock(clock))
	f, err := memo.New(s.Store, "oom", func(_ context.Context, k int) (int, error) { return k, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := redistest.Client(t, srv.URL())
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for k := range 200 {
		if v, err := f.Call(ctx, k); err != nil || v != k {
			t.Fatalf("Call(%d) at OOM = %v, %v", k, v, err)
		}
	}
	warnings := strings.Count(logs.String(), "level=WARN")
	if warnings != 1 || !strings.Contains(logs.String(), "out of memory") {
		t.Errorf("200 refused writes logged %d warnings, want 1 that says out of memory:\n%s", warnings, logs)
	}
	clock.Advance(WriteFailureReminder)
	if _, err := f.Call(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "still failing"); n != 1 {
		t.Errorf("a run of failures %v long logged %d reminders, want 1:\n%s", WriteFailureReminder, n, logs)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `msg="memostore: writes to Redis succeed again" path=`+s.Path()+` failed=201`) {
		t.Errorf("the recovery was not logged with the count of dropped writes:\n%s", logs)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := mtesting.NSStats(t, s.Store, "oom"); st.WriteErrors != 201 {
		t.Errorf("write errors counted: %d, want 201", st.WriteErrors)
	}
}

// TestGoRedisLogger: go-redis's own lines, given to the logger that
// GoRedisLogger returns (the program passes it to redis.SetLogger), go to
// the slog.Logger, as warnings.
func TestGoRedisLogger(t *testing.T) {
	l, logs := mtesting.CaptureLog()
	var gl interface {
		Printf(ctx context.Context, format string, v ...any)
	} = GoRedisLogger(l)
	_ = func() { redis.SetLogger(GoRedisLogger(l)) } // what it is for; not run: it is process-wide
	gl.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 1, "refused")
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "failed to dial after 1 attempts: refused") ||
		!strings.Contains(s, "go-redis") {
		t.Errorf("go-redis's line logged as %q", s)
	}
}
