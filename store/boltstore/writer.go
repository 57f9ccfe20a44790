package boltstore

import (
	"context"
	"fmt"
	"time"

	"github.com/memostore/memostore/store/driver"
	bolt "go.etcd.io/bbolt"
)

type opKind uint8

const (
	opPut      opKind = iota // store rec under key
	opDelete                 // delete key
	opDeleteIf               // delete key if it still holds rec (a bad record)
	opFlush                  // nothing: commit what precedes it, and the counters
	opFunc                   // run fn in the transaction
)

// An op is one queued change. Ops are applied in the order they were
// queued; many share one transaction.
type op struct {
	kind   opKind
	sp     *space
	key    []byte
	rec    []byte
	fn     func(*bolt.Tx, *txState) error
	after  func() // run under s.mu once the op is committed
	wait   chan error
	seq    uint64
	at     int64 // a put's time when it was made: a record expired by then is not kept
	failed bool  // counted as a write error already
	// through marks a record larger than the whole queue budget: it is
	// written through (its caller waits for the commit) and does not count
	// against the budget, which it could never fit.
	through bool
	// alone makes the op the first of a transaction of its own, so that
	// its fn sees the file exactly as last committed (see Check).
	alone bool
}

// queued is what o counts against the queue's byte budget.
func (o *op) queued() int64 {
	if o.through {
		return 0
	}
	return int64(len(o.rec))
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueue queues o, then calls release (the caller's lifetime lock, held
// until o is in the queue). If o.wait is set it waits for o's commit.
//
// When the queue holds more than its byte budget, enqueue waits for the
// writer (backpressure), unless commits are failing: then waiting could be
// forever, and the write is refused instead (a cache may drop a write).
func (s *Store) enqueue(ctx context.Context, o *op, release func()) error {
	size := o.queued()
	s.mu.Lock()
	for size > 0 && s.qbytes+size > s.opts.QueueBytes && len(s.queue) > 0 {
		if s.failErr != nil {
			err := s.failErr
			s.mu.Unlock()
			release()
			// Counted by the caller, and logged by the writer (once a
			// second at most): ErrUnavailable tells memo not to log it too.
			return fmt.Errorf("write queue full while commits fail: %w: %w", driver.ErrUnavailable, err)
		}
		ch := s.progress
		s.mu.Unlock()
		// The writer may be letting writes gather (batchDelay) for a
		// queue that is full by bytes, not by count: have it commit now.
		signal(s.urgent)
		select {
		case <-ch:
		case <-ctx.Done():
			release()
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.seq++
	o.seq = s.seq
	s.queue = append(s.queue, o)
	s.qbytes += size
	if o.kind == opPut || o.kind == opDelete {
		o.sp.pending[string(o.key)] = o
	}
	// Read o.wait only here, under s.mu: once o is queued the writer may
	// clear it (a failed commit answers the waiter and sets it to nil).
	wait := o.wait
	if wait != nil {
		s.waiters++
	}
	full := len(s.queue) >= batchEntries
	s.mu.Unlock()
	release()

	signal(s.wake)
	if wait == nil {
		if full {
			signal(s.urgent)
		}
		return nil
	}
	signal(s.urgent)
	select {
	case err := <-wait:
		return err
	case <-ctx.Done():
		return ctx.Err() // o stays queued and is committed all the same
	}
}

// runWriter is the writer goroutine: it commits queued ops in group
// transactions until Close closes s.stop, then drains the queue.
func (s *Store) runWriter() {
	defer s.wg.Done()
	if s.pol != nil {
		s.restorePolicy()
	}
	tick := time.NewTicker(countersInterval)
	defer tick.Stop()
	var backoff time.Duration
	stopping := false
	// What changed the saved state when it was last saved (or restored):
	// the sketch's additions (lookups, notes) and the searches for main's
	// victim (which move the hand and spend use counts).
	saved, savedAdds, savedVictims := time.Now(), int64(0), int64(0)
	if s.pol != nil {
		savedAdds = s.pol.sketch.Load().added.Load()
	}
	settled := time.Now()
	for {
		select {
		case <-s.stop:
			stopping = true
		default:
		}
		// A tenth of slack: the ticker wakes an idle writer a moment
		// less than countersInterval after the last settling.
		if s.pol != nil && !stopping && time.Since(settled) >= countersInterval*9/10 {
			s.settleTierHits()
			settled = time.Now()
		}
		if s.pol != nil && !stopping && time.Since(saved) >= s.policySave {
			// Close saves it too; this is for a process that ends
			// without Close. Only if it changed.
			if adds := s.pol.sketch.Load().added.Load(); adds != savedAdds || s.pol.victims != savedVictims {
				s.savePolicy()
				savedAdds, savedVictims = adds, s.pol.victims
			}
			saved = time.Now()
		}
		s.mu.Lock()
		n, urgent := len(s.queue), s.waiters > 0
		s.mu.Unlock()
		if n == 0 {
			if stopping {
				return
			}
			select {
			case <-s.wake:
			case <-s.stop:
			case <-tick.C:
				s.queueCounters()
			}
			continue
		}
		switch {
		case backoff > 0:
			// Commits are failing: wait before the next try, and when
			// stopping, try a few more times, then give up.
			if stopping && backoff >= maxStopBackoff {
				s.abandonQueue()
				return
			}
			s.pause(backoff, stopping)
		case !urgent && !stopping && n < batchEntries:
			// Let writes gather for one commit.
			s.pause(batchDelay, false)
		}
		if err := s.commitQueued(); err != nil {
			backoff = min(max(2*backoff, batchDelay), time.Second)
		} else {
			backoff = 0
		}
	}
}

// countersInterval is how often an idle writer carries the counts gathered
// by hits to the file.
const countersInterval = time.Second

// policySaveInterval is how often the writer saves what eviction knows of
// use (see savePolicy) while the store is open, if it changed, so that a
// process that ends without Close leaves a recent state for the next Open
// rather than that of its last Close. A save writes about 10 bytes an
// entry (10 MiB at most) in a transaction of its own. A variable for the
// tests.
var policySaveInterval = time.Minute

// settleTierHits asks the memory tiers attached to note the hits they
// have not noted yet (driver.HitSettler), for eviction to hear of them:
// the writer calls it every countersInterval, and Close before it saves
// the eviction state. Not under s.mu: the notes come back through NoteUse.
func (s *Store) settleTierHits() {
	s.mu.Lock()
	var ts []driver.HitSettler
	for _, sp := range s.spaces {
		if h, ok := sp.tier.(driver.HitSettler); ok {
			ts = append(ts, h)
		}
	}
	s.mu.Unlock()
	for _, h := range ts {
		h.SettleHits()
	}
}

// queueCounters queues a commit of the in-memory counters if any changed.
func (s *Store) queueCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.spaces {
		if sp.unsaved() != (counters{}) {
			s.seq++
			s.queue = append(s.queue, &op{kind: opFlush, seq: s.seq})
			return
		}
	}
}

// maxStopBackoff bounds how long Close keeps retrying failed commits.
const maxStopBackoff = 100 * time.Millisecond

// pause waits for d, or until a caller waits or the store stops.
func (s *Store) pause(d time.Duration, stopping bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	if stopping {
		<-t.C
		return
	}
	select {
	case <-t.C:
	case <-s.urgent:
	case <-s.stop:
	}
}

// maxBatchOps bounds the ops one transaction applies.
const maxBatchOps = 2 * batchEntries

// commitQueued applies the ops at the head of the queue in one
// transaction, evicts what WithMaxBytes calls for, and then tells the
// batch's waiters.
func (s *Store) commitQueued() error {
	batch, st := s.takeBatch()
	err := s.update(func(tx *bolt.Tx) error { return s.applyBatch(tx, batch, st) })
	if err != nil {
		s.commitFailed(batch, err)
		return err
	}
	// Eviction may stop at its batch bound with the store still too big:
	// then it goes on, in more transactions of bounded size, before the
	// batch's waiters hear of its commit, so that after Flush the store
	// is within WithMaxBytes.
	next := s.committed(batch, st)
	for next != nil {
		st := next
		err := s.update(func(tx *bolt.Tx) error {
			if err := st.evict(tx, s.opts.MaxBytes, evictBatch); err != nil {
				return err
			}
			return st.save(tx)
		})
		next = s.evicted(batch, st, err)
	}
	return nil
}

// takeBatch returns the ops at the head of the queue that one
// transaction applies, and the state that transaction starts from.
func (s *Store) takeBatch() ([]*op, *txState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), maxBatchOps)
	for i, o := range s.queue[:n] {
		if o.alone {
			n = max(i, 1)
			break
		}
	}
	return s.queue[:n], s.newTxState()
}

// update runs fn in a write transaction, and marks the time it began in
// s.committing while it runs (see Check).
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.committing.Store(time.Now().UnixNano())
	defer s.committing.Store(0)
	return s.db.Update(fn)
}

// applyBatch applies batch in tx, from the state st, and evicts at least
// as many entries as the batch may have added, so that eviction keeps
// pace with writing.
func (s *Store) applyBatch(tx *bolt.Tx, batch []*op, st *txState) error {
	if s.failCommit != nil {
		if err := s.failCommit(); err != nil {
			return err
		}
	}
	for _, o := range batch {
		if err := st.apply(tx, o); err != nil {
			return err
		}
	}
	if s.opts.MaxBytes > 0 {
		if err := st.evict(tx, s.opts.MaxBytes, evictBatch+len(batch)); err != nil {
			return err
		}
	}
	return st.save(tx)
}

// commitFailed handles the failure, with err, of batch's transaction: the
// batch stays queued for the next try, its writes are counted as failed
// (once), and its waiters and the writers waiting for room are told.
func (s *Store) commitFailed(batch []*op, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.failErr == nil
	s.failErr = err
	// A waiter is told of the failure, which the writer logs: as
	// ErrUnavailable, so that memo does not log it again for each call.
	werr := fmt.Errorf("%w: %w", driver.ErrUnavailable, err)
	for _, o := range batch {
		if o.kind == opPut && !o.failed {
			o.failed = true
			o.sp.d.WriteErrors.Add(1)
		}
		if o.wait != nil {
			o.wait <- werr
			o.wait = nil
			s.waiters--
		}
	}
	// Wake writers waiting for room: with commits failing they must
	// not wait for one (see enqueue).
	close(s.progress)
	s.progress = make(chan struct{})
	// Logged when an outage begins, then once a second at most, with the
	// failed commits since the last line: with WithSyncWrites every write
	// tries a commit of its own.
	s.failedCommits++
	if now := time.Now(); first || now.Sub(s.failLogged) >= time.Second {
		s.log.Error("memostore: commit failed; retrying", "path", s.path, "ops", len(batch), "failed", s.failedCommits, "err", err)
		s.failLogged, s.failedCommits = now, 0
	}
}

// committed installs st, the state batch's transaction committed, and
// returns the state of the next eviction transaction, or nil when there
// is none to run (see installed).
func (s *Store) committed(batch []*op, st *txState) (next *txState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		s.log.Info("memostore: commits succeed again", "path", s.path)
	}
	s.failErr = nil
	return s.installed(batch, st)
}

// evicted installs st, the state an eviction transaction committed, and
// returns the next one's as committed does. If the transaction failed
// (err), it leaves the rest to a later commit, which it queues, and
// finishes batch.
func (s *Store) evicted(batch []*op, st *txState, err error) (next *txState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Error("memostore: eviction failed; retrying", "path", s.path, "err", err)
		s.seq++
		s.queue = append(s.queue, &op{kind: opFlush, seq: s.seq})
		signal(s.wake)
		s.finish(batch, nil)
		return nil
	}
	return s.installed(batch, st)
}

// installed installs st and, while eviction left the store over
// WithMaxBytes, returns the state of the next eviction transaction;
// otherwise it finishes batch and returns nil. s.mu must be held.
func (s *Store) installed(batch []*op, st *txState) (next *txState) {
	st.install()
	if st.over {
		return s.newTxState()
	}
	s.finish(batch, nil)
	return nil
}

// finish removes batch, the head of the queue, once it is committed or
// abandoned, and tells its waiters. s.mu must be held.
func (s *Store) finish(batch []*op, err error) {
	for _, o := range batch {
		s.qbytes -= o.queued()
		if o.sp != nil && o.sp.pending[string(o.key)] == o {
			delete(o.sp.pending, string(o.key))
			if len(o.sp.pending) == 0 {
				// Go maps never shrink: drop the one a burst grew.
				o.sp.pending = map[string]*op{}
			}
		}
		if err == nil && o.after != nil {
			o.after()
		}
		if o.wait != nil {
			o.wait <- err
			s.waiters--
		}
	}
	s.done = batch[len(batch)-1].seq
	// Copy the rest into a new array and let go of the old one: a slice
	// of it, even of capacity 0, would keep every op and record alive.
	rest := s.queue[len(batch):]
	if len(rest) == 0 {
		s.queue = nil
	} else {
		s.queue = append([]*op(nil), rest...)
	}
	close(s.progress)
	s.progress = make(chan struct{})
}

// abandonQueue gives up on the queue when Close cannot commit it: the
// entries are lost, which for a cache means only recomputation.
func (s *Store) abandonQueue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return
	}
	s.log.Error("memostore: giving up on queued writes at close", "path", s.path, "ops", len(s.queue), "err", s.failErr)
	s.finish(s.queue, fmt.Errorf("store: closed with writes failing: %w", s.failErr))
}
