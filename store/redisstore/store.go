package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/internal/breaker"
	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/codec"
)

// RedisFormatVersion is the layout of the keys a Redis store writes. A
// store refuses a server whose PREFIX:format key names a newer one.
const RedisFormatVersion = 1

// A redisStore is the Redis backend. Entries, metadata and tally.Counts live
// on the server; this process keeps only what it counted since its last
// push of counters, and the namespaces it claimed.
type redisStore struct {
	loc    string // the URL without its password
	opts   config
	log    *slog.Logger
	rdb    redis.UniversalClient
	own    bool   // Close closes rdb
	prefix string // opts.prefix
	id     string // this store's name in the messages it publishes
	brk    *breaker.Breaker

	closed atomic.Bool
	mu     sync.Mutex
	claims map[string]*redisNS // namespaces claimed in this process

	pushMu sync.Mutex // one push of tally.Counts at a time

	bg        context.Context // ends at Close; nil if read-only
	renewMu   sync.Mutex      // orders startRenew's wg.Add before Close's wg.Wait
	cancel    context.CancelFunc
	sub       *redis.PubSub
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// A redisNS is a namespace of the Redis backend.
type redisNS struct {
	s        *redisStore
	name     string
	spec     driver.NamespaceSpec
	ver      string // fingerprint of spec, the VERSION part of its keys
	base     string // PREFIX:NAME: (NAME with ':' escaped)
	data     string // PREFIX:NAME:VERSION:d:
	lock     string // PREFIX:NAME:VERSION:l:
	metaKey  string // PREFIX:NAME:meta
	countKey string // PREFIX:NAME:counts

	held   sync.Map          // computation locks held here: lock key → token
	d      tally.Deltas      // counted here, not yet pushed
	tier   driver.MemoryTier // guarded by s.mu
	pulled tally.Counts      // the tier's counts already pushed; guarded by s.mu
}

// openURL connects to the server at rawURL (see Open) and opens the
// store there. The client it makes is the store's, which Close closes.
func openURL(rawURL string, o driver.Options) (driver.Store, error) {
	c := settings(o)
	loc := redactURL(rawURL)
	rawURL, prefix, err := splitPrefix(rawURL)
	if err != nil {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	if c.prefix == "" {
		c.prefix = prefix
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	// Every exchange is bounded by the timeout; the breaker (not the
	// client's retries) decides when to try a failing server again. No
	// retries at all: a command re-sent after a timeout may run twice (a
	// second HINCRBY, a SET NX that fails against its own first try).
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = c.timeout, c.timeout, c.timeout, c.timeout
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DisableIdentity = true
	return open(redis.NewClient(ro), true, loc, c)
}

// open opens the store on the server client talks to, and checks that it
// answers and holds no newer layout under the prefix. own says Close
// closes client.
func open(client redis.UniversalClient, own bool, loc string, o config) (*redisStore, error) {
	if o.prefix == "" {
		o.prefix = DefaultPrefix
	}
	if strings.Contains(o.prefix, ":") {
		// PREFIX:NAME: must name one namespace: "a:b" + ":c:" would be
		// "a" + ":b:c:".
		if own {
			client.Close()
		}
		return nil, fmt.Errorf("store: open %s: prefix %q must not contain ':'", loc, o.prefix)
	}
	s := &redisStore{
		loc:    loc,
		opts:   o,
		log:    o.Logger,
		rdb:    client,
		own:    own,
		prefix: o.prefix,
		claims: map[string]*redisNS{},
		brk:    breaker.New(2*o.timeout + 100*time.Millisecond),
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.id = hex.EncodeToString(id[:])
	ctx, cancel := context.WithTimeout(context.Background(), 2*o.timeout)
	defer cancel()
	if err := s.checkFormat(ctx); err != nil {
		if own {
			s.rdb.Close()
		}
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	if o.ReadOnly {
		return s, nil
	}
	bg, stop := context.WithCancel(context.Background())
	s.bg, s.cancel = bg, stop
	s.sub = s.rdb.Subscribe(bg, s.clearChannel())
	s.wg.Add(2)
	go s.runCounters(bg)
	go s.runClearListener()
	return s, nil
}

// checkFormat records the layout version under the prefix, or checks the
// one recorded.
func (s *redisStore) checkFormat(ctx context.Context) error {
	key := s.prefix + ":format"
	if !s.opts.ReadOnly { // read-only: write nothing, on a replica too
		if err := s.rdb.SetNX(ctx, key, RedisFormatVersion, 0).Err(); err != nil {
			return fmt.Errorf("cannot reach Redis: %w", err)
		}
	}
	v, err := s.rdb.Get(ctx, key).Int()
	if errors.Is(err, redis.Nil) && s.opts.ReadOnly {
		return nil // nothing stored under the prefix yet
	}
	if err != nil && s.opts.ReadOnly && !errors.As(err, new(redis.Error)) {
		return fmt.Errorf("cannot reach Redis: %w", err)
	}
	if err != nil {
		return fmt.Errorf("%w: %s does not hold a format version: %v", driver.ErrCorrupt, key, err)
	}
	if v > RedisFormatVersion {
		return fmt.Errorf("%w: keys under %q are of format %d, newer than this version of memostore reads (%d)",
			driver.ErrCorrupt, s.prefix, v, RedisFormatVersion)
	}
	return nil
}

// splitPrefix takes memostore's own parameter, prefix, out of a URL's
// query, which go-redis would reject.
func splitPrefix(rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	prefix := q.Get("prefix")
	if prefix == "" {
		return rawURL, "", nil
	}
	q.Del("prefix")
	u.RawQuery = q.Encode()
	return u.String(), prefix, nil
}

// redactURL returns rawURL without its password, for messages and Stats.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "redis://(unparsable URL)"
	}
	return u.Redacted()
}

func (s *redisStore) clearChannel() string  { return s.prefix + ":clear" }
func (s *redisStore) namespacesKey() string { return s.prefix + ":namespaces" }

// keyBase returns PREFIX:NAME: for a namespace. Names may hold ':', which
// is escaped as %3A ('%' is not allowed in names), so that no namespace's
// keys start with another's base and a SCAN of one never sees another.
func (s *redisStore) keyBase(name string) string {
	return s.prefix + ":" + strings.ReplaceAll(name, ":", "%3A") + ":"
}

// fingerprint names a namespace's spec in its keys: a changed version or
// type moves the namespace to new keys.
func fingerprint(spec driver.NamespaceSpec) string {
	h := sha256.Sum256([]byte(strings.Join([]string{spec.Version, spec.KeyType, spec.KeyID, spec.ValueType, spec.ValueID}, "\x00")))
	return hex.EncodeToString(h[:8])
}

// globEscape escapes the characters SCAN's MATCH gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

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
// When the server answers again after an outage, the memory tiers of this
// process are purged: a Clear published meanwhile did not reach them.
func (s *redisStore) outcome(ctx context.Context, err error) error {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) {
		if s.brk.OK() {
			s.log.Info("memostore: Redis is answering again; memory tiers purged, as clears may have been missed", "path", s.loc)
			s.purge("", false)()
		}
		return err
	}
	if s.closed.Load() {
		return driver.ErrClosed
	}
	if ctx.Err() == nil && s.brk.Fail() {
		s.log.Warn("memostore: Redis is not answering; carrying on without it", "path", s.loc, "err", err)
	}
	return err
}

// namespace claims the namespace name for this process (see
// Store.Namespace). A changed spec moves the namespace to new keys; the
// old ones are deleted here, a page of SCAN at a time.
func (s *redisStore) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (driver.Namespace, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if s.opts.ReadOnly {
		return nil, fmt.Errorf("store: namespace %q: %s is open read-only", name, s.loc)
	}
	sp := s.newNS(name, spec)
	s.mu.Lock()
	if s.claims[name] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q is already in use in this process", name)
	}
	s.claims[name] = sp
	s.mu.Unlock()
	if err := s.claim(ctx, sp); err != nil {
		s.mu.Lock()
		delete(s.claims, name)
		s.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q in %s: %w", name, s.loc, s.outcome(ctx, err))
	}
	return sp, nil
}

func (s *redisStore) newNS(name string, spec driver.NamespaceSpec) *redisNS {
	base := s.keyBase(name)
	ver := fingerprint(spec)
	return &redisNS{
		s: s, name: name, spec: spec, ver: ver, base: base,
		data:     base + ver + ":d:",
		lock:     base + ver + ":l:",
		metaKey:  base + "meta",
		countKey: base + "counts",
	}
}

// claim records sp's spec on the server. If another spec was recorded,
// its entries are dropped and the drop is logged.
func (s *redisStore) claim(ctx context.Context, sp *redisNS) error {
	meta, err := s.rdb.HGetAll(ctx, sp.metaKey).Result()
	if err != nil {
		return err
	}
	if meta["fingerprint"] == sp.ver {
		return s.rdb.SAdd(ctx, s.namespacesKey(), sp.name).Err()
	}
	if old := meta["fingerprint"]; old != "" {
		s.log.Warn("memostore: namespace changed; dropping its entries",
			"path", s.loc, "namespace", sp.name,
			"old_version", meta["version"], "new_version", sp.spec.Version,
			"old_key", meta["key_type"], "new_key", sp.spec.KeyType,
			"old_value", meta["value_type"], "new_value", sp.spec.ValueType)
		if _, err := s.unlinkMatching(ctx, globEscape(sp.base+old+":")+"*"); err != nil {
			return err
		}
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, sp.countKey)
		p.HSet(ctx, sp.metaKey, map[string]any{
			"version": sp.spec.Version, "key_type": sp.spec.KeyType, "key_id": sp.spec.KeyID,
			"value_type": sp.spec.ValueType, "value_id": sp.spec.ValueID,
			"fingerprint": sp.ver, "created": strconv.FormatInt(s.opts.Clock.Now().UnixNano(), 10),
		})
		p.SAdd(ctx, s.namespacesKey(), sp.name)
		return nil
	})
	return err
}

// unlinkMatching deletes the keys that match pattern, a page of SCAN at a
// time, and returns how many it deleted. It never uses KEYS or FLUSHDB:
// the server stays responsive however many keys there are.
func (s *redisStore) unlinkMatching(ctx context.Context, pattern string) (int64, error) {
	var (
		cursor uint64
		total  int64
	)
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return total, err
		}
		if len(keys) > 0 {
			n, err := s.rdb.Unlink(ctx, keys...).Result()
			if err != nil {
				return total, err
			}
			total += n
		}
		if next == 0 {
			return total, nil
		}
		cursor = next
	}
}

// Lookup reads key from the server (see Namespace.Lookup).
func (n *redisNS) Lookup(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, error) {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	if !s.brk.Allow() {
		n.d.ReadErrors.Add(1)
		return false, nil
	}
	k := n.data + string(key)
	rec, err := s.rdb.Get(ctx, k).Bytes()
	if err = s.outcome(ctx, err); err != nil && !errors.Is(err, redis.Nil) {
		if err == driver.ErrClosed {
			return false, driver.ErrClosed
		}
		n.d.ReadErrors.Add(1)
		return false, nil
	}
	return n.decodeFound(ctx, k, key, rec, decode), nil
}

// decodeFound decodes rec, the record read from the Redis key k (nil if absent)
// for the store's key, and reports whether decode took it. A record that
// fails its checksum (which covers key, not k) or that decode rejects is
// counted, logged and deleted.
func (n *redisNS) decodeFound(ctx context.Context, k string, key, rec []byte, decode driver.DecodeFunc) bool {
	if rec == nil {
		return false
	}
	s := n.s
	ok, err := driver.OpenRecord(rec, key, s.opts.Clock.Now().UnixNano(), decode)
	if err == nil {
		return ok
	}
	n.d.DecodeErrors.Add(1)
	s.log.Warn("memostore: dropping a record that does not decode", "path", s.loc, "namespace", n.name, "err", err)
	// Delete it only if it is still the bad record: another process may
	// have replaced it with a good one meantime.
	ctx = context.WithoutCancel(ctx)
	s.outcome(ctx, s.rdb.Eval(ctx, delIfEqualSrc, []string{k}, rec).Err())
	return false
}

// Put writes rec under key with its TTL, and counts the write, in one
// round trip (see Namespace.Put).
func (n *redisNS) Put(ctx context.Context, key, rec []byte) error {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return err
	}
	h, err := codec.ParseHeader(rec) // checked by store: no error
	if err != nil {
		return err
	}
	var ttl time.Duration // 0: no expiry
	if h.ExpiresAt != 0 {
		ttl = time.Duration(h.ExpiresAt - s.opts.Clock.Now().UnixNano())
		if ttl <= 0 {
			return nil // expired already: nothing to keep
		}
		ttl = max(ttl.Round(time.Millisecond), time.Millisecond)
	}
	if !s.brk.Allow() {
		n.d.WriteErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w; write dropped", n.name, driver.ErrUnavailable)
	}
	// The record, its count and the release of the caller's computation
	// lock on key, if it holds one, go in one round trip. If it fails,
	// the lock stays held here for the caller's release to delete.
	lockKey := n.lock + string(key)
	token, locked := n.held.Load(lockKey)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.data+string(key), rec, ttl)
		p.HIncrBy(ctx, n.countKey, "writes", 1)
		if locked {
			p.Eval(ctx, delIfEqualSrc, []string{lockKey}, token)
		}
		return nil
	})
	if err = s.outcome(ctx, err); err != nil {
		n.d.WriteErrors.Add(1)
		return fmt.Errorf("store: put in %q: %w", n.name, err)
	}
	if locked {
		n.held.CompareAndDelete(lockKey, token)
	}
	return nil
}

// Delete removes key from the server at once.
func (n *redisNS) Delete(ctx context.Context, key []byte) error {
	s := n.s
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.outcome(ctx, s.rdb.Unlink(ctx, n.data+string(key)).Err()); err != nil {
		return fmt.Errorf("store: delete in %q: %w", n.name, err)
	}
	return nil
}

// Clear clears the namespace (see Store.Clear).
func (n *redisNS) Clear(ctx context.Context) error { return n.s.Clear(ctx, n.name) }

// Refused counts a write that store refused, pushed with the next
// counters.
func (n *redisNS) Refused() { n.d.WriteErrors.Add(1) }

// Attach attaches a memory tier, whose counts are pushed with the
// namespace's and which Clear purges in every process.
func (n *redisNS) Attach(t driver.MemoryTier) {
	n.s.mu.Lock()
	n.tier = t
	n.pulled = tally.Tier(t)
	n.s.mu.Unlock()
}

// delIfEqualSrc deletes KEYS[1] if it holds ARGV[1]: the check-and-delete
// that releases a lock only for the token that took it, and drops a bad
// record only if no one replaced it. It is sent with EVAL, not EVALSHA: it
// is short, and a restarted server has forgotten every script.
const delIfEqualSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// maxWaitFactor bounds how long Acquire waits for a live holder that keeps
// renewing its lock: maxWaitFactor times WithLockWait.
const maxWaitFactor = 10

// renewIfEqualSrc extends a lock's TTL (ARGV[2] ms) if it still holds
// the token ARGV[1]: only its holder renews a lock.
const renewIfEqualSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`

// startRenew starts renew for the lock lockKey, held with token, unless
// the store is closing, and returns the function that stops it.
func (n *redisNS) startRenew(lockKey, token string) (stop func()) {
	s := n.s
	ch := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(ch) }) }
	s.renewMu.Lock()
	defer s.renewMu.Unlock()
	if s.bg == nil || s.closed.Load() {
		return stop // Close releases the lock
	}
	s.wg.Add(1)
	go n.renew(lockKey, token, ch)
	return stop
}

// renew keeps the lock lockKey, held with token, alive while its holder
// computes: every third of the lock's TTL it extends the TTL, as long as
// the lock still holds token (a Put of the result releases it, and
// release stops renew). So a computation longer than WithLockTTL keeps
// its lock, and waiters keep waiting for it; a holder that dies stops
// renewing, and its lock expires within WithLockTTL. Close stops it.
func (n *redisNS) renew(lockKey, token string, stop <-chan struct{}) {
	s := n.s
	defer s.wg.Done()
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
	k, lockKey := n.data+string(key), n.lock+string(key)
	var t [16]byte
	_, _ = rand.Read(t[:])
	token := hex.EncodeToString(t[:])
	var stopRenew func()
	release := func() {
		if stopRenew != nil {
			stopRenew()
		}
		if !n.held.CompareAndDelete(lockKey, token) {
			return // released by Put, or never taken
		}
		// The caller's ctx may have ended: release on a fresh one.
		rctx, cancel := context.WithTimeout(context.Background(), s.opts.timeout)
		defer cancel()
		s.outcome(rctx, s.rdb.Eval(rctx, delIfEqualSrc, []string{lockKey}, token).Err())
	}
	deadline := time.Now().Add(s.opts.lockWait)
	hardDeadline := time.Now().Add(maxWaitFactor * s.opts.lockWait)
	var (
		lastTTL  time.Duration // the lock's TTL at the last look
		lastSeen time.Time
	)
	wait := 2 * time.Millisecond
	for {
		var (
			setnx *redis.BoolCmd
			get   *redis.StringCmd
			pttl  *redis.DurationCmd
		)
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			setnx = p.SetNX(ctx, lockKey, token, s.opts.lockTTL)
			get = p.Get(ctx, k)
			pttl = p.PTTL(ctx, lockKey)
			return nil
		})
		if err = s.outcome(ctx, err); err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				// The SET may have been done before ctx ended: undo it.
				n.held.Store(lockKey, token)
				release()
				return false, nil, ctx.Err()
			}
			// The server is failing: a lock it may hold expires by itself.
			return false, nothing, nil
		}
		got := setnx.Val()
		if got {
			n.held.Store(lockKey, token)
		}
		// The key may have been stored since the caller's miss: by the
		// holder this one waited for, or by one that came and went.
		rec, _ := get.Bytes()
		if n.decodeFound(ctx, k, key, rec, decode) {
			if got {
				release()
			}
			return true, nil, nil
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
			return false, nil, ctx.Err()
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

// Path returns the server's URL without its password.
func (s *redisStore) Path() string { return s.loc }

// Sweep does nothing: Redis expires entries by itself.
func (s *redisStore) Sweep(context.Context) (int, error) { return 0, s.checkOpen() }

// Clear deletes the entries of one namespace or all, resets their
// counters, and tells every process sharing the server to purge its
// memory tiers of them.
func (s *redisStore) Clear(ctx context.Context, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("store: clear %s: read-only", s.loc)
	}
	names := []string{name}
	if name == "" {
		var err error
		if names, err = s.rdb.SMembers(ctx, s.namespacesKey()).Result(); err != nil {
			return fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
		}
	} else if ok, err := s.rdb.SIsMember(ctx, s.namespacesKey(), name).Result(); err != nil {
		return fmt.Errorf("store: clear %s: %w", s.loc, s.outcome(ctx, err))
	} else if !ok {
		return fmt.Errorf("store: clear: no namespace %q in %s", name, s.loc)
	}
	// The memory tiers first: from here until the entries are deleted,
	// this process's computations keep nothing (see MemoryTier).
	defer s.purge(name, true)()
	for _, n := range names {
		// Every version's entries and locks; not the meta and counts.
		if _, err := s.unlinkMatching(ctx, globEscape(s.keyBase(n))+"*:[dl]:*"); err != nil {
			return fmt.Errorf("store: clear %q in %s: %w", n, s.loc, s.outcome(ctx, err))
		}
		s.pushMu.Lock()
		err := s.rdb.Del(ctx, s.keyBase(n)+"counts").Err()
		if err == nil {
			s.forgetCounts(n)
		}
		s.pushMu.Unlock()
		if err != nil {
			return fmt.Errorf("store: clear %q in %s: %w", n, s.loc, s.outcome(ctx, err))
		}
	}
	if err := s.rdb.Publish(ctx, s.clearChannel(), s.id+" "+name).Err(); err != nil {
		return fmt.Errorf("store: clear %s: entries deleted, but other processes were not told: %w", s.loc, s.outcome(ctx, err))
	}
	return nil
}

// forgetCounts drops what this process counted for namespace name and not
// yet pushed: the namespace's tally.Counts were just reset. s.pushMu is held.
func (s *redisStore) forgetCounts(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp := s.claims[name]; sp != nil {
		d := sp.d.Peek()
		sp.d.Drop(&d)
		if sp.tier != nil {
			sp.pulled = tally.Tier(sp.tier)
		}
	}
}

// purge empties the memory tiers attached in this process to namespace
// name, or to every namespace if name is "" (see MemoryTier.Purge), and
// returns the function that lets them keep results again.
func (s *redisStore) purge(name string, cleared bool) (done func()) {
	s.mu.Lock()
	var tiers []driver.MemoryTier
	for n, sp := range s.claims {
		if (name == "" || n == name) && sp.tier != nil {
			tiers = append(tiers, sp.tier)
		}
	}
	s.mu.Unlock()
	dones := make([]func(), len(tiers))
	for i, t := range tiers {
		dones[i] = t.Purge(cleared)
	}
	return func() {
		for _, d := range dones {
			d()
		}
	}
}

// runClearListener purges memory tiers when any process clears their
// namespace. The subscription reconnects by itself; as messages sent
// while it was down are lost, every memory tier is purged when it comes
// back. Close ends it.
func (s *redisStore) runClearListener() {
	defer s.wg.Done()
	subscribed := false
	for m := range s.sub.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Message:
			s.onClear(m.Payload)
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if subscribed {
				// Subscribed again after the connection dropped: a
				// clear published meanwhile was lost.
				s.log.Info("memostore: clear messages resumed; memory tiers purged, as clears may have been missed", "path", s.loc)
				s.purge("", false)()
			}
			subscribed = true
		}
	}
}

// onClear handles a clear message, "STOREID NAME" (NAME "" for all), as
// Clear publishes it.
func (s *redisStore) onClear(payload string) {
	from, name, _ := strings.Cut(payload, " ")
	if from == s.id {
		return // this store's own Clear did it all already
	}
	// The namespace's tally.Counts were reset: what this process counted
	// before the clear must not be pushed after it.
	s.pushMu.Lock()
	s.mu.Lock()
	var names []string
	for n := range s.claims {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	for _, n := range names {
		s.forgetCounts(n)
	}
	s.pushMu.Unlock()
	s.purge(name, true)()
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

// StatsContext reads every namespace's metadata and tally.Counts from the
// server in two round trips (the names, then all the hashes), and adds what this process has not pushed.
// If the server does not answer, it returns what this process knows of
// the namespaces it claimed, with the error.
func (s *redisStore) Stats(ctx context.Context) (driver.Stats, error) {
	st := driver.Stats{Path: s.loc, Backend: "redis", FormatVersion: RedisFormatVersion, PID: os.Getpid()}
	if err := s.checkOpen(); err != nil {
		return st, err
	}
	// No push in flight: the server's counts and the ones this process
	// has not pushed do not overlap.
	s.pushMu.Lock()
	names, metas, counts, rerr := s.readStats(ctx)
	if rerr != nil {
		s.mu.Lock()
		names = names[:0]
		for n := range s.claims {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		metas, counts = make([]map[string]string, len(names)), make([]map[string]string, len(names))
	}
	num := func(m map[string]string, k string) int64 {
		v, _ := strconv.ParseInt(m[k], 10, 64)
		return v
	}
	var tiers []driver.MemoryTier
	s.mu.Lock()
	for i, n := range names {
		m, c := metas[i], counts[i]
		ns := driver.NamespaceStats{
			Name: n, Version: m["version"], KeyType: m["key_type"], ValueType: m["value_type"],
			Created: num(m, "created"),
			Hits:    num(c, "hits"), Misses: num(c, "misses"), DiskHits: num(c, "disk_hits"),
			DecodeErrors: num(c, "decode_errors"), WriteErrors: num(c, "write_errors"),
			ReadErrors: num(c, "read_errors"), Writes: num(c, "writes"),
		}
		var tier driver.MemoryTier
		if sp := s.claims[n]; sp != nil {
			ns.Claimed = true
			if m == nil {
				ns.Version, ns.KeyType, ns.ValueType = sp.spec.Version, sp.spec.KeyType, sp.spec.ValueType
			}
			u := sp.d.Peek()
			if sp.tier != nil {
				tier = sp.tier
				now := tally.Tier(sp.tier)
				d := now.Minus(&sp.pulled)
				u.Add(&d)
			}
			ns.Hits += u.Hits
			ns.Misses += u.Misses
			ns.DiskHits += u.DiskHits
			ns.DecodeErrors += u.DecodeErrors
			ns.WriteErrors += u.WriteErrors
			ns.ReadErrors += u.ReadErrors
		}
		tiers = append(tiers, tier)
		st.Namespaces = append(st.Namespaces, ns)
	}
	s.mu.Unlock()
	s.pushMu.Unlock()
	// Tiers, which take their own locks, are called with none of the
	// store's held; so is outcome, which may purge them.
	for i, t := range tiers {
		if t != nil {
			st.Namespaces[i].MemSize, st.Namespaces[i].MemMax = t.Size()
		}
	}
	var err error
	if rerr != nil {
		if !errors.Is(rerr, errNotAnswering) {
			rerr = s.outcome(ctx, rerr)
		}
		err = fmt.Errorf("store: stats %s: %w", s.loc, rerr)
	} else {
		s.outcome(ctx, nil)
	}
	return st, err
}

// readStats reads the namespaces' names (sorted), metadata and counters.
func (s *redisStore) readStats(ctx context.Context) (names []string, metas, counts []map[string]string, err error) {
	if !s.brk.Allow() {
		return nil, nil, nil, errNotAnswering
	}
	names, err = s.rdb.SMembers(ctx, s.namespacesKey()).Result()
	if err != nil {
		return nil, nil, nil, err
	}
	sort.Strings(names)
	mc := make([]*redis.MapStringStringCmd, len(names))
	cc := make([]*redis.MapStringStringCmd, len(names))
	if len(names) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, n := range names {
				mc[i] = p.HGetAll(ctx, s.keyBase(n)+"meta")
				cc[i] = p.HGetAll(ctx, s.keyBase(n)+"counts")
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	metas, counts = make([]map[string]string, len(names)), make([]map[string]string, len(names))
	for i := range names {
		metas[i], counts[i] = mc[i].Val(), cc[i].Val()
	}
	return names, metas, counts, nil
}

// Close refuses new operations, stops the goroutines, releases the
// computation locks still held, pushes the last counts and closes the
// client. Counts that fail to go are reported in
// the error; an operation still running when Close begins may count after
// the last push, and that count is lost.
func (s *redisStore) Close() error {
	s.closeOnce.Do(func() {
		s.renewMu.Lock() // no renewal starts after this (see startRenew)
		s.closed.Store(true)
		s.renewMu.Unlock()
		if !s.opts.ReadOnly {
			s.cancel()
			s.sub.Close()
			s.wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 2*s.opts.timeout)
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

// errNotAnswering is returned while the breaker keeps the server out.
var errNotAnswering = errors.New("Redis is not answering (retrying with back-off)")
