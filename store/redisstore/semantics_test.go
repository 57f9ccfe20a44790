package redisstore

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"testing"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
	"github.com/memostore/memostore/store/driver"
)

// TestRedisClearOfEscapedName: Store.Clear takes any name (it does
// not run ValidateName), and keyBase escapes ':' in a name as "%3A", so
// Clear("a%3Ab") (not a valid name, and no namespace of that name) maps
// onto the keys of namespace "a:b" and clears it: its entries, its
// counters, without purging its memory tiers (the clear message names
// "a%3Ab"). A file store says "no namespace" and clears nothing.
func TestRedisClearOfEscapedName(t *testing.T) {
	s, _, _ := openRedisStore(t)
	ctx := context.Background()
	ns := mtesting.OpenNS(t, s.Store, "a:b")
	tier := &mtesting.Tier{}
	ns.Attach(tier)
	mtesting.Put(t, ns, "k", mtesting.Record("k", 1, 0, "v"))
	err := s.Clear(ctx, "a%3Ab")
	if err == nil {
		t.Errorf(`Clear("a%%3Ab") = nil; want an error (no such namespace, as on a file)`)
	}
	if f := mtesting.Lookup(t, ns, "k"); !f.OK {
		t.Errorf(`Clear("a%%3Ab") cleared namespace "a:b": its entry is gone`)
	}
}

// TestRedisDeleteAfterUnheardClear: Delete unlinks the key under
// the generations this process last saw, without reading the server's
// (Lookup reads them in the same round trip). After another process's
// Clear whose message this process did not get (Pub/Sub delivers at most
// once; the package doc says so), and a Put after that Clear, Delete
// returns nil but leaves the entry, and the next Lookup finds it.
func TestRedisDeleteAfterUnheardClear(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a := openStore(t, url, WithPrefix(prefix))
	b := openStore(t, url, WithPrefix(prefix))
	b.rd.sub.Close() // b hears no Clear by message
	ctx := context.Background()
	nsA := mtesting.OpenNS(t, a.Store, "fg")
	nsB := mtesting.OpenNS(t, b.Store, "fg")
	mtesting.Put(t, nsB, "k", mtesting.Record("k", 1, 0, "old"))
	if err := a.Clear(ctx, "fg"); err != nil {
		t.Fatal(err)
	}
	mtesting.Put(t, nsA, "k", mtesting.Record("k", 1, 0, "new"))
	if err := nsB.Delete(ctx, mtesting.Key("k")); err != nil {
		t.Fatal(err)
	}
	if f := mtesting.Lookup(t, nsB, "k"); f.OK {
		t.Errorf("after b's Delete returned nil, b's Lookup still finds %q", f.Payload)
	}
	if f := mtesting.Lookup(t, nsA, "k"); f.OK {
		t.Errorf("after b's Delete returned nil, a's Lookup still finds %q", f.Payload)
	}
}

// TestRedisURLNegativePoolSize: a URL is input, and store.Open of
// a bad one must return an error; ?pool_size=-5 (which go-redis's parser
// takes) panics inside redis.NewClient / NewClusterClient instead
// ("makechan: size out of range").
func TestRedisURLNegativePoolSize(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	for _, q := range []string{"pool_size=-5", "pool_size=-5&addr=" + hostOf(t, url)} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Open(?%s) panicked: %v; want an error", q, r)
				}
			}()
			s, err := store.Open(withQuery(t, url, q), store.WithLogger(nil), WithPrefix(prefix))
			if err == nil {
				s.Close()
				t.Errorf("Open(?%s) succeeded; want an error", q)
			}
		}()
	}
}

// TestRedisURLNegativeDatabase: redis://HOST/-1 opens (go-redis
// sends no SELECT for it: the data are database 0's), but the store takes
// -1 as its database number, which names its clear channel
// (PREFIX:clear:-1): a Clear by a process that opened /0 with the same
// prefix, which shares every key with it, never reaches its memory
// tiers. Open should refuse the URL, or the two should be one.
func TestRedisURLNegativeDatabase(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/-1"
	var rd *redisStore
	s, err := store.OpenBackend(backend, func(o driver.Options) (driver.Store, error) {
		d, err := openURL(u.String(), o)
		if err == nil {
			rd = d.(*redisStore)
		}
		return d, err
	}, store.WithLogger(nil), WithPrefix(prefix))
	if err != nil {
		return // refused: fine
	}
	t.Cleanup(func() { s.Close() })
	zero := openStore(t, url, WithPrefix(prefix))
	nsZero := mtesting.OpenNS(t, zero.Store, "db")
	nsNeg := mtesting.OpenNS(t, s, "db")
	mtesting.Put(t, nsZero, "k", mtesting.Record("k", 1, 0, "v"))
	mtesting.WantValue(t, nsNeg, "k", "v") // one database
	tier := &mtesting.Tier{}
	nsNeg.Attach(tier)
	time.Sleep(200 * time.Millisecond) // subscribed
	if err := zero.Clear(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for tier.Purges.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tier.Purges.Load() == 0 {
		t.Errorf("Open(%s) succeeded (database %d), shares database 0's keys, but a Clear there never purged its memory tier (channel %s)",
			u, rd.db, rd.clearChannel())
	}
}

// TestRedisCanceledLookupNotReadError: ReadErrors counts
// "lookups the server did not answer". A Lookup whose caller's context
// had already ended (the server was never asked) is counted as one, so
// abandoned requests show as Redis read errors in the metrics.
func TestRedisCanceledLookupNotReadError(t *testing.T) {
	s, _, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ns.Lookup(ctx, mtesting.Key("k"), func([]byte, codec.Header) error { return nil })
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with an ended ctx: %v", err)
	}
	mtesting.Flush(t, s.Store)
	if st := mtesting.NSStats(t, s.Store, "cancel"); st.ReadErrors != 0 {
		t.Errorf("ReadErrors = %d after one Lookup whose caller had gone; want 0 (the server answered every lookup it got)", st.ReadErrors)
	}
}

func hostOf(t *testing.T, rawURL string) string {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(u.Host)
}

// TestKeyTTLNeverEarly: Redis keeps a key for whole milliseconds; a
// record must not vanish before its expiry, so a TTL is rounded up. It
// was rounded to the nearest: 1.4 ms kept the key 1 ms.
func TestKeyTTLNeverEarly(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 1400 * time.Microsecond, 2 * time.Millisecond, time.Hour + time.Nanosecond} {
		if got := keyTTL(d); got < d || got%time.Millisecond != 0 || got-d >= time.Millisecond {
			t.Errorf("keyTTL(%v) = %v; want the least whole milliseconds not under it", d, got)
		}
	}
}
