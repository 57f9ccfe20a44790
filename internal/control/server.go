package control

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memostore/memostore/store/driver"
)

// The control endpoint is how other processes reach a store file that a
// running program holds (bbolt's lock keeps every other process out of
// the file, even readers): followers (store.RoleFollower) use the store
// through it, and memoctl inspects and clears it. It is a Unix domain
// socket beside the file, PATH.ctl, mode 0600, accepting connections only
// from the owner's user (checked with SO_PEERCRED on Linux, LOCAL_PEERCRED
// on macOS and FreeBSD) and from root; a client checks the server the
// same way before it trusts an answer. There is no TCP listener. Where
// the peer's user cannot be checked (Windows, and other systems without
// peer credentials) the endpoint is not started at all, as if
// WithoutControl were given: a store is then held by one process at a
// time, and memoctl reaches it only once its holder has closed it.

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
	Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error
	Check(ctx context.Context, fix bool, progress func(done, total int64)) (*driver.CheckReport, error)

	// Connect starts the holder's side of a new connection; p reaches
	// the process at its other end. Session.Close ends it.
	Connect(p *Peer) Session
}

// Exclusive is a Backend that may hold its file alone: while Exclusive
// reports true, a process that would follow it (its hello's Flag set, as
// DialPush sets it) is refused with driver.ErrLocked; memoctl is served.
type Exclusive interface {
	Exclusive() bool
}

// A Session is the holder's side of one connection: what the process at
// the other end has claimed and holds. The endpoint calls its methods
// from the connection's goroutines, Close last.
type Session interface {
	Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) error
	// Lookup returns the record stored under key, checked (its checksum,
	// and its expiry at now, the caller's time), or nil.
	Lookup(ctx context.Context, ns string, key []byte, now int64) ([]byte, error)
	// Acquire returns the record under key if there is one; else a
	// claim's token if key was free (the caller computes it, then puts
	// or releases it); else 0, nil, nil after waiting up to wait for
	// the key's claimant.
	Acquire(ctx context.Context, ns string, key []byte, now int64, wait time.Duration) (rec []byte, token uint64, err error)
	Release(ns string, key []byte, token uint64)
	// Claim claims key without reading it or waiting; 0 if another
	// process holds its claim.
	Claim(ns string, key []byte) (token uint64, err error)
	// Drop deletes the record rec under key if it is still there: the
	// process found that it does not decode.
	Drop(ns string, key, rec []byte)
	// Put queues rec under key, releasing the claim token (if not 0),
	// and calls committed once the record is committed, or with the
	// error that kept it from being. committed must not block.
	Put(ctx context.Context, ns string, key, rec []byte, token uint64, committed func(error))
	// Delete and Clear return once every other connected process has
	// forgotten what they delete.
	Delete(ctx context.Context, ns string, key []byte) error
	Clear(ctx context.Context, ns string) error
	// Counts adds what the process counted in its memory tier.
	Counts(ns string, c Counts)
	Close()
}

// Counts are what a follower counted in front of one namespace since it
// last said, and the size of its memory tier now.
type Counts struct {
	Hits, Misses, DiskHits                int64
	DecodeErrors, WriteErrors, ReadErrors int64
	Refreshes, StaleReturns, CachedErrors int64
	MemSize, MemMax                       int
	Saved                                 int64 // nanoseconds of computation the hits saved

	// Uses are hits the memory tier served, by key, for the holder's
	// eviction (see store.Namespace.NoteUse). A holder of an earlier
	// version ignores them, as JSON ignores a field it does not know.
	Uses []Use `json:",omitempty"`
}

// A Use is hits of one key that a follower's memory tier served.
type Use struct {
	Key  []byte
	Hits int
}

// maxConnWork bounds the requests of one connection running at once in
// goroutines of their own (claims waited for, clears, stats): a client
// that sends more waits for one to end.
const maxConnWork = 256

// A Server is a store's control endpoint. Close stops it.
type Server struct {
	b    Backend
	path string
	ln   net.Listener
	log  *slog.Logger
	pid  int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	peers map[*Peer]bool
	joins map[string]*Peer // connections by the token that lets lanes join them

	blocking atomic.Int32 // connections and lanes served with blocking reads, each holding a thread
}

// tmpSeq numbers the short temporary names of sockets (see Serve).
var tmpSeq atomic.Uint64

// Serve listens on the control socket of the store file at storePath and
// serves b there, on goroutines that Close stops. The caller must hold
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
	// The name must fit sun_path too: if .PATH.ctl.PID does not, a short
	// one is taken, unique to this process and this call.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	if len(tmp) >= 108 {
		tmp = filepath.Join(filepath.Dir(path), ".c"+strconv.FormatInt(int64(os.Getpid()), 36)+"."+strconv.FormatUint(tmpSeq.Add(1), 36))
		if len(tmp) >= 108 {
			return nil, fmt.Errorf("control socket path %q is too long for a Unix socket", path)
		}
	}
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
	ctx, cancel := context.WithCancel(context.Background())
	c := &Server{b: b, path: path, ln: ln, log: log, pid: os.Getpid(), ctx: ctx, cancel: cancel, peers: map[*Peer]bool{}, joins: map[string]*Peer{}}
	c.wg.Add(1)
	go c.accept()
	return c, nil
}

func (c *Server) accept() {
	defer c.wg.Done()
	var backoff time.Duration
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors (EMFILE) or another error of the
			// moment: tried again, after a pause that grows (as net/http
			// does), until Close. Ending here would leave the socket
			// queueing connections no one answers.
			if backoff == 0 {
				c.log.Warn("memostore: control endpoint cannot accept connections; trying again", "path", c.path, "err", err)
				backoff = 5 * time.Millisecond
			} else {
				backoff = min(2*backoff, time.Second)
			}
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !peerAllowed(conn) {
			conn.Close()
			continue
		}
		p := &Peer{srv: c, w: newWire(conn), acks: map[uint64]chan struct{}{}, work: make(chan struct{}, maxConnWork), wake: make(chan struct{}, 1),
			lanes: map[*Peer]struct{}{}, ended: make(chan struct{})}
		p.ctx, p.cancel = context.WithCancel(c.ctx)
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.peers[p] = true
		c.mu.Unlock()
		c.wg.Add(1)
		go p.serve()
	}
}

// Close stops accepting connections, closes the open ones, waits for
// their goroutines and removes the socket. Requests in progress are cut
// off.
func (c *Server) Close() {
	c.mu.Lock()
	c.cancel()
	peers := make([]*Peer, 0, len(c.peers))
	for p := range c.peers {
		peers = append(peers, p)
	}
	c.mu.Unlock()
	c.ln.Close()
	for _, p := range peers {
		p.drainReplies()
		p.shut()
	}
	c.wg.Wait()
	if fi, err := os.Lstat(c.path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		os.Remove(c.path)
	}
}

// peerAllowed reports whether the process at the other end of conn runs
// as this process's user or as root.
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

// pushTimeout bounds the wait for a process to acknowledge a push: one
// that does not (stopped, or stuck) is disconnected instead, and, as every
// follower does when it loses its holder, empties its memory tiers before
// it uses the store again.
const pushTimeout = time.Second

// A Peer is the endpoint's side of one connection.
type Peer struct {
	srv  *Server
	w    *wire
	sess Session
	work chan struct{} // slots for requests served on goroutines of their own

	mu      sync.Mutex
	nextID  uint64
	acks    map[uint64]chan struct{} // pushes sent, not yet acknowledged
	pending []pushed                 // what those pushes invalidate
	replies []*Msg                   // put replies waiting for the acker
	wake    chan struct{}            // a reply was added
	gone    bool
	lanes   map[*Peer]struct{} // the lanes that joined this connection
	blk     *lane              // a lane's socket, once out of the poller (see detachLane)
	isShut  bool               // shut was called

	// A lane's: the connection it joined, what ends its requests, and
	// closed when it has ended.
	parent *Peer
	ctx    context.Context
	cancel context.CancelFunc
	ended  chan struct{}
}

// pushed is what an unacknowledged push invalidates: a key, or (key nil)
// a namespace ("" = all).
type pushed struct {
	id      uint64
	ns      string
	key     []byte
	cleared bool // a Clear, which resets the namespace's counters
}

// Forget tells the process at the other end to forget key of namespace
// ns, and returns once it has, or it was disconnected for not answering
// within pushTimeout.
func (p *Peer) Forget(ctx context.Context, ns string, key []byte) {
	p.Invalidating(ns, key, false)(ctx)
}

// Purge tells the process at the other end to empty its memory tier of
// namespace ns ("" = all), and returns once it has, or it was
// disconnected for not answering within pushTimeout.
func (p *Peer) Purge(ctx context.Context, ns string, cleared bool) {
	p.Invalidating(ns, nil, cleared)(ctx)
}

// Invalidating marks an invalidation of key (nil: the namespace ns, ""
// all of them) as under way, and returns the function that tells the
// process (Forget if key is set, else Purge) and returns once it has, as
// those do. From the mark until the process acknowledges, its puts of
// what the invalidation covers are stale (see stale): a holder marks
// before it queues the deletion, so that a put the process sent before
// it heard, of a value computed before, is not stored after the
// deletion. send must be called, or the mark stays until the connection
// ends.
func (p *Peer) Invalidating(ns string, key []byte, cleared bool) (send func(ctx context.Context)) {
	ch := make(chan struct{})
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return func(context.Context) {}
	}
	p.nextID++
	m := &Msg{ID: p.nextID, Op: OpPurge, NS: ns, Flag: cleared}
	if key != nil {
		m.Op, m.Key, m.Flag = OpForget, key, false
	}
	p.acks[m.ID] = ch
	p.pending = append(p.pending, pushed{id: m.ID, ns: m.NS, key: m.Key, cleared: m.Op == OpPurge && m.Flag})
	p.mu.Unlock()
	return func(ctx context.Context) { p.push(ctx, m, ch) }
}

// push sends m, an invalidation that Invalidating marked, and waits for
// its acknowledgement, closing ch.
func (p *Peer) push(ctx context.Context, m *Msg, ch chan struct{}) {
	if p.w.send(m) != nil {
		p.w.close()
		return
	}
	t := time.NewTimer(pushTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		p.srv.log.Warn("memostore: a process did not acknowledge an invalidation in time; disconnecting it",
			"path", p.srv.path, "timeout", pushTimeout)
		p.w.close()
	case <-ctx.Done():
		p.w.close() // it may not have forgotten: it must not go on as if it had
	}
}

// ack records the acknowledgement of push id.
func (p *Peer) ack(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := p.acks[id]; ok {
		close(ch)
		delete(p.acks, id)
	}
	for i, q := range p.pending {
		if q.id == id {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			break
		}
	}
}

// stale reports whether a put of key in ns from this connection may hold
// a value computed before an invalidation the process has not yet
// acknowledged: it sent the put before it read the push (a connection
// delivers in order), so the value may be older than the invalidation.
func (p *Peer) stale(ns string, key []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.pending {
		if (q.ns == "" || q.ns == ns) && (q.key == nil || string(q.key) == string(key)) {
			return true
		}
	}
	return false
}

// clearing reports whether a Clear of namespace ns (or of all, "") was
// pushed to the process and not acknowledged yet.
func (p *Peer) clearing(ns string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.pending {
		if q.cleared && (q.ns == "" || q.ns == ns) {
			return true
		}
	}
	return false
}

// reply queues m for the acker goroutine; it never blocks.
func (p *Peer) reply(m *Msg) {
	p.mu.Lock()
	p.replies = append(p.replies, m)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// drainReplies sends the replies queued so far (the holder's Close
// flushed the puts they acknowledge) before the connection is closed.
func (p *Peer) drainReplies() {
	p.mu.Lock()
	rs := p.replies
	p.replies = nil
	p.mu.Unlock()
	if len(rs) > 0 {
		p.w.sendAll(rs)
	}
}

// acker sends the replies that reply queued, until the connection ends.
func (p *Peer) acker(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		rs := p.replies
		p.replies = nil
		p.mu.Unlock()
		if len(rs) > 0 && p.w.sendAll(rs) != nil {
			p.w.close()
		}
	}
}

// shut ends the connection: its reads, a blocking lane's included, fail
// at once.
func (p *Peer) shut() {
	p.mu.Lock()
	p.isShut = true
	blk := p.blk
	p.mu.Unlock()
	p.w.close()
	if blk != nil {
		blk.kill()
	}
}

// serve reads and answers the connection's requests until it ends.
func (p *Peer) serve() {
	c := p.srv
	defer c.wg.Done()
	defer func() {
		p.cancel()
		p.w.close()
		c.mu.Lock()
		delete(c.peers, p)
		c.mu.Unlock()
		close(p.ended)
	}()
	// The first frame must be a hello of this version.
	p.w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := p.w.recvHello()
	if err != nil || m.Op != OpHello {
		return
	}
	if m.N != Version {
		r := &Msg{ID: m.ID, Op: OpHello}
		r.setErr(fmt.Errorf("control: protocol version %d; the holder speaks %d (upgrade the older program)", m.N, Version))
		p.w.send(r)
		return
	}
	p.w.c.SetReadDeadline(time.Time{})
	if m.Key != nil {
		p.serveLane(m)
		return
	}
	if x, ok := c.b.(Exclusive); ok && m.Flag && x.Exclusive() {
		// A process that would follow: refused, as the file is this
		// process's alone. memoctl (no Flag) is still served.
		r := &Msg{ID: m.ID, Op: OpHello}
		r.setErr(fmt.Errorf("control: the store file is held exclusively (WithExclusive) by process %d: %w", c.pid, driver.ErrLocked))
		p.w.send(r)
		return
	}
	p.serveSession(m)
}

// Lanes. A follower's hit is one round trip, and most of its time went to
// waking goroutines on both sides: on the follower, the connection's
// reader goroutine and then the caller. A lane is a second connection of
// the same process, joined to its first one's session (the hello names
// the token the first one got), that carries only requests answered at
// once and nothing unasked: no pushes, no acknowledgements. The caller
// writes its request and reads the reply itself, one request at a time.
// Puts, deletes and everything else stay on the first connection, whose
// order the stale-put rule and read-your-writes rely on; a lane's claims
// are its session's, released when the first connection ends. A lane ends
// with the connection it joined.

// laneOp reports whether op is served on lanes.
func laneOp(op Op) bool { return op == OpLookup || op == OpAcquire || op == OpClaim }

// serveLane serves the lane whose hello is m until it ends.
func (p *Peer) serveLane(m *Msg) {
	c := p.srv
	c.mu.Lock()
	parent := c.joins[string(m.Key)]
	c.mu.Unlock()
	joined := false
	if parent != nil {
		parent.mu.Lock()
		if !parent.gone {
			parent.lanes[p] = struct{}{}
			joined = true
		}
		parent.mu.Unlock()
	}
	if !joined {
		r := &Msg{ID: m.ID, Op: OpHello}
		r.setErr(errors.New("control: a lane of a connection that is not open"))
		p.w.send(r)
		return
	}
	defer func() {
		parent.mu.Lock()
		delete(parent.lanes, p)
		parent.mu.Unlock()
	}()
	p.parent, p.sess = parent, parent.sess
	if p.w.send(&Msg{ID: m.ID, Op: OpHello, N: int64(c.pid)}) != nil {
		return
	}
	ctx := p.ctx
	if blk := p.block(); blk != nil {
		defer c.blocking.Add(-1)
		defer blk.close()
		for {
			m, err := blk.recv(time.Time{})
			if err != nil {
				return
			}
			if r := p.laneReply(ctx, m); blk.send(r) != nil {
				p.unsent(m, r)
				return
			}
		}
	}
	for {
		m, err := p.w.recv()
		if err != nil {
			return
		}
		if r := p.laneReply(ctx, m); p.w.send(r) != nil {
			p.unsent(m, r)
			return
		}
	}
}

// unsent undoes what reply r to m, which could not be sent on a lane,
// gave: a claim (OpAcquire's or OpClaim's token). The lane's caller gave
// up (its context ended, and it cut the lane), and would never release
// it; the session, which outlives its lanes, would hold it until
// ClaimLease.
func (p *Peer) unsent(m, r *Msg) {
	if grantsClaim(m, r) {
		p.sess.Release(m.NS, m.Key, uint64(r.N))
	}
}

// grantsClaim reports whether r, the reply to m, grants a claim: a token
// that the requester must release.
func grantsClaim(m, r *Msg) bool {
	switch m.Op {
	case OpAcquire:
		return r.Err == "" && !r.Flag && r.N != 0
	case OpClaim:
		return r.Err == "" && r.N != 0
	}
	return false
}

// laneReply answers m, a request on a lane.
func (p *Peer) laneReply(ctx context.Context, m *Msg) *Msg {
	if !laneOp(m.Op) {
		r := &Msg{ID: m.ID, Op: m.Op}
		r.setErr(fmt.Errorf("control: operation %d is not served on a lane", m.Op))
		return r
	}
	return p.handle(ctx, m)
}

// block takes the lane p out of the poller (see detachLane), if the
// server has room for another such lane, and returns its socket; nil if
// it stays on p.w.
func (p *Peer) block() *lane {
	c := p.srv
	if c.blocking.Add(1) > maxBlockingLanes || p.w.r.Buffered() > 0 {
		// Full; or the follower sent more than its hello (it waits for
		// the reply), which the reader holds.
		c.blocking.Add(-1)
		return nil
	}
	blk, err := detachLane(p.w.c)
	if err != nil {
		c.blocking.Add(-1)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isShut {
		blk.close()
		c.blocking.Add(-1)
		return nil // p.w is closed: the lane ends
	}
	p.blk = blk
	return blk
}

// newToken returns a token that a lane presents to join a connection: a
// secret of the process at the other end (the socket already admits only
// its user), so that a lane joins its own process's session.
func newToken() string {
	return rand.Text()
}

// serveSession serves a connection of its own session, whose hello is m,
// until it ends.
func (p *Peer) serveSession(m *Msg) {
	c := p.srv
	var wg sync.WaitGroup
	done := make(chan struct{})
	p.sess = c.b.Connect(p)
	tok := newToken()
	c.mu.Lock()
	c.joins[tok] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.joins, tok)
		c.mu.Unlock()
		p.w.close()
		close(done)
		// The requests still running end with the connection: a process
		// that died releases its claims at once, not once its slowest
		// request ends (a Flush, a Clear, an Acquire waiting on a key).
		p.cancel()
		wg.Wait()
		p.mu.Lock()
		p.gone = true
		for id, ch := range p.acks {
			close(ch)
			delete(p.acks, id)
		}
		lanes := p.lanes
		p.lanes = nil
		p.mu.Unlock()
		// The session's lanes end before it does: none claims a key
		// for it after its claims were released.
		for l := range lanes {
			l.cancel()
			l.shut()
		}
		for l := range lanes {
			<-l.ended
		}
		p.sess.Close()
	}()
	if p.w.send(&Msg{ID: m.ID, Op: OpHello, N: int64(c.pid), Data: []byte(tok)}) != nil {
		return
	}
	// Its reads block (see blockConn), if there is room for another
	// thread blocked so.
	if c.blocking.Add(1) <= maxBlockingLanes && p.w.block() == nil {
		defer c.blocking.Add(-1)
	} else {
		c.blocking.Add(-1)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.acker(done)
	}()
	ctx := p.ctx // canceled when the connection ends
	for {
		m, err := p.w.recv()
		if err != nil {
			return
		}
		switch m.Op {
		case OpAck:
			p.ack(m.ID)
		case OpLookup, OpPut, OpRelease, OpDrop, OpClaim, OpCounts, OpNamespace, OpHello:
			// Quick: answered in order, on this goroutine.
			if r := p.handle(ctx, m); r != nil && m.ID != 0 {
				if p.w.send(r) != nil {
					return
				}
			}
		case OpAcquire:
			// Found or claimed at once, usually: answered here. Only a
			// key another process is computing waits, on a goroutine.
			rec, tok, err := p.sess.Acquire(ctx, m.NS, m.Key, m.Now, 0)
			if rec == nil && tok == 0 && err == nil && m.N > 0 {
				if !p.spawn(ctx, &wg, m) {
					return
				}
				continue
			}
			r := &Msg{ID: m.ID, Op: OpAcquire, Rec: rec, Flag: rec != nil, N: int64(tok)}
			r.setErr(err)
			if p.w.send(r) != nil {
				return
			}
		default:
			if !p.spawn(ctx, &wg, m) {
				return
			}
		}
	}
}

// spawn answers m, which may wait (on a claim, on other processes, on a
// commit), on a goroutine of its own, so that this connection's
// acknowledgements are still read meanwhile. It reports false if the
// endpoint is closing.
func (p *Peer) spawn(ctx context.Context, wg *sync.WaitGroup, m *Msg) bool {
	select {
	case p.work <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-p.work }()
		if r := p.handle(ctx, m); r != nil && m.ID != 0 {
			if p.w.send(r) != nil {
				p.w.close()
			}
		}
	}()
	return true
}

// handle answers m; a nil reply means none now (a put answers when it
// is committed).
func (p *Peer) handle(ctx context.Context, m *Msg) *Msg {
	r := &Msg{ID: m.ID, Op: m.Op}
	var err error
	switch m.Op {
	case OpHello:
		r.N = int64(p.srv.pid)
	case OpNamespace:
		var spec driver.NamespaceSpec
		if err = json.Unmarshal(m.Data, &spec); err == nil {
			err = p.sess.Namespace(ctx, m.NS, spec)
		}
	case OpLookup:
		r.Rec, err = p.sess.Lookup(ctx, m.NS, m.Key, m.Now)
		r.Flag = r.Rec != nil
	case OpAcquire:
		var tok uint64
		r.Rec, tok, err = p.sess.Acquire(ctx, m.NS, m.Key, m.Now, time.Duration(m.N))
		r.Flag, r.N = r.Rec != nil, int64(tok)
	case OpRelease:
		p.sess.Release(m.NS, m.Key, uint64(m.N))
		return nil
	case OpDrop:
		p.sess.Drop(m.NS, m.Key, m.Rec)
		return nil
	case OpClaim:
		var tok uint64
		tok, err = p.sess.Claim(m.NS, m.Key)
		r.N = int64(tok)
	case OpPut:
		if p.stale(m.NS, m.Key) {
			// Dropped, as the process's own memory tier dropped it when
			// it read the push: say so, so that it is not counted lost.
			p.sess.Release(m.NS, m.Key, uint64(m.N))
			return r
		}
		id := m.ID
		p.sess.Put(ctx, m.NS, m.Key, m.Rec, uint64(m.N), func(err error) {
			if id != 0 {
				rr := &Msg{ID: id, Op: OpPut}
				rr.setErr(err)
				p.reply(rr)
			}
		})
		return nil
	case OpDelete:
		err = p.sess.Delete(ctx, m.NS, m.Key)
	case OpClear:
		err = p.sess.Clear(ctx, m.NS)
	case OpCounts:
		var c Counts
		if json.Unmarshal(m.Data, &c) == nil {
			if p.clearing(m.NS) {
				// Sent before the process heard of the Clear: the counts
				// are of calls made before it, which the Clear reset, and
				// so are the uses, of keys it deleted. The process drops
				// what it had not reported when it hears (a report sent
				// meanwhile loses the few calls made since).
				c = Counts{MemSize: c.MemSize, MemMax: c.MemMax}
			}
			p.sess.Counts(m.NS, c)
		}
		return nil
	case OpStats:
		var st driver.Stats
		if st, err = p.srv.b.Stats(ctx); err == nil {
			r.Data, err = json.Marshal(st)
		}
	case OpInspect:
		var st driver.Stats
		if st, err = p.srv.b.Inspect(ctx); err == nil {
			r.Data, err = json.Marshal(st)
		}
	case OpFlush:
		err = p.srv.b.Flush(ctx)
	case OpSweep:
		var n int
		n, err = p.srv.b.Sweep(ctx)
		r.N = int64(n)
	case OpCheck:
		var rep *driver.CheckReport
		if rep, err = p.srv.b.Check(ctx, false, nil); err == nil {
			r.Data, err = json.Marshal(rep)
		}
	case OpKeys:
		return p.keys(ctx, m)
	default:
		err = fmt.Errorf("control: operation %d is not a request", m.Op)
	}
	r.setErr(err)
	return r
}

// keysBatch is how many KeyInfo one reply of OpKeys carries.
const keysBatch = 500

// keys streams the keys of m.NS in replies of keysBatch, the last with
// Flag false.
func (p *Peer) keys(ctx context.Context, m *Msg) *Msg {
	if m.N < 0 {
		r := &Msg{ID: m.ID, Op: OpKeys}
		r.setErr(fmt.Errorf("bad limit %d", m.N))
		return r
	}
	// List what the holder has stored, queued writes included.
	if err := p.srv.b.Flush(ctx); err != nil {
		r := &Msg{ID: m.ID, Op: OpKeys}
		r.setErr(err)
		return r
	}
	var batch []driver.KeyInfo
	sendBatch := func() error {
		data, err := json.Marshal(batch)
		if err != nil {
			return err
		}
		batch = batch[:0]
		return p.w.send(&Msg{ID: m.ID, Op: OpKeys, Flag: true, Data: data})
	}
	err := p.srv.b.Keys(ctx, m.NS, int(m.N), func(k driver.KeyInfo) error {
		batch = append(batch, k)
		if len(batch) == keysBatch {
			return sendBatch()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = sendBatch()
	}
	r := &Msg{ID: m.ID, Op: OpKeys}
	r.setErr(err)
	return r
}
