package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
)

// Flush pushes the counts gathered in this process to the server.
func (s *redisStore) Flush(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return nil
	}
	sent, err := s.pushCounts(ctx)
	if sent {
		err = s.outcome(ctx, err)
	}
	if err != nil {
		return fmt.Errorf("store: flush %s: %w", s.loc, err)
	}
	return nil
}

// runCounters pushes the counts gathered here every countsInterval,
// until ctx ends. While the server is out, it also probes it, so that an
// idle process learns when the server is back (and purges its memory
// tiers: see outcome).
func (s *redisStore) runCounters(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(countsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.brk.Allow() {
				continue
			}
			sent, err := s.pushCounts(ctx)
			if !sent && s.brk.Down() {
				// This call is the breaker's probe: with no counts to
				// carry, a PING tells whether the server is back.
				sent, err = true, s.rdb.Ping(ctx).Err()
			}
			if sent {
				s.outcome(ctx, err)
			}
		}
	}
}

// pushCounts adds the counts gathered since the last push to the
// server's hashes, in one round trip, and reports whether it sent any:
// with nothing to send it does not ask the server, and its nil error says
// nothing of the server. Counts that fail to go stay here for the next
// push.
func (s *redisStore) pushCounts(ctx context.Context) (sent bool, err error) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	type push struct {
		sp     *redisNS
		d      tally.Counts // taken from sp.d
		tier   tally.Counts // the tier's counts now
		counts tally.Counts // what to add
	}
	var pushes []push
	s.mu.Lock()
	for _, sp := range s.claims {
		p := push{sp: sp, d: sp.d.Peek()}
		p.counts = p.d
		if sp.tier != nil {
			p.tier = tally.Tier(sp.tier)
			dt := p.tier.Minus(&sp.pulled)
			p.counts.Add(&dt)
		}
		if p.counts != (tally.Counts{}) {
			pushes = append(pushes, p)
		}
	}
	s.mu.Unlock()
	if len(pushes) == 0 {
		return false, nil
	}
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for _, p := range pushes {
			c := p.counts
			for _, f := range []struct {
				name string
				v    int64
			}{{"hits", c.Hits}, {"misses", c.Misses}, {"disk_hits", c.DiskHits},
				{"decode_errors", c.DecodeErrors}, {"write_errors", c.WriteErrors}, {"read_errors", c.ReadErrors}} {
				if f.v != 0 {
					pl.HIncrBy(ctx, p.sp.countKey, f.name, f.v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	s.mu.Lock()
	for _, p := range pushes {
		p.sp.d.Drop(&p.d)
		if p.sp.tier != nil {
			p.sp.pulled = p.tier
		}
	}
	s.mu.Unlock()
	return true, nil
}
