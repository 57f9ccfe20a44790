package redisstore

import (
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisVersionsCoexist: in a rolling deploy, a process of version 2
// starting beside one of version 1 leaves version 1's entries alone, and
// each reads only its own version's.
func TestRedisVersionsCoexist(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	old := oldVersion(t, url, prefix, "roll", 1000)
	v1 := openStore(t, url, WithPrefix(prefix))
	ns1 := claimWithin(t, v1, "roll", "1")

	v2 := openStore(t, url, WithPrefix(prefix))
	ns2 := claimWithin(t, v2, "roll", "2")
	mtesting.Flush(t, v2.Store)
	mtesting.WantMiss(t, ns2, "k")
	mtesting.Put(t, ns2, "k", mtesting.Record("k", 1, 0, "v2"))

	// A second start of version 1 leaves version 2's alone too.
	claimWithin(t, openStore(t, url, WithPrefix(prefix)), "roll", "1")
	mtesting.Flush(t, v1.Store)
	mtesting.Flush(t, v2.Store)
	if n := keysLeft(t, url, old); n != 1001 {
		t.Errorf("%d keys of version 1 left after version 2 started, want all 1001", n)
	}
	mtesting.WantValue(t, ns1, "k", "v1")
	mtesting.WantValue(t, ns2, "k", "v2")
}

// TestRedisStaleVersionReclaimed: a version no process used for the grace
// period is reclaimed in the background when another version is claimed;
// one used within it is not.
func TestRedisStaleVersionReclaimed(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	clock := mtesting.NewFakeClock()
	at := func(version string, d time.Duration, n int) (*testStore, *store.Namespace) {
		clock.Set(mtesting.Epoch.Add(d))
		s := openStore(t, url, WithPrefix(prefix), store.WithClock(clock))
		ns := claimWithin(t, s, "old", version)
		for i := range n {
			k := string(rune('a' + i))
			mtesting.Put(t, ns, k, mtesting.Record(k, 1, 0, version))
		}
		mtesting.Flush(t, s.Store)
		return s, ns
	}
	keysOf := func(version string) string { return prefix + ":old:" + fingerprint(mtesting.Spec(version)) + ":" }
	data1, data2 := keysOf("1"), keysOf("2")
	s1, _ := at("1", 0, 3)
	mtesting.CloseStore(t, s1.Store)
	s2, _ := at("2", 23*time.Hour, 3) // version 1 unused for 23h: kept
	mtesting.CloseStore(t, s2.Store)
	if n := keysLeft(t, url, data1); n != 3 {
		t.Errorf("%d keys of version 1 left after 23h, want 3", n)
	}
	_, ns3 := at("3", DefaultVersionGrace+time.Hour, 1) // version 1 unused for 25h: reclaimed
	if n := keysLeft(t, url, data1); n != 0 {
		t.Errorf("%d keys of version 1 left after 25h, want none", n)
	}
	if n := keysLeft(t, url, data2); n != 3 {
		t.Errorf("%d keys of version 2 left 2h after its last use, want 3", n)
	}
	mtesting.WantValue(t, ns3, "a", "3")
}
