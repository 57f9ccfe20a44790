package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
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
	// puts sent and not yet answered, by namespace and key: a request
	// about such a key takes this connection, not a lane, so that the
	// holder reads it after the put.
	putKeys map[string]map[string]int

	// Lanes (see serveLane): blocking connections joined to this one,
	// for requests answered at once.
	laneTok   []byte // what joins them to this connection; nil: no lanes
	laneMu    sync.Mutex
	idle      []*lane
	lanes     map[*lane]bool // all open, idle or in use
	lanesDone bool           // the connection ended: no more lanes
	laneFails int            // lanes that failed to connect
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
	c := &Client{path: path, w: newWire(conn), onPush: onPush, calls: map[uint64]func(*Msg) bool{}, done: make(chan struct{}),
		putKeys: map[string]map[string]int{}, lanes: map[*lane]bool{}}
	c.reading.Add(1)
	go c.read()
	hctx, cancel := context.WithTimeoutCause(ctx, helloTimeout, errStuck)
	defer cancel()
	// Flag: a process that follows (it takes pushes), which a holder
	// that keeps its file alone refuses (see Exclusive).
	r, err := c.call(hctx, &Msg{Op: OpHello, N: Version, Flag: onPush != nil})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control %s: %w", sock, err)
	}
	c.pid = int(r.N)
	if lanesSupported && len(r.Data) > 0 {
		c.laneTok = r.Data
	}
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
// flight fail with ErrGone; puts waiting to be written are written
// first.
func (c *Client) Close() {
	c.w.flush()
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
	c.endLanes()
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
	if m.Op == OpPut {
		fn = c.trackPut(m.NS, m.Key, fn)
	}
	c.calls[m.ID] = fn
	c.mu.Unlock()
	var err error
	if m.Op == OpPut {
		err = c.w.sendLater(m) // it shares a write with what follows (see sendLater)
	} else {
		err = c.w.send(m)
	}
	if err != nil {
		c.w.close() // read ends, and fails every call, this one too
		return nil
	}
	return nil
}

// Go sends m, a request whose reply fn receives (nil if the connection
// ended first) without anyone waiting for it. It reports whether m was
// sent. A put may be written up to laterDelay later, with what follows
// it on the connection (see sendLater).
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
		if errors.Is(context.Cause(ctx), errStuck) {
			c.w.close()
		} else if m.Op == OpAcquire || m.Op == OpClaim {
			// The caller gave up, but the holder may still grant the
			// claim: released when the reply comes, or no one would
			// until ClaimLease. The goroutine ends with the reply, or
			// with the connection (a nil reply).
			go func() {
				if r := <-ch; r != nil && grantsClaim(m, r) {
					c.Send(&Msg{Op: OpRelease, NS: m.NS, Key: m.Key, N: r.N})
				}
			}()
		}
		return nil, fmt.Errorf("control %s: %w", Path(c.path), ctx.Err())
	}
}

// Call sends m and waits for its reply, up to timeout (or ctx); after
// timeout the connection is given up (see call). A lookup or a claim
// takes a lane when one is free.
func (c *Client) Call(ctx context.Context, m *Msg, timeout time.Duration) (*Msg, error) {
	if laneOp(m.Op) && c.laneTok != nil {
		if l := c.takeLane(m); l != nil {
			return c.laneCall(ctx, l, m, timeout)
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errStuck)
	defer cancel()
	return c.call(ctx, m)
}

// errStuck is the cause of a call's end when its own timeout passed: the
// holder is stuck, and the connection is given up. A caller's context
// that ends, its deadline included, gives up the call alone: closing the
// connection would end the session at the holder, and with it the claims
// that this process's other calls hold and compute under
// (TestCallerDeadlineKeepsOtherClaims).
var errStuck = errors.New("the holder did not answer in time")

// trackPut records a put of key in ns as unanswered until fn, its
// reply's handler, receives the reply. c.mu must be held.
func (c *Client) trackPut(ns string, key []byte, fn func(*Msg) bool) func(*Msg) bool {
	keys := c.putKeys[ns]
	if keys == nil {
		keys = map[string]int{}
		c.putKeys[ns] = keys
	}
	k := string(key)
	keys[k]++
	return func(r *Msg) bool {
		c.mu.Lock()
		if keys[k]--; keys[k] == 0 {
			delete(keys, k)
		}
		c.mu.Unlock()
		return fn(r)
	}
}

// maxLanes bounds a connection's lanes: each one in use holds a thread.
var maxLanes = min(max(runtime.GOMAXPROCS(0), 2), 8)

// maxLaneFails is how many lanes may fail to connect before a connection
// stops trying.
const maxLaneFails = 3

// takeLane returns a lane for m, connecting a new one if none is idle;
// nil if m must take the connection: a put of its key is unanswered,
// or no lane is to be had.
func (c *Client) takeLane(m *Msg) *lane {
	c.mu.Lock()
	busyKey := c.putKeys[m.NS][string(m.Key)] > 0
	c.mu.Unlock()
	if busyKey {
		return nil
	}
	c.laneMu.Lock()
	if c.lanesDone {
		c.laneMu.Unlock()
		return nil
	}
	if n := len(c.idle); n > 0 {
		l := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.laneMu.Unlock()
		return l
	}
	if len(c.lanes) >= maxLanes || c.laneFails >= maxLaneFails {
		c.laneMu.Unlock()
		return nil
	}
	c.lanes[nil] = true // a place held while connecting
	c.laneMu.Unlock()
	l, err := dialLane(Path(c.path), c.laneTok)
	c.laneMu.Lock()
	defer c.laneMu.Unlock()
	delete(c.lanes, nil)
	if err != nil {
		c.laneFails++
		return nil
	}
	if c.lanesDone {
		l.close()
		return nil
	}
	c.lanes[l] = true
	return l
}

// putLane gives back the lane l after a round trip that worked.
func (c *Client) putLane(l *lane) {
	c.laneMu.Lock()
	defer c.laneMu.Unlock()
	if c.lanesDone {
		delete(c.lanes, l)
		l.close()
		return
	}
	c.idle = append(c.idle, l)
}

// dropLane closes the lane l after a round trip that failed.
func (c *Client) dropLane(l *lane) {
	c.laneMu.Lock()
	delete(c.lanes, l)
	c.laneMu.Unlock()
	l.close()
}

// endLanes closes the lanes when the connection ends: idle ones at once;
// those in use are shut down, which ends their round trips, and their
// users close them.
func (c *Client) endLanes() {
	c.laneMu.Lock()
	defer c.laneMu.Unlock()
	c.lanesDone = true
	for _, l := range c.idle {
		delete(c.lanes, l)
		l.close()
	}
	c.idle = nil
	for l := range c.lanes {
		if l != nil {
			l.kill()
		}
	}
}

// laneCall is Call on the lane l.
func (c *Client) laneCall(ctx context.Context, l *lane, m *Msg, timeout time.Duration) (*Msg, error) {
	callers := false // the caller's deadline bounds the round trip, not timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout, callers = time.Until(d), true
	}
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			c.putLane(l)
			return nil, fmt.Errorf("control %s: %w", Path(c.path), err)
		}
		// The caller reads the reply itself: a ctx that ends meanwhile
		// cuts the lane.
		stop := context.AfterFunc(ctx, l.kill)
		defer stop()
	}
	r, err := l.roundTrip(m, timeout)
	if err == nil {
		c.putLane(l)
		return r, r.err()
	}
	c.dropLane(l)
	switch {
	case ctx.Err() != nil:
		// The caller's: the lane alone is given up (see errStuck).
		return nil, fmt.Errorf("control %s: %w", Path(c.path), ctx.Err())
	case callers && errors.Is(err, errLaneTimeout):
		return nil, fmt.Errorf("control %s: %w", Path(c.path), context.DeadlineExceeded)
	case errors.Is(err, errLaneTimeout):
		// The holder is stuck: as in call, give up the connection.
		c.w.close()
		return nil, fmt.Errorf("control %s: %w", Path(c.path), context.DeadlineExceeded)
	}
	// The lane broke; the holder went, most likely, and the connection
	// ends too.
	return nil, ErrGone
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
			// Numbers as json.Number: an integer key above 2^53 read
			// as a float64 would print as another key.
			d := json.NewDecoder(bytes.NewReader(r.Data))
			d.UseNumber()
			b.err = d.Decode(&b.keys)
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
