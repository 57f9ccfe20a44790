package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

// makeRedisStore is makeStore on Redis, under a fresh prefix: "double"
// with n entries and 2n calls, "square" with one entry. It returns the
// store's URL, with the prefix in it. live, if not nil, is left open with
// a Func on "double" that has every entry in memory.
func makeRedisStore(t *testing.T, n int) (url string, live *memo.Func[int, int]) {
	t.Helper()
	base := redistest.URL(t)
	url = base + "?prefix=" + redistest.Prefix(t, base)
	s, err := store.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	double := fillStore(t, s, n)
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil { // the counters, to the server
		t.Fatal(err)
	}
	return url, double
}

func redisInfo(t *testing.T, url string) infoJSON {
	t.Helper()
	out, errOut, code := runCmd(t, "info", "--json", url)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	var got infoJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return got
}

// TestRedisInfoAndClear: memoctl info shows the counters a process pushed
// to Redis; clear --namespace empties one namespace, on the server and in
// the memory tier of the process using it, and keeps the other.
func TestRedisInfoAndClear(t *testing.T) {
	url, double := makeRedisStore(t, 10)
	got := redisInfo(t, url)
	if got.Backend != "redis" || len(got.Namespaces) != 2 {
		t.Fatalf("info: %+v", got)
	}
	d := got.Namespaces[0]
	if d.Name != "double" || d.Writes != 10 || d.Hits != 10 || d.Misses != 10 || d.Version != "v1" || d.KeyType != "int" || d.HitRatio != 0.5 {
		t.Fatalf("namespace %+v", d)
	}

	out, errOut, code := runCmd(t, "info", url)
	if code != 0 || !strings.Contains(out, "shared (Redis)") || !strings.Contains(out, "double") {
		t.Fatalf("info table: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = runCmd(t, "clear", "--namespace", "double", url)
	if code != 0 || !strings.Contains(out, "cleared double") {
		t.Fatalf("clear: exit %d\n%s%s", code, out, errOut)
	}
	got = redisInfo(t, url)
	if d := got.Namespaces[0]; d.Writes != 0 || d.Hits != 0 || d.Misses != 0 {
		t.Errorf("after clear: %+v, want counters reset", d)
	}
	if s := got.Namespaces[1]; s.Name != "square" || s.Writes != 1 {
		t.Errorf("the other namespace: %+v, want it kept", s)
	}
	c := redistest.Client(t, redistest.URL(t))
	prefix := url[strings.Index(url, "prefix=")+len("prefix="):]
	if keys, _ := c.Keys(context.Background(), prefix+":double:*:d:*").Result(); len(keys) != 0 {
		t.Errorf("keys left after clear: %q", keys)
	}
	if keys, _ := c.Keys(context.Background(), prefix+":square:*:d:*").Result(); len(keys) != 1 {
		t.Errorf("square's keys after clearing double: %q", keys)
	}
	// The process using "double" was told: its memory tier is empty.
	deadline := time.Now().Add(5 * time.Second)
	for double.Info().CurrSize != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the live memory tier still holds %d entries", double.Info().CurrSize)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisFileOnlyCommands: keys, check and compact refuse a Redis URL
// with a clear error; sweep says there is nothing to do.
func TestRedisFileOnlyCommands(t *testing.T) {
	url, _ := makeRedisStore(t, 1)
	for _, cmd := range []string{"keys --namespace double", "check", "check --fix", "compact"} {
		args := append(strings.Fields(cmd), url)
		_, errOut, code := runCmd(t, args...)
		if code != 1 || !strings.Contains(errOut, "store files only") {
			t.Errorf("%s: exit %d, %q; want 1 and a clear refusal", cmd, code, errOut)
		}
	}
	out, errOut, code := runCmd(t, "sweep", url)
	if code != 0 || !strings.Contains(out, "nothing to sweep") {
		t.Errorf("sweep: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = runCmd(t, "info", "redis://127.0.0.1:1/0")
	if code != 1 || !strings.Contains(errOut, "cannot reach Redis") {
		t.Errorf("info on a closed port: exit %d, %q", code, errOut)
	}
}
