package redisstore

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/store"
)

// closedAddr returns host:port of a TCP port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestMalformedPrefixQueryRefused: a URL whose prefix parameter
// does not parse (a bad %-escape, or a ';' that Go's query parser no
// longer takes as a separator) must be refused by Open with an error
// naming the query. splitPrefix read u.Query(), which drops such pairs
// silently, so the store opened under DefaultPrefix ("memo"), sharing the
// keys of every other default store on the server, and Clear of it
// cleared theirs: a setting silently ignored. Open is tried on
// a closed port: a URL it accepts fails only when dialing.
func TestMalformedPrefixQueryRefused(t *testing.T) {
	addr := closedAddr(t)
	for _, q := range []string{"prefix=%zz", "prefix=app;x=1"} {
		url := "redis://" + addr + "/0?" + q
		_, prefix, perr := splitPrefix(url)
		_, err := store.Open(url, store.WithLogger(nil), WithTimeout(100*time.Millisecond))
		if err == nil || strings.Contains(err.Error(), "cannot reach Redis") {
			t.Errorf("store.Open(%q) = %v: the URL was accepted (its prefix parameter read as %q, err %v, so the store would use %q); want an error about the malformed query",
				url, err, prefix, perr, DefaultPrefix)
		}
	}
}

// TestRepeatedPrefixQueryRefused: ?prefix=a&prefix=b names two
// prefixes; Open must refuse it rather than pick one. splitPrefix took
// the first (q.Get) silently, while go-redis takes the last of its own
// repeated parameters, so the user could not tell which store was opened.
func TestRepeatedPrefixQueryRefused(t *testing.T) {
	url := "redis://" + closedAddr(t) + "/0?prefix=app&prefix=other"
	_, prefix, _ := splitPrefix(url)
	_, err := store.Open(url, store.WithLogger(nil), WithTimeout(100*time.Millisecond))
	if err == nil || strings.Contains(err.Error(), "cannot reach Redis") {
		t.Fatalf("store.Open(%q) = %v: accepted, with prefix %q; want an error that prefix is given twice", url, err, prefix)
	}
}
