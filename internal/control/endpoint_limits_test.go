//go:build linux

package control

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// idleBackend is a backend whose sessions do nothing; it never blocks in
// Connect (fakeBackend does past four sessions).
type idleBackend struct{ fakeBackend }

func (b *idleBackend) Connect(*Peer) Session { return fakeSession{&b.fakeBackend} }

func serveIdle(t *testing.T, storePath string) *Server {
	t.Helper()
	srv, err := Serve(storePath, &idleBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestSocketPathNearLimit: Serve accepts a store path whose
// control socket, PATH.ctl, fits sockaddr_un (under 108 bytes), but it
// listens first under a longer temporary name (".PATH.ctl.PID"), which
// does not fit: the endpoint is off for paths whose socket is 98 to 107
// bytes long, and every other process opening the file waits
// LockTimeout and gets ErrLocked.
func TestSocketPathNearLimit(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const sockLen = 105 // < 108: the length check in Serve lets it through
	base := sockLen - len(dir) - 1 - len(".ctl")
	if base < 4 {
		t.Skipf("temporary directory %q too long for this test", dir)
	}
	storePath := filepath.Join(dir, strings.Repeat("s", base))
	if n := len(Path(storePath)); n != sockLen {
		t.Fatalf("socket path of %d bytes, want %d", n, sockLen)
	}
	// The socket path itself is usable: a plain listener binds it.
	ln, err := net.Listen("unix", Path(storePath))
	if err != nil {
		t.Fatalf("a %d-byte socket path does not bind at all: %v", sockLen, err)
	}
	ln.Close()
	os.Remove(Path(storePath))

	srv, err := Serve(storePath, &idleBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Serve of a store whose socket path (%d bytes) fits a Unix socket: %v", sockLen, err)
	}
	defer srv.Close()
	c, err := Dial(context.Background(), storePath)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
}

// TestAcceptSurvivesEMFILE: when the holder's process runs out
// of file descriptors for a moment (many peers connecting at once, or
// the program's own files), Accept fails with EMFILE and the endpoint's
// accept loop returns for good: the socket stays in place, the kernel
// still queues connections, but no process is ever served again: new
// followers and memoctl wait for a hello that never comes, and Open of
// another process ends in ErrLocked. A transient accept error must be
// retried (as net/http does), not end the endpoint.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	if os.Getenv("R18_EMFILE_CHILD") == "" {
		// In a process of its own: the test lowers RLIMIT_NOFILE.
		cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesEMFILE$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "R18_EMFILE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if strings.Contains(string(out), "SKIP") {
			t.Skipf("%s", out)
		}
		return
	}
	path := shortStorePath(t)
	srv, err := Serve(path, &idleBackend{}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	low := old
	low.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	// Fill the descriptor table with connections to the endpoint: the
	// last ones the endpoint cannot accept (EMFILE).
	var conns []net.Conn
	for i := 0; i < 64; i++ {
		c, err := net.Dial("unix", Path(path))
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond) // the endpoint tries to accept the queued ones
	for _, c := range conns {
		c.Close()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	// Descriptors are plentiful again: the endpoint must serve.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatalf("after a moment without file descriptors (%d connections), the endpoint serves no one: %v", len(conns), err)
	}
	c.Close()
}

// TestStalledHalfFrameMemory: a peer that sends only the 4-byte
// length of a frame (up to maxFrame, 80 MiB) and stalls makes the
// holder allocate the whole body at once (wire.recv: make([]byte, n)),
// before a byte of it came, and before the hello (the first frame is
// read the same way). There is no bound on connections, so a few
// stalled peers commit gigabytes of the holder's heap.
func TestStalledHalfFrameMemory(t *testing.T) {
	path := shortStorePath(t)
	serveIdle(t, path)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const peers = 4
	var conns []net.Conn
	for i := 0; i < peers; i++ {
		c, err := net.Dial("unix", Path(path))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x04, 0xff, 0xff, 0xff}) // a frame of ~80 MiB: its length only
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grew > 32<<20 {
		t.Errorf("%d peers that sent a frame's length and stalled hold %d MiB of the holder's heap; want it bounded by what they sent", peers, grew>>20)
	}
}

// TestHelloOfAnotherVersionIsAnswered: the hello's version is
// there so that a holder tells a program of another protocol version
// what is wrong ("upgrade the older program"). A later version whose
// frames carry one more field (12, not 11) cannot be told: its hello
// does not decode (msgpack refuses an array-encoded struct of another
// length), and the holder drops the connection without a word; the
// other program sees only a lost connection, and its Open ends in
// ErrLocked after LockTimeout. The hello should be read leniently
// (extra fields ignored) so that the version check can answer.
func TestHelloOfAnotherVersionIsAnswered(t *testing.T) {
	path := shortStorePath(t)
	serveIdle(t, path)

	// A hello of version 2: the 11 fields of Msg, and one more.
	f := appendFrame(nil, &Msg{ID: 1, Op: OpHello, N: Version + 1})
	f[4] = 0x90 | 12
	f = append(f, 0xc0) // the new field: nil
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))

	conn, err := net.Dial("unix", Path(path))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(f); err != nil {
		t.Fatal(err)
	}
	w := newWire(conn)
	r, err := w.recv()
	if err != nil {
		t.Fatalf("hello of protocol version %d (one more field): no answer, the connection was dropped (%v); want a reply naming the versions", Version+1, err)
	}
	if !strings.Contains(r.Err, "version") {
		t.Errorf("reply to a hello of version %d: %+v; want an error naming the versions", Version+1, r)
	}
}

// shortStorePath returns the path of a store file in a directory of its
// own under the system's temporary one, short enough for its socket's path
// to fit sun_path, removed when the test ends.
func shortStorePath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.db")
}
