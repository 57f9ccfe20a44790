package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/redistest"
	"github.com/memostore/memostore/store"
)

// TestFileOnlyCommandsHideRedisPassword: keys, check and compact refuse a
// Redis URL; their one-line error must not print the URL's password, as
// every other message about a Redis URL does (store.Stats.Path is "the
// Redis URL without its password"; info, clear and sweep print
// redis://user:xxxxx@...). They printed it as given.
func TestFileOnlyCommandsHideRedisPassword(t *testing.T) {
	const url = "redis://default:s3cret-pw@127.0.0.1:1/0"
	for _, args := range [][]string{
		{"keys", "--namespace", "double", url},
		{"check", url},
		{"check", "--fix", url},
		{"compact", url},
	} {
		out, errOut, code := runCmd(t, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if strings.Contains(out+errOut, "s3cret-pw") {
			t.Errorf("%v printed the Redis password: %q", args, out+errOut)
		}
	}
}

// TestCompactThroughSymlinkKeepsLink: compact of a store reached through a
// symbolic link must compact the file the link points to and leave the
// link in place. It renamed the compacted copy over the link: the link
// became a regular file beside the target, which stayed as it was, so
// the program opening the target and memoctl then saw two different
// stores.
func TestCompactThroughSymlinkKeepsLink(t *testing.T) {
	real := makeStore(t, 5)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	out, errOut, code := runCmd(t, "compact", link)
	if code != 0 {
		// Refusing a link, with a message, would do too.
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("failed compact replaced the link: %v %v", fi.Mode(), err)
		}
		return
	}
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("compact %s (%q %q) replaced the symbolic link with a regular file (mode %v); the store it pointed to, %s, was left uncompacted",
			link, out, errOut, fi.Mode(), real)
	}
}

// TestCompactKeepsFileMode: compact rewrites the file "atomically"; the
// store keeps its permissions. A store made group-readable (0640) came
// back 0600: the compacted copy is created 0600 and renamed into place.
func TestCompactKeepsFileMode(t *testing.T) {
	path := makeStore(t, 5)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCmd(t, "compact", path); code != 0 {
		t.Fatalf("compact: exit %d %s", code, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o640 {
		t.Fatalf("compact changed the store's mode from 0640 to %#o", got)
	}
}

// TestWatchJSONExpiredPending: info --watch --json prints every field of
// info --json for each namespace; those it prints must be right. With 30
// entries expired and awaiting the sweep, it printed "expired_pending": 0
// at every refresh (the watch reads counters without Inspect, which is
// what fills that field, and prints the zero anyway).
func TestWatchJSONExpiredPending(t *testing.T) {
	path := makeExpiring(t, 30, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if info := liveInfo(t, path); info.Namespaces[0].ExpiredPending != 30 {
		t.Fatalf("info: %d expired pending, want 30", info.Namespaces[0].ExpiredPending)
	}
	out, errOut, code := runCmd(t, "info", "--watch", "10ms", "--count", "1", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var frame struct {
		Namespaces []map[string]json.RawMessage `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &frame); err != nil || len(frame.Namespaces) != 1 {
		t.Fatalf("watch --json: %q (%v)", out, err)
	}
	if v, ok := frame.Namespaces[0]["expired_pending"]; ok && string(v) != "30" {
		t.Fatalf("info --watch --json: \"expired_pending\": %s with 30 entries expired awaiting the sweep (info --json says 30)", v)
	}
}

// TestWatchRedisErrorFrameHidesPassword: info --watch on a Redis URL shows
// the URL without its password (TestWatchRedis checks the first refresh);
// a refresh that fails (the server went away) must not show it either.
// The error refresh printed the URL as given, password included.
func TestWatchRedisErrorFrameHidesPassword(t *testing.T) {
	srv := redistest.Start(t)
	url := "redis://default:s3cret-pw@" + srv.Addr() + "/0"
	s, err := store.Open(url, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := &frameWriter{between: func(i int) {
		if i == 0 {
			srv.Stop()
		}
	}}
	var errb bytes.Buffer
	code := run(context.Background(), []string{"info", "--watch", "10ms", "--count", "2", url}, w, &errb)
	if code != 0 || len(w.frames) != 2 {
		t.Fatalf("exit %d after %d refreshes: %s", code, len(w.frames), errb.String())
	}
	if strings.Contains(w.frames[0], "s3cret-pw") {
		t.Fatalf("first refresh shows the password:\n%s", w.frames[0])
	}
	if !strings.Contains(w.frames[1], "error") {
		t.Fatalf("second refresh, with the server gone, shows no error:\n%s", w.frames[1])
	}
	if strings.Contains(w.frames[1], "s3cret-pw") {
		t.Fatalf("the failed refresh shows the Redis password:\n%s", w.frames[1])
	}
}

// TestRedisSweepWritesNothing: on Redis, sweep "has nothing to do" (help:
// "On Redis, which expires entries by itself, there is nothing to sweep"),
// and memoctl never creates a store. memoctl sweep of a URL with no store
// (a mistyped prefix or database) printed "nothing to sweep" and created
// one: it opened the server for writing, which wrote PREFIX:format.
func TestRedisSweepWritesNothing(t *testing.T) {
	base := redistest.URL(t)
	prefix := redistest.Prefix(t, base)
	url := base + "?prefix=" + prefix
	out, errOut, code := runCmd(t, "sweep", url)
	if code != 0 || !strings.Contains(out, "nothing to sweep") {
		t.Fatalf("sweep: exit %d %q %q", code, out, errOut)
	}
	if keys := redistest.Keys(t, base, prefix+":*"); len(keys) != 0 {
		t.Fatalf("memoctl sweep, which has nothing to do on Redis, wrote %q to the server", keys)
	}
}

// TestHumanBytesUnit: sizes are shown in the largest binary unit that
// keeps the number under 1024 (512 B, 1.5 KiB, 3.2 MiB). A size just under
// 1 MiB showed as "1024.0 KiB": the unit is chosen before rounding.
func TestHumanBytesUnit(t *testing.T) {
	for n, want := range map[int64]string{
		1<<20 - 1:  "1.0 MiB",
		1<<30 - 10: "1.0 GiB",
		1<<10 - 1:  "1023 B",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestPackageDocListsEveryFlag: the package doc (go doc memoctl) gives
// each command's synopsis; it must match the command's help. For clear it
// omits --stale and --grace, which exist and are in clear's help and in
// the README.
func TestPackageDocListsEveryFlag(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	for _, c := range commands() {
		synopsis, _, _ := strings.Cut(strings.TrimPrefix(c.usage, "usage: "), "\n")
		if !strings.Contains(doc, synopsis+"\n") {
			var says []string
			for _, line := range strings.Split(doc, "\n") {
				if strings.Contains(line, "memoctl "+c.name+" ") {
					says = append(says, strings.TrimSpace(line))
				}
			}
			t.Errorf("package doc lacks the synopsis of help %s, %q; it says %q", c.name, synopsis, says)
		}
	}
}

// TestInfoThroughSymlinkOfLiveStore: "When a running process holds the
// store, info asks that process through its control endpoint." Reached
// through a symbolic link to the file, info looked for LINK.ctl, found
// nothing, tried to open the file itself and failed after the lock
// timeout: "file is locked by another process ..., and its control
// endpoint LINK.ctl does not answer".
func TestInfoThroughSymlinkOfLiveStore(t *testing.T) {
	real := filepath.Join(t.TempDir(), "live.db")
	h := startHolder(t, real, "control")
	h.call(t, 1)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	out, errOut, code := runCmd(t, "info", "--json", link)
	if code != 0 {
		t.Fatalf("info of a live store through a symbolic link: exit %d, %s", code, errOut)
	}
	var in infoJSON
	if err := json.Unmarshal([]byte(out), &in); err != nil || !in.Live || in.PID != h.cmd.Process.Pid {
		t.Fatalf("info through a link: %q (%v); want live, from pid %d", out, err, h.cmd.Process.Pid)
	}
}

// TestRedisClearOfNoStoreWritesNothing: clear of a URL under which no
// store is (a mistyped prefix or database) clears nothing and writes
// nothing: memoctl never creates a store. It wrote PREFIX:format and
// PREFIX:gen.
func TestRedisClearOfNoStoreWritesNothing(t *testing.T) {
	base := redistest.URL(t)
	prefix := redistest.Prefix(t, base)
	url := base + "?prefix=" + prefix
	if _, errOut, code := runCmd(t, "clear", url); code != 0 {
		t.Fatalf("clear: exit %d %q", code, errOut)
	}
	if _, _, code := runCmd(t, "clear", "--namespace", "nope", url); code != 1 {
		t.Errorf("clear --namespace of no namespace: exit %d, want 1 (as on a file)", code)
	}
	if keys := redistest.Keys(t, base, prefix+":*"); len(keys) != 0 {
		t.Fatalf("memoctl clear of a URL with no store wrote %q to the server", keys)
	}
}
