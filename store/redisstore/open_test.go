package redisstore

import (
	"context"
	"errors"
	"net"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisNewerFormat: a prefix written by a newer version is refused.
func TestRedisNewerFormat(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	redistest.Client(t, url).Set(context.Background(), prefix+":format", RedisFormatVersion+1, 0)
	_, err := store.Open(url, WithPrefix(prefix), store.WithLogger(nil))
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("store.Open = %v, want store.ErrCorrupt naming a newer format", err)
	}
	// One "store: open URL: " prefix, not repeated by the sentinel's own.
	prefixed := "store: open " + redactURL(url) + ": "
	if rest, ok := strings.CutPrefix(err.Error(), prefixed); !ok || strings.HasPrefix(rest, "store: ") || strings.Contains(rest, ": store: ") {
		t.Errorf("store.Open = %q, want one %q prefix", err, prefixed)
	}
}

// TestRedisOpenErrors: an unreachable server and a bad URL fail store.Open
// with a clear error, within the timeout.
func TestRedisOpenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = store.Open("redis://user:secret@"+addr+"/0", store.WithLogger(nil), WithTimeout(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Errorf("store.Open of a closed port = %v, want cannot reach Redis", err)
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("store.Open took %v", d)
	}
	if _, err := store.Open("redis://127.0.0.1:notaport/0", store.WithLogger(nil)); err == nil {
		t.Error("store.Open of a bad URL succeeded")
	}
	for _, p := range []string{"a:b", "a{b", "{app}"} {
		if _, err := store.Open(redistest.URL(t), store.WithLogger(nil), WithPrefix(p)); err == nil || !strings.Contains(err.Error(), "':', '{' or '}'") {
			t.Errorf("store.Open with prefix %q = %v, want refused", p, err)
		}
	}
}

// TestRedisReadOnly: a read-only store (memoctl info) writes nothing, not
// even the format key, and refuses to claim or clear.
func TestRedisReadOnly(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	s := openStore(t, url, WithPrefix(prefix), store.WithReadOnly())
	if n := redistest.Client(t, url).Exists(context.Background(), prefix+":format").Val(); n != 0 {
		t.Error("a read-only store.Open wrote the format key")
	}
	if _, err := s.Namespace(context.Background(), "x", mtesting.Spec("1")); err == nil {
		t.Error("a read-only store claimed a namespace")
	}
	if err := s.Clear(context.Background(), ""); err == nil {
		t.Error("a read-only store cleared")
	}
}

// wantOpenError opens url with opts and wants an error that says want,
// not "cannot reach Redis", and does not show the password.
func wantOpenError(t *testing.T, what, url, want string, opts ...store.Option) {
	t.Helper()
	s, err := store.Open(url, append([]store.Option{store.WithLogger(nil)}, opts...)...)
	if err == nil {
		s.Close()
		t.Errorf("%s: store.Open succeeded", what)
		return
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("%s: store.Open = %v, want %q", what, err, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%s: the error shows the password: %v", what, err)
	}
}

// withUser returns url with user name and password set.
func withUser(t *testing.T, rawURL, user, password string) string {
	t.Helper()
	u, err := neturl.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.UserPassword(user, password)
	return u.String()
}

// TestRedisOpenRefused: a server that answers but refuses says why, not
// "cannot reach Redis": authentication failed, permission denied (naming
// the command), a Cluster node, out of memory.
func TestRedisOpenRefused(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.Client(t, srv.URL())
	ctx := context.Background()
	for _, acl := range [][]any{
		{"ACL", "SETUSER", "reader", "on", ">s3cret", "~*", "&*", "+@all", "-@write"},
		{"ACL", "SETUSER", "elsewhere", "on", ">s3cret", "~other:*", "&*", "+@all"},
		{"ACL", "SETUSER", "default", "off"},
	} {
		if err := c.Do(ctx, acl...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	wantOpenError(t, "wrong password", withUser(t, srv.URL(), "reader", "wrong-s3cret"), "authentication failed")
	wantOpenError(t, "no password", srv.URL(), "authentication failed")
	wantOpenError(t, "no writes", withUser(t, srv.URL(), "reader", "s3cret"), "permission denied")
	wantOpenError(t, "no writes", withUser(t, srv.URL(), "reader", "s3cret"), "SET")
	wantOpenError(t, "other keys", withUser(t, srv.URL(), "elsewhere", "s3cret"), "permission denied")
	wantOpenError(t, "other keys", withUser(t, srv.URL(), "elsewhere", "s3cret"), "memo:format")
}

// TestRedisOpenCluster: a node of a Redis Cluster answers MOVED, or
// CLUSTERDOWN while no node serves the slot: store.Open says to open the
// cluster with a ClusterClient.
func TestRedisOpenCluster(t *testing.T) {
	cluster := []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "5000"}
	a := redistest.StartWith(t, cluster...)
	wantOpenError(t, "CLUSTERDOWN", a.URL(), "ClusterClient")
	b := redistest.StartWith(t, cluster...)
	ctx := context.Background()
	ca, cb := redistest.Client(t, a.URL()), redistest.Client(t, b.URL())
	if err := ca.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(a.Addr())
	if err := cb.Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := cb.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "MOVED"); err = cb.Get(ctx, "k").Err() {
		if time.Now().After(deadline) {
			t.Fatalf("the second node does not redirect: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantOpenError(t, "MOVED", b.URL(), "ClusterClient")
}

// TestRedisOpenOutOfMemory: at maxmemory with noeviction the server
// refuses writes. Open of a prefix whose format key is there needs no
// write and works, and so do the namespace's claim and lookups; Open of a
// new prefix says the server is out of memory.
func TestRedisOpenOutOfMemory(t *testing.T) {
	srv := redistest.StartWith(t, "--maxmemory-policy", "noeviction")
	prefix := redistest.Prefix(t, srv.URL())
	before := openStore(t, srv.URL(), WithPrefix(prefix))
	mtesting.Put(t, mtesting.OpenNS(t, before.Store, "oom"), "k", mtesting.Record("k", 1, 0, "v"))
	before.Close()
	ctx := context.Background()
	c := redistest.Client(t, srv.URL())
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, prefix+":probe", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("a write at maxmemory 1 = %v, want OOM", err)
	}
	s, err := store.Open(srv.URL(), WithPrefix(prefix), store.WithLogger(nil))
	if err != nil {
		t.Fatalf("store.Open of an existing prefix at OOM: %v", err)
	}
	defer s.Close()
	ns, err := s.Namespace(ctx, "oom", mtesting.Spec("1"))
	if err != nil {
		t.Fatalf("claim of an existing namespace at OOM: %v", err)
	}
	mtesting.WantValue(t, ns, "k", "v")
	wantOpenError(t, "OOM, new prefix", srv.URL(), "out of memory", WithPrefix(prefix+"new"))
}

// withQuery returns url with the query parameters q added.
func withQuery(t *testing.T, rawURL, q string) string {
	t.Helper()
	u, err := neturl.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return u.String()
}

// TestRedisURLOptions: an option of the URL (any that go-redis's ParseURL
// takes) is honoured, whatever WithTimeout says, or refused by Open with
// an error that names it; none is accepted and then ignored.
func TestRedisURLOptions(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	honoured := []struct {
		query string
		ok    func(o *redis.Options) bool
	}{
		{"dial_timeout=2s", func(o *redis.Options) bool { return o.DialTimeout == 2*time.Second }},
		{"read_timeout=3s", func(o *redis.Options) bool { return o.ReadTimeout == 3*time.Second }},
		{"write_timeout=4s", func(o *redis.Options) bool { return o.WriteTimeout == 4*time.Second }},
		{"pool_timeout=5s", func(o *redis.Options) bool { return o.PoolTimeout == 5*time.Second }},
		{"max_retries=-1", func(o *redis.Options) bool { return o.MaxRetries == 0 }}, // none, as go-redis writes it
		{"pool_size=7", func(o *redis.Options) bool { return o.PoolSize == 7 }},
		{"pool_fifo=true", func(o *redis.Options) bool { return o.PoolFIFO }},
		{"min_idle_conns=1", func(o *redis.Options) bool { return o.MinIdleConns == 1 }},
		{"max_idle_conns=3", func(o *redis.Options) bool { return o.MaxIdleConns == 3 }},
		{"max_active_conns=9", func(o *redis.Options) bool { return o.MaxActiveConns == 9 }},
		{"max_concurrent_dials=2", func(o *redis.Options) bool { return o.MaxConcurrentDials == 2 }},
		{"conn_max_idle_time=1m", func(o *redis.Options) bool { return o.ConnMaxIdleTime == time.Minute }},
		{"conn_max_lifetime=1h", func(o *redis.Options) bool { return o.ConnMaxLifetime == time.Hour }},
		{"client_name=memotest", func(o *redis.Options) bool { return o.ClientName == "memotest" }},
		{"protocol=2", func(o *redis.Options) bool { return o.Protocol == 2 }},
		{"db=1", func(o *redis.Options) bool { return o.DB == 1 }},
	}
	for _, h := range honoured {
		s := openStore(t, withQuery(t, url, h.query), WithPrefix(prefix), WithTimeout(100*time.Millisecond))
		if o := s.rd.rdb.(*redis.Client).Options(); !h.ok(o) {
			t.Errorf("?%s was not honoured: %+v", h.query, o)
		}
		s.Close()
	}
	for _, q := range []string{"max_retries=3", "max_retries=0", "min_retry_backoff=10ms", "max_retry_backoff=1s"} {
		name, _, _ := strings.Cut(q, "=")
		wantOpenError(t, "?"+q, withQuery(t, url, q), name, WithPrefix(prefix))
	}
}
