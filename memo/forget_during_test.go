package memo_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/boltstore"
	"github.com/memostore/memostore/store/driver"
)

// gatedStore is a file store whose namespaces' Delete, and whose memory
// tiers' Purge, once gated, signal deleting and wait for letDelete: a test
// can act while a Forget or a Clear is between its start and its deletion.
type gatedStore struct {
	driver.Store
	gate                atomic.Bool
	deleting, letDelete chan struct{}
	once                sync.Once
}

func (g *gatedStore) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (driver.Namespace, error) {
	n, err := g.Store.Namespace(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	return gatedNS{n, g}, nil
}

type gatedNS struct {
	driver.Namespace
	g *gatedStore
}

func (n gatedNS) Delete(ctx context.Context, key []byte) error {
	n.g.wait()
	return n.Namespace.Delete(ctx, key)
}

// Attach gates the tier's Purge: a Clear waits once the tier is purged,
// before the store deletes anything.
func (n gatedNS) Attach(t driver.MemoryTier) { n.Namespace.Attach(gatedTier{t, n.g}) }

type gatedTier struct {
	driver.MemoryTier
	g *gatedStore
}

func (t gatedTier) Purge(cleared bool) func() {
	done := t.MemoryTier.Purge(cleared)
	t.g.wait()
	return done
}

func (g *gatedStore) wait() {
	if g.gate.Load() {
		g.once.Do(func() {
			close(g.deleting)
			<-g.letDelete
		})
	}
}

func openGated(t *testing.T) (*store.Store, *gatedStore) {
	t.Helper()
	g := &gatedStore{deleting: make(chan struct{}), letDelete: make(chan struct{})}
	s, err := store.OpenBackend("gated", func(o driver.Options) (driver.Store, error) {
		bo := boltstore.DefaultOptions()
		bo.Options = o
		bo.SweepInterval = time.Hour
		bo.Control = false
		b, err := boltstore.Open(filepath.Join(t.TempDir(), "c.db"), bo)
		if err != nil {
			return nil, err
		}
		g.Store = b
		return g, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, g
}

// TestCallAfterForgetDoesNotJoinOlderLookup: a Call that starts while a
// Forget (or Clear) of its key is under way reads the store before the
// deletion, and finds the old value; its computation keeps nothing, but it
// stayed joinable after Forget returned, so a Call made after Forget
// returned shared it and got the forgotten value, where Forget's doc says
// that no Call in this process sees it once Forget returns. Clear's the
// same.
func TestCallAfterForgetDoesNotJoinOlderLookup(t *testing.T) {
	for _, op := range []string{"Forget", "Clear"} {
		t.Run(op, func(t *testing.T) { callAfterInvalidation(t, op) })
	}
}

func callAfterInvalidation(t *testing.T, op string) {
	synctest.Test(t, func(t *testing.T) {
		s, g := openGated(t)
		defer s.Close()
		var ver atomic.Int64
		var hold atomic.Bool
		entered, let := make(chan struct{}), make(chan struct{})
		var once sync.Once
		ttl := memo.TTLFunc(func(int, int64) time.Duration {
			if hold.Load() { // the store's lookup decodes the old record
				once.Do(func() {
					close(entered)
					<-let
				})
			}
			return time.Hour
		})
		f, err := memo.New(s, "forget-during", func(context.Context, int) (int64, error) {
			return ver.Add(1), nil
		}, memo.MaxSize(0), ttl)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx := context.Background()
		if v := mustCall(t, f, 1); v != 1 {
			t.Fatalf("first call = %d", v)
		}
		growFile(t, s)
		g.gate.Store(true)
		forgot := make(chan error)
		go func() {
			if op == "Clear" {
				forgot <- f.Clear(ctx)
			} else {
				forgot <- f.Forget(ctx, 1)
			}
		}()
		<-g.deleting // Forget has begun; the record is still there
		hold.Store(true)
		var during int64
		var wg sync.WaitGroup
		wg.Go(func() { during, _ = f.Call(ctx, 1) })
		<-entered // the call during Forget has read the old record
		hold.Store(false)
		close(g.letDelete)
		if err := <-forgot; err != nil {
			t.Fatal(err)
		}
		var after int64
		wg.Go(func() { after, _ = f.Call(ctx, 1) }) // made after Forget returned
		synctest.Wait()
		close(let)
		wg.Wait()
		if after == 1 {
			t.Errorf("a Call made after %s returned got the forgotten value 1 (the call during it got %d): it shared a lookup made before the deletion", op, during)
		}
	})
}

// growFile grows s's file, and frees what it grew by, so that no commit
// that follows has to grow bbolt's memory map: that waits for every read
// transaction, and the tests that hold a lookup in its decode hold one.
func growFile(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	ballast, err := memo.New(s, "ballast", func(_ context.Context, k int) ([]byte, error) {
		return make([]byte, 4096+k), nil
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ballast.Close()
	for k := range 200 {
		if _, err := ballast.Call(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ballast.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
