package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// A Client is a connection to the control endpoint of a store that
// another process holds: memoctl's, or a follower's. It is safe for
// concurrent use; its requests share the one connection. It owns one
// goroutine, reading replies, which Close stops.
type Client struct {
	path string
	w    *wire
	pid  int

	// OnPush, if set before the first request, is called (on the reading
	// goroutine, one at a time) for each push from the holder; the push
	// is acknowledged when it returns. Without it pushes are just
	// acknowledged.
	onPush func(m *Msg)

	mu      sync.Mutex
	nextID  uint64
	calls   map[uint64]func(*Msg) bool // by request ID; true: the last reply
	err     error                      // why the connection ended
	done    chan struct{}              // closed when it ends
	reading sync.WaitGroup
}

// ErrGone is the error of requests on a Client whose connection ended.
var ErrGone = fmt.Errorf("control: connection to the holder lost: %w", driver.ErrUnavailable)

// ErrStranger is Dial's error when the socket's server runs as another
// user (not root): it is never trusted.
var ErrStranger = errors.New("served by another user's process; not trusting it")

// Dial connects to the control endpoint of the store at path and says
// hello. It returns an error, quickly, if no process of this user (or
// root) answers there within ctx or a few seconds.
func Dial(ctx context.Context, path string) (*Client, error) {
	return DialPush(ctx, path, nil)
}

// DialPush is Dial, with onPush called for each push (OpForget, OpPurge)
// from the holder before it is acknowledged.
func DialPush(ctx context.Context, path string, onPush func(*Msg)) (*Client, error) {
	sock := Path(path)
	fi, err := os.Lstat(sock)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("%s is not a socket", sock)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	if !peerAllowed(conn) {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", sock, ErrStranger)
	}
	c := &Client{path: path, w: newWire(conn), onPush: onPush, calls: map[uint64]func(*Msg) bool{}, done: make(chan struct{})}
	c.reading.Add(1)
	go c.read()
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	r, err := c.call(hctx, &Msg{Op: OpHello, N: Version})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control %s: %w", sock, err)
	}
	c.pid = int(r.N)
	return c, nil
}

// helloTimeout bounds the greeting: a holder that is stopped (SIGSTOP)
// accepts connections (the kernel does) but never answers.
const helloTimeout = 2 * time.Second

// PID returns the holder's process ID.
func (c *Client) PID() int { return c.pid }

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection and waits for its goroutine. Requests in
// flight fail with ErrGone.
func (c *Client) Close() {
	c.w.close()
	c.reading.Wait()
}

// read dispatches replies and pushes until the connection ends.
func (c *Client) read() {
	defer c.reading.Done()
	var err error
	for {
		var m *Msg
		if m, err = c.w.recv(); err != nil {
			break
		}
		if m.Op == OpForget || m.Op == OpPurge {
			if c.onPush != nil {
				c.onPush(m)
			}
			if err = c.w.send(&Msg{ID: m.ID, Op: OpAck}); err != nil {
				break
			}
			continue
		}
		c.mu.Lock()
		fn := c.calls[m.ID]
		c.mu.Unlock()
		if fn != nil && fn(m) {
			c.mu.Lock()
			delete(c.calls, m.ID)
			c.mu.Unlock()
		}
	}
	c.w.close()
	c.mu.Lock()
	c.err = err
	calls := c.calls
	c.calls = nil
	c.mu.Unlock()
	// Every request learns that it failed before Done says so.
	for _, fn := range calls {
		fn(nil)
	}
	close(c.done)
}

// start sends m as a request whose replies go to fn (nil: the connection
// ended); fn returns true at the last reply.
func (c *Client) start(m *Msg, fn func(*Msg) bool) error {
	c.mu.Lock()
	if c.calls == nil {
		c.mu.Unlock()
		return ErrGone
	}
	c.nextID++
	m.ID = c.nextID
	c.calls[m.ID] = fn
	c.mu.Unlock()
	if err := c.w.send(m); err != nil {
		c.w.close() // read ends, and fails every call, this one too
		return nil
	}
	return nil
}

// Go sends m, a request whose reply fn receives (nil if the connection
// ended first) without anyone waiting for it. It reports whether m was
// sent.
func (c *Client) Go(m *Msg, fn func(*Msg)) bool {
	return c.start(m, func(r *Msg) bool { fn(r); return true }) == nil
}

// Send sends m without wanting a reply.
func (c *Client) Send(m *Msg) error {
	m.ID = 0
	select {
	case <-c.done:
		return ErrGone
	default:
	}
	if err := c.w.send(m); err != nil {
		c.w.close()
		return ErrGone
	}
	return nil
}

// call sends m and waits for its reply, or ctx. A reply that does not
// come in time means the holder is stuck: the connection is closed, so
// that the caller, and every other user of it, stops waiting on it.
func (c *Client) call(ctx context.Context, m *Msg) (*Msg, error) {
	ch := make(chan *Msg, 1)
	if err := c.start(m, func(r *Msg) bool { ch <- r; return true }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r == nil {
			return nil, ErrGone
		}
		return r, r.err()
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.w.close()
		}
		return nil, fmt.Errorf("control %s: %w", Path(c.path), ctx.Err())
	}
}

// Call sends m and waits for its reply, up to timeout (or ctx); after
// timeout the connection is given up (see call).
func (c *Client) Call(ctx context.Context, m *Msg, timeout time.Duration) (*Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.call(ctx, m)
}

// adminTimeout bounds memoctl's requests, which may scan the file.
const adminTimeout = time.Minute

func (c *Client) data(ctx context.Context, op Op, out any) error {
	r, err := c.Call(ctx, &Msg{Op: op}, adminTimeout)
	if err != nil {
		return err
	}
	return json.Unmarshal(r.Data, out)
}

// Info returns the live store's Inspect report.
func (c *Client) Info(ctx context.Context) (driver.Stats, error) {
	var st driver.Stats
	err := c.data(ctx, OpInspect, &st)
	return st, err
}

// Stats returns the live store's Stats.
func (c *Client) Stats(ctx context.Context, timeout time.Duration) (driver.Stats, error) {
	var st driver.Stats
	r, err := c.Call(ctx, &Msg{Op: OpStats}, timeout)
	if err == nil {
		err = json.Unmarshal(r.Data, &st)
	}
	return st, err
}

// ClearResult is what a clear through the control endpoint reports.
type ClearResult struct {
	Cleared []driver.NamespaceStats `json:"cleared,omitempty"` // the namespaces as they were before
	Swept   int                     `json:"swept"`             // expired entries removed, for a sweep
}

// Clear clears a namespace ("" = all) of the live store, in the file and in
// the memory tiers of every process using it.
func (c *Client) Clear(ctx context.Context, namespace string) (ClearResult, error) {
	var res ClearResult
	before, err := c.Stats(ctx, adminTimeout)
	if err != nil {
		return res, err
	}
	if _, err := c.Call(ctx, &Msg{Op: OpClear, NS: namespace}, adminTimeout); err != nil {
		return res, err
	}
	for _, ns := range before.Namespaces {
		if namespace == "" || ns.Name == namespace {
			res.Cleared = append(res.Cleared, ns)
		}
	}
	return res, nil
}

// Sweep sweeps expired entries of the live store.
func (c *Client) Sweep(ctx context.Context) (int, error) {
	r, err := c.Call(ctx, &Msg{Op: OpSweep}, adminTimeout)
	if err != nil {
		return 0, err
	}
	return int(r.N), nil
}

// Check runs Check, without fix, in the live store's process.
func (c *Client) Check(ctx context.Context) (*driver.CheckReport, error) {
	var rep driver.CheckReport
	err := c.data(ctx, OpCheck, &rep)
	return &rep, err
}

// Keys calls fn for up to limit keys (0 = all) of the namespace.
func (c *Client) Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error {
	type batch struct {
		keys []driver.KeyInfo
		err  error
		last bool
	}
	ch := make(chan batch, 4)
	quit := make(chan struct{})
	defer close(quit)
	err := c.start(&Msg{Op: OpKeys, NS: namespace, N: int64(limit)}, func(r *Msg) bool {
		var b batch
		switch {
		case r == nil:
			b = batch{err: ErrGone, last: true}
		case r.Flag:
			b.err = json.Unmarshal(r.Data, &b.keys)
		default:
			b = batch{err: r.err(), last: true}
		}
		select {
		case ch <- b:
		case <-quit: // Keys returned: drop the rest
		}
		return b.last
	})
	if err != nil {
		return err
	}
	var failed error
	for {
		select {
		case b := <-ch:
			if failed == nil {
				if b.err != nil {
					failed = b.err
				}
				for _, k := range b.keys {
					if failed != nil {
						break
					}
					failed = fn(k)
				}
			}
			if b.last {
				return failed
			}
		case <-ctx.Done():
			c.w.close()
			return ctx.Err()
		}
	}
}

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
