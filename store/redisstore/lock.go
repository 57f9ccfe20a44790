package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/store/driver"
)

// Acquire takes the computation lock on key or waits for another process
// to store it (see Namespace.Acquire). Taking the lock and reading the key
// again share one round trip; the lock is released by the Put of the
// result, in the Put's round trip, or by release.
func (n *redisNS) Acquire(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, func(), error) {
	s := n.s
	nothing := func() {}
	if s.checkOpen() != nil || !s.brk.Allow() {
		return false, nothing, nil
	}
	lockKey := n.lockKey(key)
	var t [16]byte
	_, _ = rand.Read(t[:])
	token := hex.EncodeToString(t[:])
	var stopRenew func()
	release := func() {
		if stopRenew != nil {
			stopRenew()
		}
		n.unlock(lockKey, token)
	}
	deadline := time.Now().Add(s.opts.lockWait)
	hardDeadline := time.Now().Add(times(maxWaitFactor, s.opts.lockWait))
	var (
		lastTTL  time.Duration // the lock's TTL at the last look
		lastSeen time.Time
	)
	wait := 2 * time.Millisecond
	for {
		var (
			setnx *redis.BoolCmd
			get   func() ([]any, error)
			pttl  *redis.DurationCmd
		)
		g := n.gens()
		k := g.entryKey(key)
		cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			setnx = p.SetNX(ctx, lockKey, token, s.opts.lockTTL)
			get = s.getKeys(ctx, p, s.genKey(), n.genKey, k)
			pttl = p.PTTL(ctx, lockKey)
			return nil
		})
		if err := s.outcome(ctx, pipeErr(cmds, err)); err != nil {
			if cerr := ended(ctx); cerr != nil {
				// The SET may have been done before ctx ended: undo it.
				n.held.Store(lockKey, token)
				release()
				return false, nothing, cerr
			}
			// The server is failing: a lock it may hold expires by itself.
			return false, nothing, nil
		}
		got := setnx.Val()
		if got {
			n.held.Store(lockKey, token)
		}
		// The key may have been stored since the caller's miss: by the
		// holder this one waited for, or by one that came and went. Not
		// if a Clear raised the generations: it is then of an older one.
		var rec []byte
		if vals, _ := get(); len(vals) == 3 && !n.learn(g, vals[0], vals[1]) {
			if v, ok := vals[2].(string); ok {
				rec = []byte(v)
			}
		}
		if n.decodeFound(ctx, k, key, rec, decode) {
			if got {
				release()
			}
			return true, nothing, nil
		}
		if got {
			stopRenew = n.startRenew(lockKey, token)
			return false, release, nil
		}
		// Another process holds the lock. While it renews it, it is alive
		// and computing: wait for it, past WithLockWait. It renewed if the
		// TTL is longer than the last one seen, less the time since.
		// Never for ever: at most maxWaitFactor times WithLockWait.
		now := time.Now()
		if ttl := pttl.Val(); ttl > 0 && lastTTL > 0 && ttl > lastTTL-now.Sub(lastSeen)+5*time.Millisecond {
			deadline = now.Add(s.opts.lockWait)
			if deadline.After(hardDeadline) {
				deadline = hardDeadline
			}
		}
		lastTTL, lastSeen = pttl.Val(), now
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, nothing, ctx.Err()
		case <-timer.C:
		}
		if time.Now().After(deadline) {
			s.log.Warn("memostore: gave up waiting for another process to compute a key; computing it here",
				"path", s.loc, "namespace", n.name, "waited", s.opts.lockWait)
			return false, nothing, nil
		}
		if !s.brk.Allow() {
			return false, nothing, nil
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// unlock releases the lock lockKey if this process holds it with token
// (not if a Put released it already).
func (n *redisNS) unlock(lockKey, token string) {
	if !n.held.CompareAndDelete(lockKey, token) {
		return // released by Put, or never taken
	}
	// The caller's ctx may have ended: release on a fresh one.
	s := n.s
	rctx, cancel := context.WithTimeout(context.Background(), s.opts.timeout)
	defer cancel()
	s.outcome(rctx, s.rdb.Eval(rctx, delIfEqualSrc, []string{lockKey}, token).Err())
}

// TryClaim takes key's computation lock without reading the key or
// waiting (see driver.Claimer), for a background refresh: false if
// another process holds the lock (it computes or refreshes the key).
// Held, the lock is renewed as Acquire's is, and released by the Put of
// the result or by release. A server that does not answer is no reason
// to skip a refresh: TryClaim then reports true, without a lock.
func (n *redisNS) TryClaim(ctx context.Context, key []byte) (func(), bool) {
	s := n.s
	nothing := func() {}
	if s.checkOpen() != nil || !s.brk.Allow() {
		return nothing, true
	}
	lockKey := n.lockKey(key)
	var t [16]byte
	_, _ = rand.Read(t[:])
	token := hex.EncodeToString(t[:])
	got, err := s.rdb.SetNX(ctx, lockKey, token, s.opts.lockTTL).Result()
	if s.outcome(ctx, err) != nil {
		return nothing, true
	}
	if !got {
		return nothing, false
	}
	n.held.Store(lockKey, token)
	stopRenew := n.startRenew(lockKey, token)
	return func() {
		stopRenew()
		n.unlock(lockKey, token)
	}, true
}

// maxWaitFactor bounds how long Acquire waits for a live holder that keeps
// renewing its lock: maxWaitFactor times WithLockWait.
const maxWaitFactor = 10

// delIfEqualSrc deletes KEYS[1] if it holds ARGV[1]: the check-and-delete
// that releases a lock only for the token that took it, and drops a bad
// record only if no one replaced it. It is sent with EVAL, not EVALSHA: it
// is short, and a restarted server has forgotten every script.
const delIfEqualSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// startRenew starts renew for the lock lockKey, held with token, unless
// the store is closing, and returns the function that stops it.
func (n *redisNS) startRenew(lockKey, token string) (stop func()) {
	ch := make(chan struct{})
	var once sync.Once
	n.s.spawn(func() { n.renew(lockKey, token, ch) }) // if not, Close releases the lock
	return func() { once.Do(func() { close(ch) }) }
}

// renewIfEqualSrc extends a lock's TTL (ARGV[2] ms) if it still holds
// the token ARGV[1]: only its holder renews a lock.
const renewIfEqualSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`

// renew keeps the lock lockKey, held with token, alive while its holder
// computes: every third of the lock's TTL it extends the TTL, as long as
// the lock still holds token (a Put of the result releases it, and
// release stops renew). So a computation longer than WithLockTTL keeps
// its lock, and waiters keep waiting for it; a holder that dies stops
// renewing, and its lock expires within WithLockTTL. Close stops it.
func (n *redisNS) renew(lockKey, token string, stop <-chan struct{}) {
	s := n.s
	t := time.NewTicker(s.opts.lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.bg, s.opts.timeout)
		renewed, err := s.rdb.Eval(ctx, renewIfEqualSrc, []string{lockKey}, token, s.opts.lockTTL.Milliseconds()).Int()
		cancel()
		if err == nil && renewed == 0 {
			return // released by the Put, or lost
		}
	}
}

// releaseLocks deletes the computation locks still held in this process,
// in one round trip, so that no other process waits for a computation
// that Close cut short.
func (s *redisStore) releaseLocks(ctx context.Context) {
	s.mu.Lock()
	spaces := make([]*redisNS, 0, len(s.claims))
	for _, sp := range s.claims {
		spaces = append(spaces, sp)
	}
	s.mu.Unlock()
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sp := range spaces {
			sp.held.Range(func(k, token any) bool {
				if sp.held.CompareAndDelete(k, token) {
					p.Eval(ctx, delIfEqualSrc, []string{k.(string)}, token)
				}
				return true
			})
		}
		return nil
	})
}

// ended returns ctx's error if it ended, or context.DeadlineExceeded if
// its deadline has passed: a connection's deadline, set from ctx's, may
// end an exchange a moment before ctx's own timer marks ctx done.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
