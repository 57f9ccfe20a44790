package expiry

import (
	"context"
	"time"
)

// DefaultSweepInterval is how often a store sweeps expired entries unless
// told otherwise.
const DefaultSweepInterval = time.Minute

// RunSweeper calls sweep every interval until ctx ends, then returns. It is
// the body of a store's sweeper goroutine; the store owns the goroutine and
// ends it by cancelling ctx. An interval of zero or less returns at once
// (sweeping disabled). Errors are reported to onErr, if not nil, and do not
// stop the loop: the next tick tries again.
func RunSweeper(ctx context.Context, interval time.Duration, sweep func(context.Context) (int, error), onErr func(error)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := sweep(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
