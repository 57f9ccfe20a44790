package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestRedisSlowPushCountedOnce: a push of counters whose reply comes
// after WithTimeout was run by the server all the same; its counts stayed
// in the process and were pushed again, and the server held them twice
// (found by a review). Now a push that may have run counts as pushed.
func TestRedisSlowPushCountedOnce(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv.URL(), WithTimeout(100*time.Millisecond))
	ns := mtesting.OpenNS(t, s.Store, "twice")
	n := nsOf(t, ns)
	ctx := context.Background()
	n.d.Hits.Add(5)

	done := stall(t, srv.URL(), 500*time.Millisecond)
	if sent, err := s.rd.pushCounts(ctx); !sent || err == nil {
		t.Fatalf("push to a stalled server: sent %v, err %v; want a timeout", sent, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Flush(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Flush never succeeded again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := redistest.Client(t, srv.URL())
	if got, _ := c.HGet(ctx, n.countKey, "hits").Int(); got != 5 {
		t.Errorf("5 hits counted once are %d on the server", got)
	}
}

// TestRedisPartialPushCountedOnce: on a cluster a push is a pipeline over
// several nodes; when one command failed (here, with an error reply from
// the server) the HINCRBYs that succeeded were pushed again at every
// later push, and the counts grew with each (found by a review).
func TestRedisPartialPushCountedOnce(t *testing.T) {
	s, url, _ := openRedisStore(t)
	ns := mtesting.OpenNS(t, s.Store, "partial")
	n := nsOf(t, ns)
	ctx := context.Background()
	c := redistest.Client(t, url)
	// One command of the push pipeline fails: the versions key is not a
	// hash (as a node that does not answer would fail its commands).
	if err := c.Del(ctx, n.versionsKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, n.versionsKey, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n.d.Hits.Add(5)
	if _, err := s.rd.pushCounts(ctx); err == nil {
		t.Fatal("the push with a failing command succeeded")
	}
	for range 2 {
		s.rd.pushCounts(ctx) // nothing left to send, or the same again
	}
	if got, _ := c.HGet(ctx, n.countKey, "hits").Int(); got != 5 {
		t.Errorf("5 hits, pushed by 3 failed pushes, are %d on the server", got)
	}
}

// TestRedisURLRefusesDialerRetries: a cluster URL's dialer_retries (and
// dialer_retry_timeout), which go-redis's ParseClusterURL takes, were
// accepted by Open and then silently replaced by 1: the store dials once.
// They are now refused, as max_retries is (found by a review).
func TestRedisURLRefusesDialerRetries(t *testing.T) {
	url := redistest.ClusterURL(t)
	for _, q := range []string{"dialer_retries=3", "dialer_retry_timeout=1s"} {
		_, err := store.Open(withQuery(t, url, q), WithPrefix(redistest.Prefix(t, url)))
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("?%s: Open = %v, want it refused", q, err)
		}
	}
}

// TestRedisEmptyPrefixInURL: an empty ?prefix= means no prefix chosen,
// as an empty WithPrefix does; Open failed with go-redis's "unexpected
// option: prefix" (found by a review).
func TestRedisEmptyPrefixInURL(t *testing.T) {
	srv := redistest.Start(t)
	s, err := store.Open(srv.URL() + "?prefix=")
	if err != nil {
		t.Fatalf("Open with ?prefix=: %v", err)
	}
	s.Close()
}
