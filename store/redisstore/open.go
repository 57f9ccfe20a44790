package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/breaker"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// backend is the name this backend registers (see store.Register).
const backend = "redis"

func init() {
	for _, scheme := range []string{"redis", "rediss", "unix"} {
		store.Register(scheme, backend, openURL)
	}
}

// Open opens a store on the server that client talks to: a *redis.Client
// (one server, or the master that Sentinel names, from
// redis.NewFailoverClient), a *redis.ClusterClient (a Redis Cluster), a
// *redis.Ring (servers that the client shards keys over), or what
// redis.NewUniversalClient returns for any of these. opts are store's
// common options and this package's. Open checks that the server answers
// and holds no newer layout under the prefix. Close of the store leaves
// client open: it is the caller's. An error says what happened: the
// server cannot be reached, authentication failed, the user may not run a
// command (named), the server is a node of a Cluster (open it with a
// *redis.ClusterClient), or it is out of memory. Out of memory, a prefix
// that holds its format key already opens: that needs no write.
//
// On a Cluster or a Ring, a namespace's entries spread over every master
// (each key goes to the slot of its own name), and the store never sends
// a command that names keys of two slots: what it reads together it reads
// in one pipeline, which the client splits by node and sends to the nodes
// at once. Clear and the deletion of keys no one reads run over every
// master. Any other type of client is used as one server.
func Open(client redis.UniversalClient, opts ...store.Option) (*store.Store, error) {
	return store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		return open(client, false, describe(client), settings(o))
	}, opts...)
}

// describe names the server of client, for messages and Stats.
func describe(client redis.UniversalClient) string {
	switch c := client.(type) {
	case *redis.Client:
		o := c.Options()
		return fmt.Sprintf("%s://%s/%d", map[bool]string{true: "rediss", false: "redis"}[o.TLSConfig != nil], o.Addr, o.DB)
	case *redis.ClusterClient:
		return fmt.Sprintf("redis cluster %v", c.Options().Addrs)
	case *redis.Ring:
		return fmt.Sprintf("redis ring %v", slices.Sorted(maps.Keys(c.Options().Addrs)))
	}
	return fmt.Sprintf("redis (%T)", client)
}

// database returns the number of the database client selects: 0 for a
// cluster, which has no other, and for a client of a type not known here.
func database(client redis.UniversalClient) int {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().DB
	case *redis.Ring:
		return c.Options().DB
	}
	return 0
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
	q, err := urlOptions(rawURL)
	if err != nil {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	if q.Has("addr") {
		client, err := clusterClient(rawURL, q, c)
		if err != nil {
			return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
		}
		return open(client, true, loc, c)
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	// Every exchange is bounded by the timeout, unless the URL sets its
	// own; the breaker (not the client's retries) decides when to try a
	// failing server again. No retries at all: a command re-sent after a
	// timeout may run twice (a second HINCRBY, a SET NX that fails
	// against its own first try).
	if ro.DB < 0 {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: fmt.Errorf("database %d: a database number is 0 or more", ro.DB)}
	}
	if err := checkPool(ro.PoolSize, ro.MinIdleConns, ro.MaxIdleConns, ro.MaxActiveConns); err != nil {
		return nil, &driver.OpError{Op: "open", Path: loc, Err: err}
	}
	c.boundTimeouts(q, &ro.DialTimeout, &ro.ReadTimeout, &ro.WriteTimeout, &ro.PoolTimeout)
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DisableIdentity = true
	return open(redis.NewClient(ro), true, loc, c)
}

// clusterClient makes the client of the Redis Cluster at rawURL, a URL
// with addr= parameters (see openURL), whose query is q: the host of the
// URL and each addr are nodes the client learns the cluster from. Its
// timeouts are set as a server's are. A ClusterClient follows MOVED and
// ASK redirections (when slots move from one master to another, as when
// resharding or after a failover) up to max_redirects times (3 unless the
// URL sets it; -1 for none), and go-redis re-sends a command that failed
// on a broken connection within the same count: the two cannot be told
// apart.
func clusterClient(rawURL string, q url.Values, c config) (*redis.ClusterClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "unix" {
		return nil, errors.New("a unix:// URL names one server: addr= parameters (a Redis Cluster) need redis:// or rediss://")
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("a Redis Cluster has one database, 0: the URL names %q", u.Path)
	}
	u.Path = ""
	co, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, err
	}
	if err := checkPool(co.PoolSize, co.MinIdleConns, co.MaxIdleConns, co.MaxActiveConns); err != nil {
		return nil, err
	}
	c.boundTimeouts(q, &co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.PoolTimeout)
	co.ContextTimeoutEnabled = true
	co.MaxRetries = -1
	co.DialerRetries = 1
	co.DisableIdentity = true
	return redis.NewClusterClient(co), nil
}

// checkPool refuses a URL's negative connection-pool sizes, which go-redis
// parses but takes for sizes (a negative pool_size panics when the client
// is made).
func checkPool(poolSize, minIdle, maxIdle, maxActive int) error {
	for _, p := range []struct {
		name string
		n    int
	}{{"pool_size", poolSize}, {"min_idle_conns", minIdle}, {"max_idle_conns", maxIdle}, {"max_active_conns", maxActive}} {
		if p.n < 0 {
			return fmt.Errorf("%s=%d: a number of connections is 0 or more", p.name, p.n)
		}
	}
	return nil
}

// boundTimeouts sets each of a client's timeouts that the URL's query q
// does not set to the store's timeout (WithTimeout).
func (c config) boundTimeouts(q url.Values, dial, read, write, pool *time.Duration) {
	for name, d := range map[string]*time.Duration{
		"dial_timeout": dial, "read_timeout": read, "write_timeout": write, "pool_timeout": pool,
	} {
		if !q.Has(name) {
			*d = c.timeout
		}
	}
}

// urlOptions returns the options of rawURL's query, once it checked that
// none asks for what a store does not do: retries. Every other option
// that go-redis's ParseURL (ParseClusterURL, for a URL with addr=
// parameters) takes is honoured.
func urlOptions(rawURL string) (url.Values, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if v := q.Get("max_retries"); q.Has("max_retries") && v != "-1" {
		return nil, fmt.Errorf("URL option max_retries=%s refused: a store never re-sends a command, which may run twice after a timeout (0 would mean go-redis's default of 3 retries); leave it out, or set -1", v)
	}
	for _, name := range []string{"min_retry_backoff", "max_retry_backoff"} {
		if q.Has(name) {
			return nil, fmt.Errorf("URL option %s refused: a store never re-sends a command, so there is no retry to space out; leave it out", name)
		}
	}
	// A cluster's dial is tried once (see clusterClient): go-redis's
	// parser takes these, which the store would silently override.
	if v := q.Get("dialer_retries"); q.Has("dialer_retries") && v != "1" {
		return nil, fmt.Errorf("URL option dialer_retries=%s refused: a store dials once, and carries on without the server if it does not answer; leave it out, or set 1", v)
	}
	if q.Has("dialer_retry_timeout") {
		return nil, fmt.Errorf("URL option dialer_retry_timeout refused: a store dials once, so there is no retry to space out; leave it out")
	}
	return q, nil
}

// open opens the store on the server client talks to, and checks that it
// answers and holds no newer layout under the prefix. own says Close
// closes client.
func open(client redis.UniversalClient, own bool, loc string, o config) (*redisStore, error) {
	if o.prefix == "" {
		o.prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.prefix, ":{}") {
		// PREFIX:NAME: must name one namespace: "a:b" + ":c:" would be
		// "a" + ":b:c:". A brace would take the place of the hash tag
		// that puts an entry and its lock in one slot (see slotTag).
		if own {
			client.Close()
		}
		return nil, fmt.Errorf("store: open %s: prefix %q must not contain ':', '{' or '}'", loc, o.prefix)
	}
	s := &redisStore{
		sharded: sharded(client),
		loc:     loc,
		opts:    o,
		log:     o.Logger,
		rdb:     client,
		own:     own,
		prefix:  o.prefix,
		db:      database(client),
		claims:  map[string]*redisNS{},
		brk:     breaker.New(times(2, o.timeout) + min(100*time.Millisecond, math.MaxInt64-times(2, o.timeout))),
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.id = hex.EncodeToString(id[:])
	ctx, cancel := context.WithTimeout(context.Background(), times(2, o.timeout))
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
// one recorded, in one round trip. A refused write does not fail it if
// the format key is there already: a server at maxmemory refuses the SET
// NX, and has nothing to record. An error says what happened (see
// explain). A client of one server is refused a node of a Redis Cluster
// (INFO says so), even if the node serves the format key's slot: the
// other keys' slots are elsewhere.
func (s *redisStore) checkFormat(ctx context.Context) error {
	key := s.prefix + ":format"
	var setnx *redis.BoolCmd
	var get, info *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if !s.sharded {
			info = p.Info(ctx, "cluster")
		}
		if !s.opts.ReadOnly { // read-only: write nothing, on a replica too
			setnx = p.SetNX(ctx, key, RedisFormatVersion, 0)
		}
		get = p.Get(ctx, key)
		return nil
	})
	// INFO may be refused (an ACL user without it): then the keys' MOVED
	// replies tell.
	if info != nil && strings.Contains(info.Val(), "cluster_enabled:1") {
		return fmt.Errorf("this server is a node of a Redis Cluster: %s", howToOpenCluster)
	}
	if info != nil && info.Err() != nil && errors.Is(err, info.Err()) {
		err = firstErr(setnxErr(setnx), get.Err())
	}
	if err != nil && (setnx == nil || setnx.Err() == nil) && get.Err() == nil {
		return s.explain(nil, err) // the connection failed (at AUTH, say)
	}
	if setnx != nil && setnx.Err() != nil && !(isOOM(setnx.Err()) && get.Err() == nil) {
		return s.explain(setnx, setnx.Err())
	}
	if err = get.Err(); errors.Is(err, redis.Nil) && s.opts.ReadOnly {
		return nil // nothing stored under the prefix yet
	}
	if err != nil && errorCode(err) != "WRONGTYPE" {
		return s.explain(get, err)
	}
	v, err := get.Int()
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
	// ParseQuery, not Query: a pair that does not parse (a bad
	// %-escape, a ';') is an error, where Query drops it silently, and
	// the store would open under the default prefix, another store's.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", fmt.Errorf("query %q: %w", u.RawQuery, err)
	}
	if !q.Has("prefix") {
		return rawURL, "", nil
	}
	if len(q["prefix"]) > 1 {
		return "", "", fmt.Errorf("query %q: prefix given %d times: one store per URL", u.RawQuery, len(q["prefix"]))
	}
	prefix := q.Get("prefix") // "" as no prefix given (see WithPrefix)
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

// setnxErr returns the error of setnx, nil if it was not sent.
func setnxErr(setnx *redis.BoolCmd) error {
	if setnx == nil {
		return nil
	}
	return setnx.Err()
}
