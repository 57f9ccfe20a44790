package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/breaker"
	"github.com/memostore/memostore/store/driver"
)

// RedisFormatVersion is the layout of the keys a Redis store writes. A
// store refuses a server whose PREFIX:format key names a newer one.
const RedisFormatVersion = 1

// A redisStore is the Redis backend. Entries, metadata and tally.Counts live
// on the server; this process keeps only what it counted since its last
// push of counters, and the namespaces it claimed.
type redisStore struct {
	loc  string // the URL without its password
	opts config
	log  *slog.Logger
	rdb  redis.UniversalClient
	own  bool // Close closes rdb
	// sharded says keys lie on several servers (a Cluster, a Ring): no
	// command may name two keys (see getKeys), and a SCAN runs on each.
	sharded bool
	prefix  string // opts.prefix
	db      int    // the database number (0 on a cluster)
	id      string // this store's name in the messages it publishes
	brk     *breaker.Breaker

	closed atomic.Bool
	mu     sync.Mutex
	claims map[string]*redisNS // namespaces claimed in this process
	gen    atomic.Int64        // the store's generation, as last seen (see gens)

	reclaims []chan struct{} // reclamations started here, for Flush; guarded by mu

	pushMu sync.Mutex // one push of tally.Counts at a time
	writes writeFailures

	bg        context.Context // ends at Close; nil if read-only
	spawnMu   sync.Mutex      // orders spawn's wg.Add before Close's wg.Wait
	cancel    context.CancelFunc
	sub       *redis.PubSub
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Close refuses new operations, stops the goroutines (a reclamation of
// keys no one reads among them: see startReclaim), releases the computation
// locks still held, pushes the last counts and closes the client. Counts
// that fail to go are reported in the error; an operation still running
// when Close begins may count after the last push, and that count is
// lost.
func (s *redisStore) Close() error {
	s.closeOnce.Do(func() {
		s.spawnMu.Lock() // no goroutine starts after this (see spawn)
		s.closed.Store(true)
		s.spawnMu.Unlock()
		if !s.opts.ReadOnly {
			s.cancel()
			s.sub.Close()
			s.wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), times(2, s.opts.timeout))
			s.releaseLocks(ctx)
			if _, err := s.pushCounts(ctx); err != nil {
				s.closeErr = fmt.Errorf("store: close %s: counters not saved: %w", s.loc, err)
			}
			cancel()
		}
		if s.own {
			s.rdb.Close()
		}
	})
	return s.closeErr
}

// spawn runs f on a goroutine of the store's, which Close waits for
// after it ends s.bg, and reports whether it did: it does not once Close
// has begun, nor on a read-only store.
func (s *redisStore) spawn(f func()) bool {
	s.spawnMu.Lock()
	defer s.spawnMu.Unlock()
	if s.bg == nil || s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Path returns the server's URL without its password.
func (s *redisStore) Path() string { return s.loc }

// Sweep does nothing: Redis expires entries by itself.
func (s *redisStore) Sweep(context.Context) (int, error) { return 0, s.checkOpen() }

// checkOpen returns ErrClosed once Close has begun.
func (s *redisStore) checkOpen() error {
	if s.closed.Load() {
		return driver.ErrClosed
	}
	return nil
}

// outcome reports the outcome of an exchange with the server, made with
// ctx, to the breaker, and returns err, or ErrClosed if the store was
// closed meanwhile. A reply (redis.Nil, an error reply such as OOM) means
// the server answered; an error after ctx ended is the caller's doing.
// When the server answers again after an outage, the generations tell
// whether a Clear published meanwhile did not reach this process: the
// memory tiers of the namespaces it cleared are purged (see checkGens),
// and only those. A wait for a free connection of the client's pool is
// not the server's failure: the caller carries on without the server,
// and the breaker stays closed.
func (s *redisStore) outcome(ctx context.Context, err error) error {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) {
		if s.brk.OK() {
			s.log.Info("memostore: Redis is answering again", "path", s.loc)
			s.startCheckGens()
		}
		return err
	}
	if s.closed.Load() {
		return driver.ErrClosed
	}
	if errors.Is(err, redis.ErrPoolTimeout) {
		return err
	}
	if ended(ctx) == nil && s.brk.Fail() {
		s.log.Warn("memostore: Redis is not answering; carrying on without it", "path", s.loc, "err", err)
	}
	return err
}

// errNotAnswering is returned while the breaker keeps the server out.
var errNotAnswering = errors.New("Redis is not answering (retrying with back-off)")
