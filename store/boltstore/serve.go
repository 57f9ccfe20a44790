package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
	bolt "go.etcd.io/bbolt"
)

// The holder's side of sharing a file: the other processes' sessions
// (one per connection to the control endpoint), the claims that make one
// process compute a key while the others wait, and the invalidations that
// reach every process's memory tier.

// ClaimLease bounds how long a claim on a key keeps others waiting: a
// process that claimed a key and neither stored nor released it within
// the lease (stopped, or computing for longer) loses the claim to the
// next process that misses on the key, which computes it too. A process
// that dies releases its claims at once: its connection closes.
const ClaimLease = 30 * time.Second

// A claim is a process's right to compute a key while others wait.
type claim struct {
	token   uint64
	owner   *session // nil: this process
	expires time.Time
	done    chan struct{} // closed when the claim ends
}

type claimKey struct {
	sp  *space
	key string
}

// claimKey tries to claim key of sp for owner. It returns the claim's
// token, or, if another holds it, 0 and what to wait for.
func (s *Store) claimKey(sp *space, key []byte, owner *session) (tok uint64, wait <-chan struct{}, until time.Time) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	ck := claimKey{sp, string(key)}
	now := time.Now()
	if c := s.locks[ck]; c != nil {
		if now.Before(c.expires) {
			return 0, c.done, c.expires
		}
		s.endClaim(ck, c)
	}
	s.nextToken++
	c := &claim{token: s.nextToken, owner: owner, expires: now.Add(ClaimLease), done: make(chan struct{})}
	s.locks[ck] = c
	if owner != nil {
		owner.held[ck] = c.token
	}
	return c.token, nil, time.Time{}
}

// releaseKey ends the claim of token on key of sp, if it is still the
// key's claim. s.lockMu must not be held.
func (s *Store) releaseKey(sp *space, key string, tok uint64) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	ck := claimKey{sp, key}
	if c := s.locks[ck]; c != nil && c.token == tok {
		s.endClaim(ck, c)
	}
}

// revoke ends every claim on key of sp (key nil: on every key of sp; sp
// nil: of every namespace): an invalidation makes the computations that
// hold them stale, and a process waiting for one must not wait for a
// value that will not be stored.
func (s *Store) revoke(sp *space, key []byte) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if key != nil {
		ck := claimKey{sp, string(key)}
		if c := s.locks[ck]; c != nil {
			s.endClaim(ck, c)
		}
		return
	}
	for ck, c := range s.locks {
		if sp == nil || ck.sp == sp {
			s.endClaim(ck, c)
		}
	}
}

// endClaim removes c, the claim on ck. s.lockMu must be held.
func (s *Store) endClaim(ck claimKey, c *claim) {
	delete(s.locks, ck)
	if c.owner != nil {
		delete(c.owner.held, ck)
	}
	close(c.done)
}

// waitClaim waits until the claim ends, expires, or ctx ends, and at
// most limit (if positive).
func waitClaim(ctx context.Context, ch <-chan struct{}, until time.Time, limit time.Duration) error {
	d := time.Until(until)
	if limit > 0 && limit < d {
		d = limit
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// lookupRecord returns the record under key, checked at time now (0: the
// store's clock), or nil: a queued record as it is (queued records are
// never changed), a committed one copied out of its transaction.
func (n *Namespace) lookupRecord(key []byte, now int64) ([]byte, error) {
	rec, _, err := n.lookupRecordDone(key, now, true)
	return rec, err
}

// lookupRecordDone is lookupRecord, and also returns how many writes had
// finished when it looked (see recheckRecord); it notes the lookup only
// if note (see Namespace.lookup).
func (n *Namespace) lookupRecordDone(key []byte, now int64, note bool) ([]byte, uint64, error) {
	s := n.s
	release, err := s.hold()
	if err != nil {
		return nil, 0, err
	}
	defer release()
	if now == 0 {
		now = s.Now()
	}
	s.mu.RLock()
	o := n.sp.pending[string(key)]
	done := s.done
	s.mu.RUnlock()
	if o != nil {
		rec := n.pendingRecord(o, key, now)
		n.noteLookupIf(note, key, rec)
		return rec, done, nil
	}
	var rec []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(n.sp.dataName)
		if b == nil {
			return nil
		}
		if r := b.Get(key); r != nil {
			if found, _ := n.decodeFound(r, key, now, recordOK); found {
				rec = bytes.Clone(r)
			}
		}
		return nil
	})
	n.noteLookupIf(note, key, rec)
	return rec, done, err
}

// recordOK accepts any payload: lookupRecord checks records, it does not
// decode them.
func recordOK([]byte, codec.Header) error { return nil }

// pendingRecord returns the record that the queued op o leaves under key,
// checked at time now, or nil.
func (n *Namespace) pendingRecord(o *op, key []byte, now int64) []byte {
	if o.kind == opDelete || o.kind == opDeleteIf {
		return nil
	}
	if found, _ := n.decodeFound(o.rec, key, now, recordOK); found {
		return o.rec
	}
	return nil
}

// recheckRecord looks key up again after lookupRecordDone found nothing
// with done writes finished: if no write has finished since, whatever
// came meanwhile is still queued, and the file need not be read again (a
// read transaction, the larger part of a miss at the holder).
func (n *Namespace) recheckRecord(key []byte, now int64, done uint64) ([]byte, error) {
	s := n.s
	release, err := s.hold()
	if err != nil {
		return nil, err
	}
	defer release()
	if now == 0 {
		now = s.Now()
	}
	s.mu.RLock()
	o := n.sp.pending[string(key)]
	same := s.done == done
	s.mu.RUnlock()
	switch {
	case o != nil:
		return n.pendingRecord(o, key, now), nil
	case same:
		return nil, nil
	}
	rec, _, err := n.lookupRecordDone(key, now, false) // the request's second look
	return rec, err
}

// AcquireLooksUp says that Acquire looks key up first (see
// driver.LookupAcquirer).
func (n *Namespace) AcquireLooksUp() {}

// Acquire looks key up and, if it is missing, makes this process the one
// that computes it, when other processes are connected to it: if another
// process is computing key,
// Acquire waits for its result (up to ClaimLease, or until ctx ends) and
// reports it found; else it claims key, and the returned release ends the
// claim (a Put of key does not: release must be called). With no other
// process connected, Acquire returns at once.
func (n *Namespace) Acquire(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, func(), error) {
	noop := func() {}
	// A store that fails (closed, say) is no reason to fail the caller,
	// which computes without a claim: only ctx ends Acquire with an error.
	// One Acquire is one lookup for eviction, however often it looks.
	if found, err := n.lookup(key, decode, true); found || err != nil || n.s.connected.Load() == 0 {
		// With no other process connected, this one's flights are
		// enough. (A computation that began before a process connected
		// is not known to it, which may compute the key too: at most
		// once, at connection time.)
		return found, noop, ctx.Err()
	}
	for {
		tok, wait, until := n.s.claimKey(n.sp, key, nil)
		if wait == nil {
			// Claimed: unless the value arrived since the caller's miss.
			found, err := n.lookup(key, decode, false)
			if found || err != nil {
				n.s.releaseKey(n.sp, string(key), tok)
				return found, noop, ctx.Err()
			}
			k := string(key)
			return false, func() { n.s.releaseKey(n.sp, k, tok) }, nil
		}
		if err := waitClaim(ctx, wait, until, 0); err != nil {
			return false, noop, err
		}
		if found, err := n.lookup(key, decode, false); found || err != nil {
			return found, noop, ctx.Err()
		}
	}
}

// TryClaim claims key without reading it or waiting (see
// driver.Claimer): false if another process holds its claim. With no
// other process connected it always succeeds.
func (n *Namespace) TryClaim(_ context.Context, key []byte) (func(), bool) {
	noop := func() {}
	if n.s.connected.Load() == 0 {
		return noop, true
	}
	tok, wait, _ := n.s.claimKey(n.sp, key, nil)
	if wait != nil {
		return noop, false
	}
	k := string(key)
	return func() { n.s.releaseKey(n.sp, k, tok) }, true
}

// invalidating makes every connected process but except forget key of
// the namespace name (key nil: purge the namespace; name "": all of
// them), in two steps: it marks the invalidation as under way at each
// (see control.Peer.Invalidating), and returns the function that tells
// them and returns once all have, or were disconnected for not
// answering. A deletion is queued between the two: the
// puts those processes send meanwhile, of values computed before they
// heard, are dropped, not stored after the deletion.
func (s *Store) invalidating(name string, key []byte, cleared bool, except *session) (send func(ctx context.Context)) {
	s.mu.RLock()
	var sends []func(context.Context)
	for ss := range s.sessions {
		if ss != except && ss.uses(name) {
			sends = append(sends, ss.p.Invalidating(name, key, cleared))
		}
	}
	s.mu.RUnlock()
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, send := range sends {
			wg.Go(func() { send(ctx) })
		}
		wg.Wait()
	}
}

// Connect starts the session of a process that connected to the control
// endpoint (see control.Backend).
func (s *Store) Connect(p *control.Peer) control.Session {
	ss := &session{s: s, p: p, names: map[string]*space{}, sizes: map[string][2]int{}, held: map[claimKey]uint64{}}
	s.mu.Lock()
	s.sessions[ss] = true
	s.mu.Unlock()
	s.connected.Add(1)
	return ss
}

// A session is another process's use of the file, through one connection.
type session struct {
	s *Store
	p *control.Peer

	mu    sync.Mutex
	names map[string]*space   // namespaces claimed
	sizes map[string][2]int   // memory tier sizes reported, by namespace
	held  map[claimKey]uint64 // claims held; guarded by s.lockMu
}

var (
	_ control.Session       = (*session)(nil)
	_ driver.Claimer        = (*Namespace)(nil)
	_ driver.LookupAcquirer = (*Namespace)(nil)
)

// uses reports whether the session claimed namespace name (any, for "").
func (ss *session) uses(name string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if name == "" {
		return len(ss.names) > 0
	}
	return ss.names[name] != nil
}

func (ss *session) ns(name string) (*Namespace, error) {
	ss.mu.Lock()
	sp := ss.names[name]
	ss.mu.Unlock()
	if sp == nil {
		return nil, fmt.Errorf("store: namespace %q not claimed on this connection", name)
	}
	return &Namespace{s: ss.s, sp: sp}, nil
}

func (ss *session) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("store: bad namespace name %q", name)
	}
	sp, err := ss.s.space(ctx, name, spec, ss)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	ss.names[name] = sp
	ss.mu.Unlock()
	return nil
}

func (ss *session) Lookup(_ context.Context, name string, key []byte, now int64) ([]byte, error) {
	n, err := ss.ns(name)
	if err != nil {
		return nil, err
	}
	return n.lookupRecord(key, now)
}

func (ss *session) Drop(name string, key, rec []byte) {
	if n, err := ss.ns(name); err == nil && len(rec) > 0 {
		n.s.tryEnqueue(&op{kind: opDeleteIf, sp: n.sp, key: key, rec: rec})
	}
}

func (ss *session) Acquire(ctx context.Context, name string, key []byte, now int64, wait time.Duration) ([]byte, uint64, error) {
	n, err := ss.ns(name)
	if err != nil {
		return nil, 0, err
	}
	deadline := time.Now().Add(wait)
	for first := true; ; first = false {
		rec, done, err := n.lookupRecordDone(key, now, first) // one lookup for eviction, as Namespace.Acquire
		if rec != nil || err != nil {
			return rec, 0, err
		}
		tok, ch, until := ss.s.claimKey(n.sp, key, ss)
		if ch == nil {
			rec, err := n.recheckRecord(key, now, done)
			if rec != nil || err != nil {
				ss.s.releaseKey(n.sp, string(key), tok)
				return rec, 0, err
			}
			return nil, tok, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, 0, nil // still claimed: the process asks again
		}
		if err := waitClaim(ctx, ch, until, left); err != nil {
			return nil, 0, err
		}
	}
}

func (ss *session) Claim(name string, key []byte) (uint64, error) {
	n, err := ss.ns(name)
	if err != nil {
		return 0, err
	}
	tok, _, _ := ss.s.claimKey(n.sp, key, ss)
	return tok, nil
}

func (ss *session) Release(name string, key []byte, tok uint64) {
	if tok == 0 {
		return
	}
	if n, err := ss.ns(name); err == nil {
		ss.s.releaseKey(n.sp, string(key), tok)
	}
}

func (ss *session) Put(ctx context.Context, name string, key, rec []byte, tok uint64, committed func(error)) {
	n, err := ss.ns(name)
	if err == nil {
		if err = driver.CheckPut(key, rec); err != nil {
			n.Refused()
		}
	}
	if err != nil {
		committed(err)
		return
	}
	// One answer: a write-through put whose commit failed (or whose wait
	// ended) is still queued and may commit later, and then after
	// answers too.
	var once sync.Once
	answer := func(err error) { once.Do(func() { committed(err) }) }
	o := &op{kind: opPut, sp: n.sp, key: key, rec: rec, at: n.s.Now(), after: func() { answer(nil) }}
	o.through = int64(len(rec)) > n.s.opts.QueueBytes
	if err := n.write(ctx, o, o.through); err != nil {
		answer(err)
	}
	ss.Release(name, key, tok)
}

func (ss *session) Delete(ctx context.Context, name string, key []byte) error {
	// Run to its end if the requester goes: its context ends with its
	// connection, and an invalidation whose wait for the other processes
	// ended would disconnect them (see control.Peer).
	ctx = context.WithoutCancel(ctx)
	n, err := ss.ns(name)
	if err != nil {
		return err
	}
	// This process's memory tier first, so that its computations of key
	// keep nothing until the delete is visible (see MemoryTier).
	ss.s.mu.RLock()
	t := n.sp.tier
	ss.s.mu.RUnlock()
	if t != nil {
		defer driver.ForgetInTier(t, key)()
	}
	return n.del(ctx, key, ss)
}

func (ss *session) Clear(ctx context.Context, name string) error {
	return ss.s.clear(context.WithoutCancel(ctx), name, ss) // see Delete
}

func (ss *session) Counts(name string, c control.Counts) {
	ss.mu.Lock()
	sp := ss.names[name]
	if sp != nil {
		ss.sizes[name] = [2]int{c.MemSize, c.MemMax}
	}
	ss.mu.Unlock()
	if sp == nil {
		return
	}
	sp.d.AddCounts(&tally.Counts{Hits: c.Hits, Misses: c.Misses, DiskHits: c.DiskHits,
		DecodeErrors: c.DecodeErrors, WriteErrors: c.WriteErrors, ReadErrors: c.ReadErrors,
		Refreshes: c.Refreshes, StaleReturns: c.StaleReturns, CachedErrors: c.CachedErrors, Saved: c.Saved})
	if p := ss.s.pol; p != nil {
		for _, u := range c.Uses {
			if u.Hits > 0 {
				p.noteUse(sp, u.Key, u.Hits)
			}
		}
	}
}

// Close ends the session: its claims are released at once, so that the
// processes waiting for a key that a dead process claimed go on.
func (ss *session) Close() {
	s := ss.s
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.connected.Add(-1)
	s.lockMu.Lock()
	for ck, tok := range ss.held {
		if c := s.locks[ck]; c != nil && c.token == tok {
			s.endClaim(ck, c)
		}
	}
	s.lockMu.Unlock()
}

// addBound adds two memory tiers' bounds: negative if either is
// (unbounded), where their sum could be any number.
func addBound(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// memSizes adds the memory tier sizes the sessions reported to st's
// namespaces, and marks those they claimed. s.mu must be held, for reading at least.
func (s *Store) memSizes(st *driver.Stats) {
	idx := map[string]int{}
	for i, ns := range st.Namespaces {
		idx[ns.Name] = i
	}
	for ss := range s.sessions {
		ss.mu.Lock()
		for name := range ss.names {
			if i, ok := idx[name]; ok {
				st.Namespaces[i].Claimed = true
			}
		}
		for name, sz := range ss.sizes {
			if i, ok := idx[name]; ok {
				st.Namespaces[i].MemSize += sz[0]
				st.Namespaces[i].MemMax = addBound(st.Namespaces[i].MemMax, sz[1])
			}
		}
		ss.mu.Unlock()
	}
}
