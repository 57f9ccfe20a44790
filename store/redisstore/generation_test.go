package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
)

// A putGate holds back every pipeline with a SET in it (a Put) until
// open is closed, and says on held when it holds one.
type putGate struct {
	open chan struct{}
	held chan struct{}
	once sync.Once
}

func (g *putGate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *putGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (g *putGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "set" {
				g.once.Do(func() { close(g.held) })
				<-g.open
				break
			}
		}
		return next(ctx, cmds)
	}
}

// TestRedisClearWinsAgainstPutInFlight: a Put that began before a Clear
// in another process and reaches the server after it is never returned,
// to either process, even one the Clear's message has not reached.
func TestRedisClearWinsAgainstPutInFlight(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a := openStore(t, url, WithPrefix(prefix))
	b := openStore(t, url, WithPrefix(prefix))
	b.rd.sub.Close() // the message is late
	nsA, nsB := mtesting.OpenNS(t, a.Store, "race"), mtesting.OpenNS(t, b.Store, "race")
	mtesting.WantMiss(t, nsB, "k")
	g := &putGate{open: make(chan struct{}), held: make(chan struct{})}
	b.rd.rdb.AddHook(g)
	done := make(chan error, 1)
	go func() {
		done <- nsB.Put(context.Background(), mtesting.Key("k"), mtesting.Record("k", 1, 0, "pre-clear"))
	}()
	<-g.held
	if err := a.Clear(context.Background(), "race"); err != nil {
		t.Fatal(err)
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mtesting.WantMiss(t, nsA, "k")
	mtesting.WantMiss(t, nsB, "k")
	// The process that put it learned the new generation: its next Put
	// is seen by all.
	mtesting.Put(t, nsB, "k", mtesting.Record("k", 1, 0, "post-clear"))
	mtesting.WantValue(t, nsA, "k", "post-clear")
}

// TestRedisClearDoesNotScan: Clear's caller does not wait for the old
// entries to be deleted (a SCAN of the whole database): it returns at
// once with SCAN held back, in a few round trips.
func TestRedisClearDoesNotScan(t *testing.T) {
	s, _, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "quick")
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	gateScans(t, s)
	rt := &roundTrips{}
	s.rd.rdb.AddHook(rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range []string{"quick", ""} {
		before := rt.n.Load()
		if err := s.Clear(ctx, name); err != nil {
			t.Fatalf("Clear(%q) with SCAN held back: %v", name, err)
		}
		if n := rt.n.Load() - before; n > 4 {
			t.Errorf("Clear(%q): %d round trips, want at most 4", name, n)
		}
		mtesting.WantMiss(t, ns, "k")
	}
}
