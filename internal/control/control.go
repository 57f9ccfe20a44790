// Package control is the control endpoint of a store file: the server
// that the process holding the file runs (package boltstore starts it),
// and the client memoctl uses to reach it.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// The control endpoint lets memoctl inspect and clear a store that a
// running program holds (bbolt's lock keeps every other process out of the
// file, even readers). It is HTTP over a Unix domain socket beside the
// file, PATH.ctl, mode 0600, accepting connections only from the owner's
// user (checked with SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and
// FreeBSD) and from root. It can be debugged with
// curl --unix-socket PATH.ctl http://store/v1/info. There is no TCP
// listener. Where the peer's user cannot be checked (Windows, and other
// systems without peer credentials) the endpoint is not started at all, as
// if WithoutControl were given: memoctl then reaches a held store only
// once its holder has closed it.
//
//	GET  /v1/info                                the store's Stats, as JSON
//	POST /v1/clear?namespace=NAME                clear a namespace ("" = all), in both tiers
//	POST /v1/clear?namespace=NAME&expired=true   sweep expired entries
//	POST /v1/sweep                               sweep expired entries
//	GET  /v1/keys?namespace=NAME&limit=N         keys as JSON lines (see KeyInfo)
//	POST /v1/check                               Check without fix, as JSON (see CheckReport)

// Path returns the path of the control socket of the store at path.
func Path(path string) string { return path + ".ctl" }

// PeerCredentials reports whether this platform tells a Unix socket's
// server the user of the process at the other end; without that the
// endpoint is not started (see Serve).
const PeerCredentials = peerCredentials

// errNoPeerCredentials is Serve's error where peerCredentials is false.
var errNoPeerCredentials = errors.New("no peer credentials for Unix sockets on " + runtime.GOOS)

// A Backend is what the endpoint serves: the store its process holds.
type Backend interface {
	Stats(ctx context.Context) (driver.Stats, error)
	Inspect(ctx context.Context) (driver.Stats, error)
	Flush(ctx context.Context) error
	Sweep(ctx context.Context) (int, error)
	Clear(ctx context.Context, name string) error
	Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error
	Check(ctx context.Context, fix bool, progress func(done, total int64)) (*driver.CheckReport, error)
}

// maxControlRequest bounds a control request's headers; requests carry no
// body.
const maxControlRequest = 4 << 10

// A Server is a store's control endpoint. Close stops it.
type Server struct {
	s    Backend
	path string
	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup
}

// Serve listens on the control socket of the store file at storePath and
// serves b there, on a goroutine that Close stops. The caller must hold
// the store's lock: a socket left by a crashed process is then replaced,
// as no live process owns it. Anything else at that path (a file, a
// symlink) is left alone and Serve fails.
func Serve(storePath string, b Backend, log *slog.Logger) (*Server, error) {
	if !peerCredentials {
		return nil, errNoPeerCredentials
	}
	path := Path(storePath)
	if len(path) >= 108 { // sizeof(sockaddr_un.sun_path)
		return nil, fmt.Errorf("control socket path %q is too long for a Unix socket", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; leaving it alone", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	// Listen under a temporary name, restrict it, then move it into place,
	// so that the socket is never reachable at PATH.ctl with looser modes.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	c := &Server{s: b, path: path, ln: &peerListener{ln}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", c.info)
	mux.HandleFunc("POST /v1/clear", c.clear)
	mux.HandleFunc("POST /v1/sweep", c.sweep)
	mux.HandleFunc("GET /v1/keys", c.keys)
	mux.HandleFunc("POST /v1/check", c.check)
	c.srv = &http.Server{
		Handler:           http.MaxBytesHandler(mux, 0),
		MaxHeaderBytes:    maxControlRequest,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          nil,
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("memostore: control endpoint stopped", "path", path, "err", err)
		}
	}()
	return c, nil
}

// Close closes the endpoint, waits for its goroutine and removes its
// socket. Requests in progress are cut off: Close does not wait for an
// operator.
func (c *Server) Close() {
	c.srv.Close()
	c.wg.Wait()
	if fi, err := os.Lstat(c.path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		os.Remove(c.path)
	}
}

// peerListener accepts only connections from this process's user or root.
type peerListener struct{ net.Listener }

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if peerAllowed(conn) {
			return conn, nil
		}
		conn.Close()
	}
}

func peerAllowed(conn net.Conn) bool {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var uid uint32
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = peerUID(fd) }); err != nil || uerr != nil {
		return false
	}
	return uid == uint32(os.Getuid()) || uid == 0
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// httpError answers with err's text and, if err is one of the sentinel
// errors, its code, so that the client gives back the same sentinel.
func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(wireError{Error: err.Error(), Code: codeOf(err)})
}

func (c *Server) info(w http.ResponseWriter, r *http.Request) {
	st, err := c.s.Inspect(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, st)
}

// ClearResult is what a clear through the control endpoint reports.
type ClearResult struct {
	Cleared []driver.NamespaceStats `json:"cleared,omitempty"` // the namespaces as they were before
	Swept   int                     `json:"swept"`             // expired entries removed, for a sweep
}

func (c *Server) clear(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("expired") == "true" {
		c.sweep(w, r)
		return
	}
	name := q.Get("namespace")
	before, _ := c.s.Stats(r.Context())
	if err := c.s.Clear(r.Context(), name); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	var res ClearResult
	for _, ns := range before.Namespaces {
		if name == "" || ns.Name == name {
			res.Cleared = append(res.Cleared, ns)
		}
	}
	writeJSON(w, res)
}

func (c *Server) sweep(w http.ResponseWriter, r *http.Request) {
	n, err := c.s.Sweep(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, ClearResult{Swept: n})
}

func (c *Server) check(w http.ResponseWriter, r *http.Request) {
	rep, err := c.s.Check(r.Context(), false, nil)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, rep)
}

func (c *Server) keys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, fmt.Errorf("bad limit %q", l))
			return
		}
		limit = n
	}
	// List what this process has stored, queued writes included.
	if err := c.s.Flush(r.Context()); err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	err := c.s.Keys(r.Context(), q.Get("namespace"), limit, func(k driver.KeyInfo) error {
		return enc.Encode(k)
	})
	if err != nil {
		// Headers are gone; a final error line tells the client.
		enc.Encode(wireError{Error: err.Error(), Code: codeOf(err)})
	}
}

// A Client talks to the control endpoint of a store that another process
// holds open.
type Client struct {
	path string
	hc   *http.Client
}

// Dial connects to the control endpoint of the store at path. It returns
// an error, quickly, if no process answers there.
func Dial(ctx context.Context, path string) (*Client, error) {
	sock := Path(path)
	fi, err := os.Lstat(sock)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("%s is not a socket", sock)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	c := &Client{path: path, hc: &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: time.Minute}}
	conn, err := dial(ctx, "", "")
	if err != nil {
		return nil, err
	}
	conn.Close()
	return c, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://store"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control %s: %w", Path(c.path), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e wireError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return e.err()
		}
		return fmt.Errorf("control %s: %s", Path(c.path), resp.Status)
	}
	return json.Unmarshal(body, out)
}

// Info returns the live store's Inspect report.
func (c *Client) Info(ctx context.Context) (driver.Stats, error) {
	var st driver.Stats
	err := c.do(ctx, http.MethodGet, "/v1/info", &st)
	return st, err
}

// Clear clears a namespace ("" = all) of the live store, in the file and in
// the memory tiers of that process.
func (c *Client) Clear(ctx context.Context, namespace string) (ClearResult, error) {
	var res ClearResult
	err := c.do(ctx, http.MethodPost, "/v1/clear?namespace="+urlQuery(namespace), &res)
	return res, err
}

// Sweep sweeps expired entries of the live store.
func (c *Client) Sweep(ctx context.Context) (int, error) {
	var res ClearResult
	err := c.do(ctx, http.MethodPost, "/v1/sweep", &res)
	return res.Swept, err
}

// Check runs Check, without fix, in the live store's process.
func (c *Client) Check(ctx context.Context) (*driver.CheckReport, error) {
	var rep driver.CheckReport
	err := c.do(ctx, http.MethodPost, "/v1/check", &rep)
	return &rep, err
}

// Keys calls fn for up to limit keys (0 = all) of the namespace.
func (c *Client) Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://store/v1/keys?namespace="+urlQuery(namespace)+"&limit="+strconv.Itoa(limit), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control %s: %w", Path(c.path), err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		// The endpoint's final error line has only "error"; a KeyInfo has
		// "error" too (a key that does not decode) but always "stored_at".
		var e struct {
			wireError
			StoredAt *int64 `json:"stored_at"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" && e.StoredAt == nil {
			return e.err()
		}
		var k driver.KeyInfo
		if err := json.Unmarshal(raw, &k); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// Live reports whether a process holds the store at path and answers on its
// control endpoint.
func Live(ctx context.Context, path string) bool {
	c, err := Dial(ctx, path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
