package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/store/driver"
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

// controlClient returns an HTTP client of the control socket of the store
// at path, its idle connections closed when the test ends.
func controlClient(tb testing.TB, path string) *http.Client {
	tb.Helper()
	sock := control.Path(path)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// rawRequest sends req as is on a new connection to the control socket of
// the store at path and returns the response's status code, or 0 and the
// error if none came.
func rawRequest(tb testing.TB, path, req string) (int, error) {
	tb.Helper()
	conn, err := net.Dial("unix", control.Path(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestControlRequests: the control endpoint answers its documented
// requests, and only those: unknown paths are 404, wrong methods 405, bad
// parameters and namespace names 400, oversized headers 431, garbage 400.
func TestControlRequests(t *testing.T) {
	path := filepath.Join(shortDir(t), "c.db")
	s := openStore(t, path)
	put(t, openNS(t, s, "n"), "k", record("k", 1, 0, "v"))
	flush(t, s)
	hc := controlClient(t, path)
	tests := []struct {
		method, target string
		want           int
	}{
		{"GET", "/v1/info", 200},
		{"GET", "/v1/keys?namespace=n&limit=10", 200},
		{"POST", "/v1/sweep", 200},
		{"POST", "/v1/clear?namespace=n&expired=true", 200},
		{"POST", "/v1/clear?namespace=n", 200},

		{"GET", "/", 404},
		{"GET", "/v1", 404},
		{"GET", "/v1/", 404},
		{"GET", "/v2/info", 404},
		{"GET", "/v1/info/more", 404},
		{"GET", "/v1/INFO", 404},
		{"GET", "/debug/pprof/", 404},
		{"GET", "/v1/../v1/keyz", 404},

		{"POST", "/v1/info", 405},
		{"PUT", "/v1/info", 405},
		{"DELETE", "/v1/info", 405},
		{"GET", "/v1/clear?namespace=n", 405},
		{"DELETE", "/v1/clear", 405},
		{"GET", "/v1/sweep", 405},
		{"PATCH", "/v1/sweep", 405},
		{"POST", "/v1/keys?namespace=n", 405},

		{"POST", "/v1/clear?namespace=nope", 400},
		{"POST", "/v1/clear?namespace=bad%20name", 400},
		{"POST", "/v1/clear?namespace=..%2F..%2Fetc", 400},
		{"GET", "/v1/keys?namespace=n&limit=-1", 400},
		{"GET", "/v1/keys?namespace=n&limit=many", 400},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://store"+tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", tt.method, tt.target, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.target, resp.StatusCode, bytes.TrimSpace(body), tt.want)
		}
		if tt.want == 200 && tt.target == "/v1/info" {
			var st driver.Stats
			if err := json.Unmarshal(body, &st); err != nil || st.Path != path || st.PID != os.Getpid() {
				t.Errorf("GET /v1/info = %s, %v", body, err)
			}
		}
	}

	big := strings.Repeat("x", 16<<10)
	for name, req := range map[string]string{
		"oversized header":       "GET /v1/info HTTP/1.1\r\nHost: store\r\nX-Big: " + big + "\r\n\r\n",
		"many headers":           "GET /v1/info HTTP/1.1\r\nHost: store\r\n" + strings.Repeat("X-A: aaaaaaaaaaaaaaaa\r\n", 1000) + "\r\n",
		"oversized request line": "GET /v1/info?" + big + " HTTP/1.1\r\nHost: store\r\n\r\n",
	} {
		if code, err := rawRequest(t, path, req); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: status %d, %v; want 431", name, code, err)
		}
	}
	if code, err := rawRequest(t, path, "\x00\x01garbage\r\n\r\n"); code != http.StatusBadRequest {
		t.Errorf("garbage: status %d, %v; want 400", code, err)
	}
	// A header of ordinary size is fine, and the endpoint still serves.
	ok := "GET /v1/info HTTP/1.1\r\nHost: store\r\nUser-Agent: " + strings.Repeat("u", 1000) + "\r\nConnection: close\r\n\r\n"
	if code, err := rawRequest(t, path, ok); code != 200 {
		t.Errorf("a 1 KB header: status %d, %v; want 200", code, err)
	}
	if !control.Live(context.Background(), path) {
		t.Error("the endpoint stopped answering after bad requests")
	}
}

// controlClientEnv makes the test binary a control client (see
// runControlClient) when curl is not installed.
const controlClientEnv = "MEMOSTORE_CONTROL_CLIENT"

// runControlClient is what the test binary does when TestMain finds
// controlClientEnv set to a socket path: the client of
// TestControlRefusesOtherUsers, in a process of another user. It prints the
// response's status line, or "error: ..." if none came.
func runControlClient(sock string) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /v1/info HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(strings.TrimSpace(line))
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
