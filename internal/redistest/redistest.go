// Package redistest gives the tests of memostore a Redis server.
//
// Tests that need one call URL, which returns the server named by the
// environment variable MEMOSTORE_TEST_REDIS (a redis:// URL). Without it,
// they are skipped with a message that says so, unless
// MEMOSTORE_REQUIRE_REDIS is set (as .ci/test.sh sets it): then they
// fail, so that CI never passes without running them. .ci/test.sh, the
// README's test command, installs redis-server if it is missing, starts
// one on a free port without persistence, and sets both variables.
//
// Tests that run on a Redis Cluster as well call ClusterURL, which returns
// the cluster named by MEMOSTORE_TEST_REDIS_CLUSTER, skipped or failed in
// the same way. Its value is a URL of the cluster form store.Open takes:
// redis://HOST1:PORT1?addr=HOST2:PORT2&addr=HOST3:PORT3, a node per
// address (one suffices: the client learns the others from it). .ci/test.sh
// starts a cluster of three masters without replicas and sets it.
//
// Tests that must stop and restart a server (an outage mid-run) call
// Start, which runs a private redis-server on a free port.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Env names the variable that points the tests at a Redis server.
const Env = "MEMOSTORE_TEST_REDIS"

// ClusterEnv names the variable that points the tests at a Redis Cluster.
const ClusterEnv = "MEMOSTORE_TEST_REDIS_CLUSTER"

// RequireEnv names the variable that makes a missing server a failure.
const RequireEnv = "MEMOSTORE_REQUIRE_REDIS"

// URL returns the Redis server the tests share, or skips tb (fails it,
// under MEMOSTORE_REQUIRE_REDIS) if there is none.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		missing(tb, Env+" is not set (bash .ci/test.sh starts a server and sets it)")
	}
	return u
}

// ClusterURL returns the Redis Cluster the tests share, as a URL of the
// cluster form (see the package doc), or skips tb (fails it, under
// MEMOSTORE_REQUIRE_REDIS) if there is none.
func ClusterURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(ClusterEnv)
	if u == "" {
		missing(tb, ClusterEnv+" is not set (bash .ci/test.sh starts a cluster and sets it)")
	}
	if !IsCluster(u) {
		tb.Fatalf("%s=%q has no addr= parameter: it does not name a cluster", ClusterEnv, u)
	}
	return u
}

// IsCluster reports whether rawURL is of the cluster form: it has at
// least one addr= parameter.
func IsCluster(rawURL string) bool {
	u, err := neturl.Parse(rawURL)
	return err == nil && u.Query().Has("addr")
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("Redis tests cannot run: %s", why)
	}
	tb.Skipf("Redis tests not run: %s", why)
}

// Prefix returns a key prefix no other test uses, so that tests can share
// one server (and one database) without seeing each other's keys. The
// keys under it are deleted when tb ends.
func Prefix(tb testing.TB, url string) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "test-" + hex.EncodeToString(b[:])
	Cleanup(tb, url, p)
	return p
}

// Cleanup deletes the keys under prefix p on url's database when tb
// ends, for a test that uses a prefix of Prefix on another database too.
// On a cluster (see IsCluster) it deletes them on every master.
func Cleanup(tb testing.TB, url, p string) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx := context.Background()
		if !IsCluster(url) {
			deleteMatching(ctx, Client(tb, url), p+":*")
			return
		}
		err := ClusterClient(tb, url).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			deleteMatching(ctx, c, p+":*")
			return nil
		})
		if err != nil {
			tb.Logf("keys under %s left on the cluster: %v", p, err)
		}
	})
}

// deleteMatching deletes the keys of c's server that match pattern, one
// UNLINK a key (in a pipeline): keys of a cluster's node may lie in
// different slots, which one UNLINK may not span.
func deleteMatching(ctx context.Context, c *redis.Client, pattern string) {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) == 0 {
		return
	}
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
}

// DB returns url with its database number set to db.
func DB(tb testing.TB, rawURL string, db int) string {
	tb.Helper()
	u, err := neturl.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// Client returns a plain client for url, closed when tb ends, for tests
// that look at the server's keys themselves.
func Client(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(o)
	tb.Cleanup(func() { c.Close() })
	return c
}

// ClusterClient returns a client of the cluster at url (of the cluster
// form), closed when tb ends, for tests that look at the keys themselves.
func ClusterClient(tb testing.TB, url string) *redis.ClusterClient {
	tb.Helper()
	o, err := redis.ParseClusterURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClusterClient(o)
	tb.Cleanup(func() { c.Close() })
	return c
}

// UniversalClient returns a client of url, a cluster's (see IsCluster) or
// a server's, closed when tb ends.
func UniversalClient(tb testing.TB, url string) redis.UniversalClient {
	tb.Helper()
	if IsCluster(url) {
		return ClusterClient(tb, url)
	}
	return Client(tb, url)
}

// Keys returns the keys of url's database (of every master, on a cluster)
// that match pattern, as KEYS gives them, for tests.
func Keys(tb testing.TB, url, pattern string) []string {
	tb.Helper()
	ctx := context.Background()
	if !IsCluster(url) {
		keys, err := Client(tb, url).Keys(ctx, pattern).Result()
		if err != nil {
			tb.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := ClusterClient(tb, url).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		k, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// WithPrefix returns url with its prefix parameter set to p, whether or
// not it has other parameters (a cluster's addr=).
func WithPrefix(tb testing.TB, rawURL, p string) string {
	tb.Helper()
	u, err := neturl.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("prefix", p)
	u.RawQuery = q.Encode()
	return u.String()
}

// A Server is a private redis-server that a test may stop and restart.
type Server struct {
	tb   testing.TB
	port int
	args []string // redis-server's arguments besides the port and persistence
	dir  string   // its working directory (a cluster node's state file)
	cmd  *exec.Cmd
	// exited is closed when cmd has exited: a goroutine of start's waits
	// for it, and Stop, which kills it, waits for that.
	exited chan struct{}
}

// Start runs a redis-server on 127.0.0.1 on a free port, without
// persistence; it is killed when tb ends. Without redis-server on PATH,
// tb is skipped (or failed, under MEMOSTORE_REQUIRE_REDIS).
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb)
}

// StartWith is Start with more arguments for redis-server, such as
// "--cluster-enabled", "yes" or "--maxmemory-policy", "noeviction". The
// server runs in a directory of its own, for the files it may write.
//
// The port is one the system had free a moment before; another process
// may take it first (a cluster node also needs the port 10,000 above it,
// for its bus). A server that exits before it answers is therefore
// started again on another port, up to startTries times.
func StartWith(tb testing.TB, args ...string) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(tb, "redis-server is not installed (bash .ci/test.sh installs it)")
	}
	cluster := slices.Contains(args, "--cluster-enabled")
	var err error
	for range startTries {
		s := &Server{tb: tb, port: freePort(tb, cluster), args: args, dir: tb.TempDir()}
		if err = s.start(); err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redis-server did not start in %d tries: %v", startTries, err)
	return nil
}

// startTries is how many ports StartWith tries.
const startTries = 5

// freePort returns a port free on 127.0.0.1, and with bus the port 10,000
// above it free too.
func freePort(tb testing.TB, bus bool) int {
	tb.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			b.Close()
			return port
		}
	}
}

// URL returns the server's URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr returns the server's address, host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.Thaw() // a frozen process would not die of SIGKILL until resumed
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port, empty, and waits
// until it answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
}

// start runs redis-server on s.port and waits until it answers; it fails
// at once if the server exits first (its port was taken, say), and after
// 10s if it neither answers nor exits.
func (s *Server) start() error {
	cmd := exec.Command("redis-server", append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"}, s.args...)...)
	cmd.Dir = s.dir
	// Its log goes to the null device: Stdout and Stderr are nil.
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	// Short timeouts: whatever holds a taken port may accept and never
	// answer, and the loop must look at exited between tries.
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server on port %d exited before it answered", s.port)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on port %d did not answer within 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
