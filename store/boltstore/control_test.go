package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/driver"
	"github.com/vmihailenco/msgpack/v5"
)

// shortDir returns a new directory with a short path, so that control
// socket paths stay within the 108 bytes of sockaddr_un, removed when the
// test ends.
func shortDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// rawFrames sends data as is on a new connection to the control socket
// of the store at path and reports whether the endpoint answered anything
// before it closed the connection (within a second).
func rawFrames(tb testing.TB, path string, data []byte) (answered bool) {
	tb.Helper()
	conn, err := net.Dial("unix", control.Path(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	conn.Write(data)
	n, _ := conn.Read(make([]byte, 1))
	return n > 0
}

// frame returns body framed as the protocol frames it.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestControlRequests: the control endpoint answers memoctl's requests
// over its protocol, refuses bad ones with an error that keeps its
// sentinel, and drops connections that do not speak the protocol
// (garbage, HTTP, an oversized frame, a request before the hello, another
// version) while it goes on serving the others.
func TestControlRequests(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(shortDir(t), "c.db")
	s := openStore(t, path)
	put(t, openNS(t, s, "n"), "k", record("k", 1, 0, "v"))
	flush(t, s)
	c, err := control.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.PID() != os.Getpid() {
		t.Errorf("hello: holder pid %d, want %d", c.PID(), os.Getpid())
	}
	st, err := c.Info(ctx)
	if err != nil || st.Path != path || st.PID != os.Getpid() || len(st.Namespaces) != 1 || st.Namespaces[0].Entries != 1 {
		t.Errorf("Info = %+v, %v", st, err)
	}
	var keys []string
	if err := c.Keys(ctx, "n", 10, func(k driver.KeyInfo) error { keys = append(keys, fmt.Sprint(k.Key)); return nil }); err != nil || len(keys) != 1 {
		t.Errorf("Keys = %v, %v", keys, err)
	}
	if _, err := c.Sweep(ctx); err != nil {
		t.Errorf("Sweep: %v", err)
	}
	if rep, err := c.Check(ctx); err != nil || rep.Records != 1 {
		t.Errorf("Check = %+v, %v", rep, err)
	}
	if _, err := c.Clear(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `no namespace "nope"`) {
		t.Errorf("Clear of a missing namespace: %v", err)
	}
	if err := c.Keys(ctx, "n", -1, func(driver.KeyInfo) error { return nil }); err == nil {
		t.Error("Keys with limit -1: no error")
	}
	if res, err := c.Clear(ctx, "n"); err != nil || len(res.Cleared) != 1 || res.Cleared[0].Entries != 1 {
		t.Errorf("Clear = %+v, %v", res, err)
	}
	if st, err := c.Info(ctx); err != nil || st.Namespaces[0].Entries != 0 {
		t.Errorf("Info after Clear = %+v, %v", st, err)
	}

	hello, _ := msgpack.Marshal(&control.Msg{ID: 1, Op: control.OpHello, N: control.Version})
	stats, _ := msgpack.Marshal(&control.Msg{ID: 1, Op: control.OpStats})
	oldHello, _ := msgpack.Marshal(&control.Msg{ID: 1, Op: control.OpHello, N: control.Version + 1})
	for name, data := range map[string][]byte{
		"garbage":                []byte("\x00\x01garbage\r\n\r\n"),
		"HTTP":                   []byte("GET /v1/info HTTP/1.1\r\nHost: store\r\n\r\n"),
		"oversized frame":        binary.BigEndian.AppendUint32(nil, 1<<31),
		"undecodable frame":      frame([]byte{0xc1, 0xc1, 0xc1}),
		"a request before hello": frame(stats),
	} {
		if rawFrames(t, path, data) {
			t.Errorf("%s: the endpoint answered", name)
		}
	}
	// Another version is told why, then dropped.
	if !rawFrames(t, path, frame(oldHello)) {
		t.Error("a hello of another version got no answer")
	}
	if !rawFrames(t, path, frame(hello)) {
		t.Error("a good hello got no answer")
	}
	if _, err := c.Info(ctx); err != nil {
		t.Errorf("the first connection stopped working after bad ones: %v", err)
	}
	if !control.Live(ctx, path) {
		t.Error("the endpoint stopped answering after bad requests")
	}
}

// controlClientEnv makes the test binary a control client (see
// runControlClient).
const controlClientEnv = "MEMOSTORE_CONTROL_CLIENT"

// runControlClient is what the test binary does when TestMain finds
// controlClientEnv set to a store path: the client of
// TestControlRefusesOtherUsers, in a process of another user. It prints
// "ok" if the endpoint answered Info, or "error: ...".
func runControlClient(path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := control.Dial(ctx, path)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer c.Close()
	if _, err := c.Info(ctx); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("ok")
}

// TestDialRefusesSymlink: a symlink planted at PATH.ctl, even to a live
// control socket, is never followed: Dial and Live refuse it, and Open
// leaves it, and what it points to, alone (with the control endpoint off).
func TestDialRefusesSymlink(t *testing.T) {
	ctx := context.Background()
	dir := shortDir(t)
	live := filepath.Join(dir, "live.db")
	holder := openStore(t, live)
	if !control.Live(ctx, live) {
		t.Fatal("the live store does not answer")
	}
	victim := filepath.Join(dir, "v.db")
	closeStore(t, openStore(t, victim))
	regular := filepath.Join(dir, "regular")
	writeFile(t, regular, []byte("keep me"))

	for _, target := range []string{control.Path(live), regular, dir} {
		if err := os.Symlink(target, control.Path(victim)); err != nil {
			t.Fatal(err)
		}
		c, err := control.Dial(ctx, victim)
		if err == nil {
			c.Close()
			t.Errorf("Dial followed a symlink at %s to %s", control.Path(victim), target)
		}
		if control.Live(ctx, victim) {
			t.Errorf("Live followed a symlink to %s", target)
		}

		logOpt, log := captureLog()
		s := openStore(t, victim, logOpt)
		if fi, err := os.Lstat(control.Path(victim)); err != nil || fi.Mode().Type() != fs.ModeSymlink {
			t.Errorf("Open replaced the planted symlink: %v, %v", fi, err)
		}
		if !strings.Contains(log.String(), "control endpoint off") {
			t.Errorf("Open with a symlink at the control path did not say the endpoint is off: %q", log.String())
		}
		closeStore(t, s)
		if fi, err := os.Lstat(control.Path(victim)); err != nil || fi.Mode().Type() != fs.ModeSymlink {
			t.Errorf("Close removed the planted symlink: %v, %v", fi, err)
		}
		os.Remove(control.Path(victim))
	}
	if data, err := os.ReadFile(regular); err != nil || string(data) != "keep me" {
		t.Errorf("the symlink's target file was changed: %q, %v", data, err)
	}
	if !control.Live(ctx, live) {
		t.Error("the live store's socket was disturbed")
	}

	// A regular file at the control path is not a socket either.
	writeFile(t, control.Path(victim), []byte("not a socket"))
	if c, err := control.Dial(ctx, victim); err == nil {
		c.Close()
		t.Error("Dial accepted a regular file at the control path")
	}
	closeStore(t, holder)
	if _, err := control.Dial(ctx, live); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial of a closed store: %v, want not exist", err)
	}
}
