package redisstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/store/driver"
)

// WriteFailureReminder is how often a store logs again that its writes
// keep failing: the first failure of a run is logged, the others are
// counted (write errors), and the run's end is logged when a write
// succeeds again, with how many failed.
const WriteFailureReminder = 10 * time.Minute

// writeFailures tracks a run of failed writes, so that it is logged
// once, not once a write.
type writeFailures struct {
	failing atomic.Bool // a run is on: a success logs its end
	mu      sync.Mutex
	failed  int64     // in this run
	since   time.Time // the run's first failure
	logged  time.Time // its last log line
}

// writeFailed records a write that failed with err (made with ctx), logs
// it if it is the first of a run (or the run has gone on for
// WriteFailureReminder since it was last logged), and returns the error
// for the caller: one that is store.ErrUnavailable too, as the failure is
// logged here, unless the caller's ctx ended or the store was closed.
func (s *redisStore) writeFailed(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, driver.ErrClosed) || ctx.Err() != nil {
		return err
	}
	if errorCode(err) != "" {
		err = s.explain(nil, err)
	}
	w := &s.writes
	now := s.opts.Clock.Now()
	w.mu.Lock()
	first := !w.failing.Load()
	if first {
		w.failing.Store(true)
		w.failed, w.since = 0, now
	}
	w.failed++
	failed, since := w.failed, w.since
	remind := !first && now.Sub(w.logged) >= WriteFailureReminder
	if first || remind {
		w.logged = now
	}
	w.mu.Unlock()
	// An outage is logged by outcome, once: no second line for it here.
	outage := errorCode(err) == "" && !errors.Is(err, redis.ErrPoolTimeout)
	switch {
	case first && !outage:
		s.log.Warn("memostore: a write to Redis failed; until writes succeed again, failures are counted (write errors), not logged",
			"path", s.loc, "err", err)
	case remind:
		s.log.Warn("memostore: writes to Redis still failing", "path", s.loc, "failed", failed,
			"since", since.Format(time.RFC3339), "err", err)
	}
	return &droppedError{err}
}

// writeOK records a write that succeeded, which ends a run of failures.
func (s *redisStore) writeOK() {
	w := &s.writes
	if !w.failing.Load() {
		return
	}
	w.mu.Lock()
	if !w.failing.Load() {
		w.mu.Unlock()
		return
	}
	w.failing.Store(false)
	failed, since := w.failed, w.since
	w.mu.Unlock()
	s.log.Info("memostore: writes to Redis succeed again", "path", s.loc, "failed", failed,
		"for", s.opts.Clock.Now().Sub(since).Round(time.Millisecond))
}

// A droppedError is a write that failed and was dropped, the failure
// logged by the store (see writeFailed): it is store.ErrUnavailable, so
// that callers need not log it again.
type droppedError struct{ err error }

func (e *droppedError) Error() string   { return e.err.Error() + "; write dropped" }
func (e *droppedError) Unwrap() []error { return []error{e.err, driver.ErrUnavailable} }
