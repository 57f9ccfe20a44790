package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/tally"
)

// Flush pushes the counts gathered in this process to the server, and
// waits for the reclamations of keys no one reads that this process
// started (see startReclaim).
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
	if err == nil {
		err = s.waitReclaims(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: flush %s: %w", s.loc, err)
	}
	return nil
}

// runCounters pushes the counts gathered here every countsInterval,
// until ctx ends. While the server is out, it also probes it, so that an
// idle process learns when the server is back (and checks whether it
// missed a Clear: see outcome). Every reclaimInterval, it reclaims the
// keys no one reads in the namespaces claimed here (see reclaimDue).
func (s *redisStore) runCounters(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(countsInterval)
	defer t.Stop()
	lastReclaim := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.brk.Allow() {
				continue
			}
			if time.Since(lastReclaim) >= reclaimInterval {
				lastReclaim = time.Now()
				s.reclaimDue(ctx)
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
// push. The same round trip marks the pushing namespaces' versions used
// now, and puts back what the server may have lost (FLUSHALL, a restart
// without persistence, an eviction): the format key, the namespaces set,
// the meta hashes and the generations known here, none of them
// overwritten if present.
func (s *redisStore) pushCounts(ctx context.Context) (sent bool, err error) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	type push struct {
		sp     *redisNS
		d      tally.Counts // taken from sp.d
		tier   tally.Counts // the tier's counts now
		counts tally.Counts // what to add
		incrs  []*redis.IntCmd
	}
	var pushes []push
	s.mu.Lock()
	for _, sp := range s.claims {
		p := push{sp: sp}
		p.counts, p.d, p.tier = sp.unpushed()
		if p.counts != (tally.Counts{}) {
			pushes = append(pushes, p)
		}
	}
	s.mu.Unlock()
	if len(pushes) == 0 {
		return false, nil
	}
	now := s.opts.Clock.Now().UnixMilli()
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		incrs := func(p *push) {
			for _, f := range counterFields {
				if v := *f.of(&p.counts); v != 0 {
					p.incrs = append(p.incrs, pl.HIncrBy(ctx, p.sp.countKey, f.name, v))
				}
			}
		}
		pl.SetNX(ctx, s.prefix+":format", RedisFormatVersion, 0)
		if g := s.gen.Load(); g > 0 {
			pl.SetNX(ctx, s.genKey(), g, 0)
		}
		for i := range pushes {
			n := pushes[i].sp
			pl.SAdd(ctx, s.namespacesKey(), n.name)
			pl.Eval(ctx, hsetIfMissingSrc, []string{n.metaKey}, n.metaFields()...)
			pl.HSet(ctx, n.versionsKey, n.ver, now)
			if g := n.gens().ns; g > 0 {
				pl.SetNX(ctx, n.genKey, g, 0)
			}
			incrs(&pushes[i])
		}
		return nil
	})
	// A namespace's counts stay here for the next push only if the
	// server surely did not add them: a HINCRBY that failed before it was
	// sent (no connection), or that the server refused. One that may have
	// run (its reply late, or lost) counts as pushed: sending it again
	// would add it twice, and counts twice too high were worse than a few
	// lost. Nor does another command of the round trip failing (the
	// format or versions key, on another node of a cluster) keep them:
	// they were added all the same.
	s.mu.Lock()
	for _, p := range pushes {
		if !pushed(p.incrs) {
			continue
		}
		p.sp.d.Drop(&p.d)
		if p.sp.tier != nil {
			p.sp.pulled = p.tier
		}
	}
	s.mu.Unlock()
	return true, err
}

// pushed reports whether the server may have run the commands of cmds:
// each succeeded, or failed in a way that leaves it unknown (a timeout, a
// connection cut after the command was written).
func pushed(cmds []*redis.IntCmd) bool {
	for _, c := range cmds {
		err := c.Err()
		var reply redis.Error
		switch {
		case err == nil:
		case errors.As(err, &reply):
			return false // refused: not added
		case isTimeout(err):
		default:
			return false // not sent, most likely: no connection
		}
	}
	return true
}

// isTimeout reports whether err is a timeout, after which a command may
// have run.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// hsetIfMissingSrc sets the fields ARGV (name, value, ...) of the hash
// KEYS[1] if it does not exist.
const hsetIfMissingSrc = `if redis.call("EXISTS", KEYS[1]) == 0 then redis.call("HSET", KEYS[1], unpack(ARGV)) end return 0`

// unpushed returns what n counted that the server's counts do not hold
// yet: its deltas, d, plus what its memory tier counted since the last
// push (tier is the tier's counts now, zero without a tier). s.mu is held.
func (n *redisNS) unpushed() (counts, d, tier tally.Counts) {
	d = n.d.Peek()
	counts = d
	if n.tier != nil {
		tier = tally.Tier(n.tier)
		dt := tier.Minus(&n.pulled)
		counts.Add(&dt)
	}
	return counts, d, tier
}

// counterFields are the fields of a namespace's counts hash
// (PREFIX:NAME:counts), and the count each holds. Writes are counted on
// the server, by Put; the others are pushed by pushCounts.
var counterFields = []struct {
	name string
	of   func(*tally.Counts) *int64
}{
	{"hits", func(c *tally.Counts) *int64 { return &c.Hits }},
	{"misses", func(c *tally.Counts) *int64 { return &c.Misses }},
	{"disk_hits", func(c *tally.Counts) *int64 { return &c.DiskHits }},
	{"decode_errors", func(c *tally.Counts) *int64 { return &c.DecodeErrors }},
	{"write_errors", func(c *tally.Counts) *int64 { return &c.WriteErrors }},
	{"read_errors", func(c *tally.Counts) *int64 { return &c.ReadErrors }},
	{"writes", func(c *tally.Counts) *int64 { return &c.Writes }},
	{"refreshes", func(c *tally.Counts) *int64 { return &c.Refreshes }},
	{"stale_returns", func(c *tally.Counts) *int64 { return &c.StaleReturns }},
	{"cached_errors", func(c *tally.Counts) *int64 { return &c.CachedErrors }},
	{"saved_ns", func(c *tally.Counts) *int64 { return &c.Saved }},
}

// parseCounts reads a namespace's counts hash; a field that is missing or
// not a number counts 0.
func parseCounts(h map[string]string) tally.Counts {
	var c tally.Counts
	for _, f := range counterFields {
		*f.of(&c), _ = strconv.ParseInt(h[f.name], 10, 64)
	}
	return c
}
