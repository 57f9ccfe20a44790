package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// TestMain fails the tests if a goroutine of a store (a renewal of a
// lock, a deletion of old versions' keys, the counters, the clear
// listener) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A testStore is a store.Store opened on Redis, with its backend.
type testStore struct {
	*store.Store
	rd *redisStore
}

// openStore opens url with opts (and a discarding logger, unless opts
// set one) and closes it when the test ends.
func openStore(tb testing.TB, url string, opts ...store.Option) *testStore {
	tb.Helper()
	var rd *redisStore
	s, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		d, err := openURL(url, o)
		if err != nil {
			return nil, err
		}
		rd = d.(*redisStore)
		if len(openedBy(tb.Name())) == 0 {
			// A test run again (-count) has the same name.
			tb.Cleanup(func() { opened.Delete(tb.Name()) })
		}
		opened.Store(tb.Name(), append(openedBy(tb.Name()), rd))
		return d, nil
	}, append([]store.Option{store.WithLogger(nil)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open(%s): %v", url, err)
	}
	tb.Cleanup(func() { s.Close() })
	return &testStore{s, rd}
}

// openRedisStore opens a Redis store under a fresh prefix, with opts.
func openRedisStore(t *testing.T, opts ...store.Option) (s *testStore, url, prefix string) {
	t.Helper()
	url = redistest.URL(t)
	prefix = redistest.Prefix(t, url)
	return openStore(t, url, append([]store.Option{WithPrefix(prefix)}, opts...)...), url, prefix
}

// captureLog returns an option that logs into the returned buffer.
func captureLog() (store.Option, *mtesting.LogBuffer) {
	l, b := mtesting.CaptureLog()
	return store.WithLogger(l), b
}

// opened holds the Redis stores each test opened, by test name.
var opened sync.Map

func openedBy(test string) []*redisStore {
	v, _ := opened.Load(test)
	rds, _ := v.([]*redisStore)
	return rds
}

// nsOf returns the backend of ns, a namespace of a store the test t
// opened.
func nsOf(t *testing.T, ns *store.Namespace) *redisNS {
	t.Helper()
	for _, rd := range openedBy(t.Name()) {
		rd.mu.Lock()
		n := rd.claims[ns.Name()]
		rd.mu.Unlock()
		if n != nil {
			return n
		}
	}
	t.Fatalf("no Redis store of %s claims %q", t.Name(), ns.Name())
	return nil
}

// roundTrips counts the exchanges a go-redis client has with its server:
// one per command sent alone, one per pipeline. The ones that set up a
// new connection (HELLO, CLIENT) or ask a cluster's node what the commands
// are (COMMAND, once a client) are not counted.
type roundTrips struct {
	n    atomic.Int64
	cmds atomic.Int64
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "hello", "client", "command":
			return next(ctx, cmd)
		}
		r.n.Add(1)
		r.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// stall blocks the server for d with a busy script, as a slow server
// would, and returns when the script has begun.
func stall(t *testing.T, url string, d time.Duration) (done <-chan error) {
	t.Helper()
	c := redistest.Client(t, url)
	ch := make(chan error, 1)
	const busy = `local s = redis.call('TIME') local start = s[1] * 1000000 + s[2]
while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) then break end end
return 1`
	go func() { ch <- c.Eval(context.Background(), busy, nil, d.Microseconds()).Err() }()
	time.Sleep(50 * time.Millisecond)
	return ch
}
