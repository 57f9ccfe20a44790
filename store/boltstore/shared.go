package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/memostore/memostore/internal/control"
	"github.com/memostore/memostore/internal/tally"
	"github.com/memostore/memostore/store/driver"
)

// A Shared is a store file as every process on the machine that opens it
// uses it at once. The first to open it holds it (it opens bbolt and
// serves the others through its control endpoint); the others follow:
// their namespaces send what their memory tiers miss to the holder over
// one connection each (see package control). When the holder goes (it
// closes the file, or dies, even by SIGKILL), its connections close; the
// followers empty their memory tiers (they may have missed an
// invalidation), and one of them takes the file's lock and becomes the
// holder, in a few milliseconds; the others connect to it. Until then,
// and while a holder does not answer (it is stopped, say) for
// FollowerTimeout, a follower's calls go on without the store: lookups
// miss and writes are dropped, and both are counted (ReadErrors,
// WriteErrors).
//
// What a takeover may lose: what the old holder had only queued, as for
// any crash. A follower's write is acknowledged by the holder once it is
// committed; writes whose acknowledgement had not come when the holder
// went are counted as WriteErrors (and logged) by the follower: they may
// or may not be in the file. The follower's next Flush returns an error
// that says how many: a Flush that returns nil means every write before
// it is in the file.
type Shared struct {
	path string
	o    Options
	log  *slog.Logger

	mu     sync.Mutex
	holder *Store          // once this process holds the file
	cli    *control.Client // while it follows
	epoch  uint64          // changes with holder and cli
	names  map[string]*sharedNS
	closed bool

	putMu    sync.Mutex
	putSeq   uint64              // writes sent to holders
	inflight map[uint64]struct{} // of those, not yet acknowledged
	putDone  chan struct{}       // closed and replaced when one is
	failures []failedPut         // writes a holder refused or did not acknowledge, until every Flush that must has reported them
	flushes  uint64              // Flushes begun
	flushing map[uint64]struct{} // the numbers of the Flushes under way (see waitPuts)

	usesDue   chan struct{} // a namespace holds followerUsesBatch keys' hits: report now
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var (
	_ driver.Store     = (*Shared)(nil)
	_ driver.Sharer    = (*Shared)(nil)
	_ driver.Inspector = (*Shared)(nil)
	_ driver.KeyLister = (*Shared)(nil)
	_ driver.Checker   = (*Shared)(nil)
)

// FollowerTimeout bounds a follower's wait for its holder's answer: a
// holder that takes longer is taken for stuck, the follower drops its
// connection and goes on without the store until a holder answers again.
const FollowerTimeout = time.Second

// acquireWait is how long the holder waits for another process's claim
// on a key before it tells a follower to ask again (each ask is also a
// check that the holder is alive).
const acquireWait = 250 * time.Millisecond

// OpenShared opens the store file at path as the holder if no process
// holds it, or as a follower of the live process that does. It waits up
// to o.LockTimeout for either; a holder that holds the lock and does not
// answer on its control endpoint within that time gives ErrLocked.
func OpenShared(path string, o Options) (*Shared, error) {
	sh := &Shared{path: Resolve(path), o: o, log: o.Logger, names: map[string]*sharedNS{}, stop: make(chan struct{}), usesDue: make(chan struct{}, 1),
		inflight: map[uint64]struct{}{}, putDone: make(chan struct{})}
	deadline := time.Now().Add(o.LockTimeout)
	var dialErr error
	for {
		st, err := sh.tryHold()
		if err == nil {
			sh.holder = st
			break
		}
		if !errors.Is(err, driver.ErrLocked) {
			return nil, err
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		cli, derr := control.DialPush(ctx, sh.path, sh.onPush)
		if derr == nil {
			if derr = sh.agree(ctx, cli); derr != nil {
				cli.Close()
				if errors.Is(derr, errOtherBound) {
					cancel()
					return nil, &driver.OpError{Op: "open", Path: path, Err: derr}
				}
			}
		}
		cancel()
		if derr == nil {
			sh.cli = cli
			break
		}
		dialErr = derr
		if time.Now().After(deadline) || errors.Is(derr, control.ErrStranger) {
			return nil, &driver.OpError{Op: "open", Path: path, Err: fmt.Errorf("%w (waited %v; its holder does not answer on %s: %v)",
				driver.ErrLocked, o.LockTimeout, control.Path(path), dialErr)}
		}
		time.Sleep(lockPoll)
	}
	sh.epoch = 1
	sh.wg.Add(1)
	go sh.run()
	return sh, nil
}

// errOtherBound is agree's error for a byte bound the holder does not keep.
var errOtherBound = errors.New("the processes that bound a file must give it the same bound")

// agree checks this process's options against those of the holder that
// cli reaches. The byte bound is the holder's, as its writer evicts: a
// process that asks for another one cannot keep it, and is refused (Open
// fails), rather than silently ignored. A process that asks for none
// follows the holder's, and keeps it if it takes the file over. It runs
// where sh.o has no other reader: in OpenShared, and in reconnect on the
// goroutine that takes the file over.
func (sh *Shared) agree(ctx context.Context, cli *control.Client) error {
	st, err := cli.Stats(ctx, FollowerTimeout)
	if err != nil {
		return err
	}
	if sh.o.MaxBytes > 0 && st.MaxBytes != sh.o.MaxBytes {
		held := "no bound"
		if st.MaxBytes > 0 {
			held = fmt.Sprintf("WithMaxBytes(%d)", st.MaxBytes)
		}
		return fmt.Errorf("WithMaxBytes(%d): process %d holds the file with %s, and evicts by it: %w", sh.o.MaxBytes, cli.PID(), held, errOtherBound)
	}
	sh.o.MaxBytes = st.MaxBytes
	return nil
}

// tryHold opens the file as its holder if its lock is free now.
func (sh *Shared) tryHold() (*Store, error) {
	o := sh.o
	o.LockTimeout = time.Nanosecond // one try
	return Open(sh.path, o)
}

// now returns the time of the store's clock (see WithClock), by which
// the holder judges expiry for this process.
func (sh *Shared) now() int64 { return sh.o.Clock.Now().UnixNano() }

// Following reports whether another process holds the file (or none
// does, for the moment of a takeover).
func (sh *Shared) Following() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.holder == nil
}

// Path returns the path of the store file.
func (sh *Shared) Path() string { return sh.path }

// current returns what this process uses the file through now: its own
// holder, a connection to another's, or neither (during a takeover, or
// after Close).
func (sh *Shared) current() (*Store, *control.Client, uint64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.holder, sh.cli, sh.epoch
}

// none is the error of an operation that found neither holder nor
// connection: ErrClosed after Close, else errNoHolder.
func (sh *Shared) none() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return driver.ErrClosed
	}
	return errNoHolder
}

// countsInterval is how often a follower tells the holder what its memory
// tiers counted.
const countsInterval = time.Second

// run follows the holder until Close: it reports counts, and when the
// connection ends it takes over or reconnects.
func (sh *Shared) run() {
	defer sh.wg.Done()
	tick := time.NewTicker(countsInterval)
	defer tick.Stop()
	for {
		_, cli, _ := sh.current()
		var gone <-chan struct{}
		if cli != nil {
			gone = cli.Done()
		}
		select {
		case <-sh.stop:
			return
		case <-tick.C:
			if cli != nil {
				sh.sendCounts(cli)
			}
		case <-sh.usesDue:
			if cli != nil {
				sh.sendCounts(cli)
			}
		case <-gone:
			sh.lose(cli)
			sh.reconnect()
		}
	}
}

// lose forgets cli, whose connection ended: the memory tiers are emptied
// (an invalidation may have been missed), and the writes it had not
// acknowledged are counted.
func (sh *Shared) lose(cli *control.Client) {
	sh.mu.Lock()
	if sh.cli == cli {
		sh.cli = nil
		sh.epoch++
	}
	names := sh.namespaces("")
	sh.mu.Unlock()
	cli.Close()
	for _, sn := range names {
		if t := sn.memoryTier(); t != nil {
			t.Purge(false)()
		}
	}
	sh.log.Info("memostore: lost the store's holder; going on without the store until a process takes it over",
		"path", sh.path, "holder_pid", cli.PID(), "unconfirmed_writes", sh.failedSince())
}

// reconnect takes the file over, or connects to the process that did,
// trying every few milliseconds until one works or Close.
func (sh *Shared) reconnect() {
	backoff := 2 * time.Millisecond
	for {
		st, err := sh.tryHold()
		if err == nil {
			sh.mu.Lock()
			sh.holder = st
			sh.epoch++
			sh.mu.Unlock()
			sh.log.Info("memostore: took over the store", "path", sh.path)
			sh.rebind()
			return
		}
		if errors.Is(err, driver.ErrLocked) {
			ctx, cancel := context.WithTimeout(context.Background(), FollowerTimeout)
			cli, derr := control.DialPush(ctx, sh.path, sh.onPush)
			if derr == nil {
				if err := sh.agree(ctx, cli); errors.Is(err, errOtherBound) {
					// Too late to refuse: this process follows, and the
					// new holder's bound is the file's. (Any other error
					// is the connection's, which its reader notices.)
					sh.log.Warn("memostore: following a holder of another byte bound", "path", sh.path, "err", err)
				}
			}
			cancel()
			if derr == nil {
				sh.mu.Lock()
				sh.cli = cli
				sh.epoch++
				sh.mu.Unlock()
				sh.log.Info("memostore: following the store's new holder", "path", sh.path, "holder_pid", cli.PID())
				sh.rebind()
				return
			}
		} else {
			backoff = max(backoff, 100*time.Millisecond)
		}
		t := time.NewTimer(backoff)
		select {
		case <-sh.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// rebind claims this process's namespaces at the store's new holder, or
// at its own store if it took the file over, and attaches their memory
// tiers there, at once: else each waited for its Func's next call, and
// meanwhile the holder reported them unclaimed, their memory tiers
// missing from Stats and the metrics. A failure is left to that call.
func (sh *Shared) rebind() {
	sh.mu.Lock()
	names := sh.namespaces("")
	sh.mu.Unlock()
	for _, sn := range names {
		ctx, cancel := context.WithTimeout(context.Background(), FollowerTimeout)
		sn.backend(ctx)
		cancel()
	}
}

// namespaces returns the namespaces named name ("" = all). sh.mu must be
// held.
func (sh *Shared) namespaces(name string) []*sharedNS {
	var out []*sharedNS
	for n, sn := range sh.names {
		if name == "" || n == name {
			out = append(out, sn)
		}
	}
	return out
}

// onPush carries out an invalidation from the holder in this process's
// memory tiers.
func (sh *Shared) onPush(m *control.Msg) {
	sh.mu.Lock()
	names := sh.namespaces(m.NS)
	sh.mu.Unlock()
	for _, sn := range names {
		t := sn.memoryTier()
		if t == nil {
			continue
		}
		if m.Op == control.OpForget {
			driver.ForgetInTier(t, m.Key)()
		} else {
			t.Purge(m.Flag)()
			if m.Flag {
				sn.clearedCounts()
			}
		}
	}
}

// sendCounts tells the holder what the memory tiers counted since the
// last time.
func (sh *Shared) sendCounts(cli *control.Client) {
	sh.mu.Lock()
	names := sh.namespaces("")
	epoch := sh.epoch
	sh.mu.Unlock()
	for _, sn := range names {
		sn.sendCounts(cli, epoch)
	}
}

// Namespace claims the namespace name for this process, at the holder.
func (sh *Shared) Namespace(ctx context.Context, name string, spec driver.NamespaceSpec) (driver.Namespace, error) {
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil, driver.ErrClosed
	}
	if sh.names[name] != nil {
		sh.mu.Unlock()
		return nil, fmt.Errorf("store: namespace %q is already in use in this process", name)
	}
	sn := &sharedNS{sh: sh, name: name, spec: spec, tokens: map[string]uint64{}}
	sh.names[name] = sn
	sh.mu.Unlock()
	if _, _, err := sn.backend(ctx); err != nil && !errors.Is(err, driver.ErrUnavailable) {
		sh.mu.Lock()
		delete(sh.names, name)
		sh.mu.Unlock()
		return nil, err
	}
	return sn, nil
}

// errNoHolder is the error of what needs the store while no process
// holds it (during a takeover) or the holder does not answer.
var errNoHolder = fmt.Errorf("no process answers for the store file: %w", driver.ErrUnavailable)

// Flush waits until every write this process made is committed.
func (sh *Shared) Flush(ctx context.Context) error {
	st, cli, _ := sh.current()
	sh.putMu.Lock()
	last := sh.putSeq
	sh.flushes++
	me := sh.flushes
	if sh.flushing == nil {
		sh.flushing = map[uint64]struct{}{}
	}
	sh.flushing[me] = struct{}{}
	sh.putMu.Unlock()
	defer func() {
		sh.putMu.Lock()
		delete(sh.flushing, me)
		sh.pruneFailures()
		sh.putMu.Unlock()
	}()
	switch {
	case st != nil:
		if err := st.Flush(ctx); err != nil {
			return err
		}
		// Writes sent to the holder this process took over from.
		return sh.waitPuts(ctx, last, me)
	case cli != nil:
		sh.sendCounts(cli)
		if _, err := sh.callLong(ctx, cli, &control.Msg{Op: control.OpFlush}); err != nil {
			return err
		}
		return sh.waitPuts(ctx, last, me)
	}
	if err := sh.none(); errors.Is(err, driver.ErrClosed) {
		return err
	}
	return sh.waitPuts(ctx, last, me)
}

// sentPut records a write sent to the holder and returns its number.
func (sh *Shared) sentPut() uint64 {
	sh.putMu.Lock()
	defer sh.putMu.Unlock()
	sh.putSeq++
	sh.inflight[sh.putSeq] = struct{}{}
	return sh.putSeq
}

// putAnswered records the holder's answer to write seq (failed: refused,
// or the connection ended before the answer).
func (sh *Shared) putAnswered(seq uint64, failed bool) {
	sh.putMu.Lock()
	defer sh.putMu.Unlock()
	delete(sh.inflight, seq)
	if failed {
		if n := len(sh.failures); n >= maxFailures && sh.failures[n-1].told == 0 {
			// A program that never flushes: count it with the last,
			// under the lower number, so that a Flush that must report
			// it does (one that need not may too).
			sh.failures[n-1].n++
		} else {
			sh.failures = append(sh.failures, failedPut{seq: seq, n: 1})
		}
	}
	close(sh.putDone)
	sh.putDone = make(chan struct{})
}

// A failedPut is a write a holder refused or did not acknowledge: its
// number, and the Flushes begun when a Flush first reported it (0: none
// has). Every Flush that began after the write was sent, and before the
// failure was reported, reports it: two Flushes at once both do, where
// the first to return took it from the other.
type failedPut struct {
	seq, told uint64
	n         int // writes: more than one past maxFailures
}

// maxFailures bounds the failures a follower keeps apart; more are
// counted together (see putAnswered).
const maxFailures = 1024

// pruneFailures forgets the failures reported before every Flush under
// way began. sh.putMu must be held.
func (sh *Shared) pruneFailures() {
	oldest := sh.flushes + 1
	for n := range sh.flushing {
		oldest = min(oldest, n)
	}
	keep := sh.failures[:0]
	for _, f := range sh.failures {
		if f.told == 0 || f.told >= oldest {
			keep = append(keep, f)
		}
	}
	clear(sh.failures[len(keep):])
	sh.failures = keep
}

// failedSince returns the writes that failed and no Flush has reported.
func (sh *Shared) failedSince() int {
	sh.putMu.Lock()
	defer sh.putMu.Unlock()
	n := 0
	for _, f := range sh.failures {
		if f.told == 0 {
			n += f.n
		}
	}
	return n
}

// waitPuts waits until the writes up to number last are answered, and
// returns an error if any of them failed, unless a Flush that returned
// before Flush number me began reported it: a follower's Flush never
// reports a write durable that the holder did not acknowledge.
func (sh *Shared) waitPuts(ctx context.Context, last, me uint64) error {
	for {
		sh.putMu.Lock()
		waiting := false
		for seq := range sh.inflight {
			if seq <= last {
				waiting = true
				break
			}
		}
		ch := sh.putDone
		if !waiting {
			n := 0
			for i := range sh.failures {
				f := &sh.failures[i]
				if f.seq <= last && (f.told == 0 || me <= f.told) {
					n += f.n
					if f.told == 0 {
						f.told = sh.flushes
					}
				}
			}
			sh.putMu.Unlock()
			if n > 0 {
				return fmt.Errorf("store: flush %s: %d writes were not committed (refused, or their holder went before it acknowledged them): %w",
					sh.path, n, driver.ErrUnavailable)
			}
			return nil
		}
		sh.putMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Sweep deletes expired entries, in the holder.
func (sh *Shared) Sweep(ctx context.Context) (int, error) {
	st, cli, _ := sh.current()
	switch {
	case st != nil:
		return st.Sweep(ctx)
	case cli != nil:
		return cli.Sweep(ctx)
	}
	return 0, sh.none()
}

// Clear clears the namespace name ("" = all) in the file and in the
// memory tiers of every process using it.
func (sh *Shared) Clear(ctx context.Context, name string) error {
	st, cli, _ := sh.current()
	if st != nil {
		return st.Clear(ctx, name)
	}
	if cli == nil {
		return fmt.Errorf("store: clear: %w", sh.none())
	}
	sh.mu.Lock()
	names := sh.namespaces(name)
	sh.mu.Unlock()
	for _, sn := range names {
		if t := sn.memoryTier(); t != nil {
			defer t.Purge(true)()
			sn.clearedCounts()
		}
	}
	_, err := sh.callLong(ctx, cli, &control.Msg{Op: control.OpClear, NS: name})
	return err
}

// longCall bounds a request whose answer waits for a commit and for
// every process to hear of it (Flush, Clear, Delete): it may take long
// on a busy holder; one that is stuck is found by callLong sooner.
const longCall = time.Minute

// callLong sends m, a request whose answer may take long (see longCall),
// to the holder through cli, and makes sure every FollowerTimeout that the
// holder still answers a new connection: a holder that does not (stopped,
// say) is given up, its connection dropped, as for a lookup that waited
// FollowerTimeout. Such requests waited a minute for a stopped holder,
// and a Forget or a Clear held the memory tier's invalidation meanwhile.
func (sh *Shared) callLong(ctx context.Context, cli *control.Client, m *control.Msg) (*control.Msg, error) {
	type result struct {
		r   *control.Msg
		err error
	}
	done := make(chan result, 1)
	go func() { // ends with the call: its answer, its timeout, or the connection's end
		r, err := cli.Call(ctx, m, longCall)
		done <- result{r, err}
	}()
	tick := time.NewTicker(FollowerTimeout)
	defer tick.Stop()
	for {
		select {
		case x := <-done:
			return x.r, x.err
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, FollowerTimeout)
			live := control.Live(pctx, sh.path)
			cancel()
			if !live && ctx.Err() == nil {
				cli.Close()
				<-done
				return nil, errNoHolder
			}
		}
	}
}

// Stats returns the holder's Stats.
func (sh *Shared) Stats(ctx context.Context) (driver.Stats, error) {
	st, cli, _ := sh.current()
	switch {
	case st != nil:
		return st.Stats(ctx)
	case cli != nil:
		sh.sendCounts(cli)
		return cli.Stats(ctx, FollowerTimeout)
	}
	return driver.Stats{Path: sh.path, Backend: "bbolt"}, sh.none()
}

// Inspect returns the holder's Inspect report.
func (sh *Shared) Inspect(ctx context.Context) (driver.Stats, error) {
	st, cli, _ := sh.current()
	switch {
	case st != nil:
		return st.Inspect(ctx)
	case cli != nil:
		sh.sendCounts(cli)
		return cli.Info(ctx)
	}
	return driver.Stats{Path: sh.path, Backend: "bbolt"}, sh.none()
}

// Keys lists keys, in the holder.
func (sh *Shared) Keys(ctx context.Context, namespace string, limit int, fn func(driver.KeyInfo) error) error {
	st, cli, _ := sh.current()
	switch {
	case st != nil:
		return st.Keys(ctx, namespace, limit, fn)
	case cli != nil:
		return cli.Keys(ctx, namespace, limit, fn)
	}
	return sh.none()
}

// Check checks the file, in the holder; fix needs the file held here.
func (sh *Shared) Check(ctx context.Context, fix bool, progress func(done, total int64)) (*driver.CheckReport, error) {
	st, cli, _ := sh.current()
	switch {
	case st != nil:
		return st.Check(ctx, fix, progress)
	case fix:
		return nil, fmt.Errorf("store: check: repairing needs the file, which another process holds: %w", driver.ErrUnsupported)
	case cli != nil:
		return cli.Check(ctx)
	}
	return nil, sh.none()
}

// Close stops following (its writes are flushed at the holder first) or,
// in the holder, closes the file: a follower takes it over.
func (sh *Shared) Close() error {
	sh.closeOnce.Do(func() {
		close(sh.stop)
		sh.wg.Wait()
		st, cli, _ := sh.current()
		if st != nil {
			sh.closeErr = st.Close()
		}
		if cli != nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
			sh.Flush(ctx)
			cancel()
			cli.Close()
		}
		sh.mu.Lock()
		sh.holder, sh.cli = nil, nil
		sh.epoch++
		sh.closed = true
		sh.mu.Unlock()
	})
	if sh.closeErr != nil {
		return sh.closeErr
	}
	return nil
}

// A sharedNS is a namespace of a Shared: claimed at whichever process
// holds the file, again after each change of holder.
type sharedNS struct {
	sh   *Shared
	name string
	spec driver.NamespaceSpec

	claimMu  sync.Mutex // held while claiming at a new holder; before mu
	reportMu sync.Mutex // held by sendCounts, from its snapshot until reported is set; before mu

	mu       sync.Mutex
	tier     driver.MemoryTier
	epoch    uint64     // of the holder it is claimed at
	hns      *Namespace // when this process is the holder
	tokens   map[string]uint64
	reported tally.Counts   // what the holders were told
	d        tally.Deltas   // errors counted here
	uses     map[string]int // memory-tier hits by key, for the holder's eviction, while following
}

// maxFollowerUses bounds the keys whose memory-tier hits a follower keeps
// between two reports to the holder: hits of more keys are dropped until
// the next.
const maxFollowerUses = 1024

// followerUsesBatch is the keys whose hits make a follower report at once
// rather than at its next tick (countsInterval): a second's wait let the
// holder evict, as unused, keys that a follower's memory tier had hit
// hundreds of times (TestEvictionHearsFollowerMemoryHits: 6 of 50 kept).
const followerUsesBatch = 64

var (
	_ driver.Namespace      = (*sharedNS)(nil)
	_ driver.Claimer        = (*sharedNS)(nil)
	_ driver.LookupAcquirer = (*sharedNS)(nil)
	_ driver.UseNoter       = (*sharedNS)(nil)
)

func (sn *sharedNS) memoryTier() driver.MemoryTier {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return sn.tier
}

// backend returns the namespace at the holder of now, claiming it there
// first if need be: this process's own (a *Namespace), or a connection
// to the holder on which it is claimed.
func (sn *sharedNS) backend(ctx context.Context) (*Namespace, *control.Client, error) {
	st, cli, epoch := sn.sh.current()
	sn.mu.Lock()
	if sn.epoch == epoch && (sn.hns != nil || cli != nil) {
		defer sn.mu.Unlock()
		return sn.hns, cli, nil
	}
	sn.mu.Unlock()
	// Claim it, without sn.mu: the connection's reader may need it
	// (a push) before the claim's reply comes.
	sn.claimMu.Lock()
	defer sn.claimMu.Unlock()
	sn.mu.Lock()
	if sn.epoch == epoch && (sn.hns != nil || cli != nil) {
		defer sn.mu.Unlock()
		return sn.hns, cli, nil
	}
	sn.mu.Unlock()
	switch {
	case st != nil:
		dn, err := st.Namespace(ctx, sn.name, sn.spec)
		if err != nil {
			return nil, nil, err
		}
		hns := dn.(*Namespace)
		sn.mu.Lock()
		defer sn.mu.Unlock()
		// What was counted here and not yet told goes to this holder's
		// counters; the tier's counts from now on are pulled by Attach.
		now := sn.counts()
		d := now.Minus(&sn.reported)
		sn.reported = now
		hns.sp.d.AddCounts(&d)
		// So do the memory tier's hits not yet told (see NoteUse).
		for k, n := range sn.uses {
			hns.NoteUse([]byte(k), n)
		}
		sn.uses = nil
		if sn.tier != nil {
			hns.Attach(sn.tier)
		}
		sn.hns, sn.epoch = hns, epoch
		return hns, nil, nil
	case cli != nil:
		spec, err := json.Marshal(sn.spec)
		if err != nil {
			return nil, nil, err
		}
		if _, err := cli.Call(ctx, &control.Msg{Op: control.OpNamespace, NS: sn.name, Data: spec}, FollowerTimeout); err != nil {
			if errors.Is(err, control.ErrGone) || ctx.Err() == nil && !isRemote(err) {
				return nil, nil, errNoHolder
			}
			return nil, nil, err
		}
		sn.mu.Lock()
		sn.hns, sn.epoch = nil, epoch
		sn.mu.Unlock()
		return nil, cli, nil
	}
	return nil, nil, sn.sh.none()
}

// HearsUse reports whether the store's eviction weighs use: this
// process's own WithMaxBytes while it holds the file (it holds it until
// Close), else true: a follower cannot see the holder's bound, and the
// holder may change.
func (sn *sharedNS) HearsUse() bool {
	if st, _, _ := sn.sh.current(); st != nil {
		return st.pol != nil
	}
	return true
}

// NoteUse passes hits a memory tier served to the eviction of this
// process's store while it is the holder. A follower adds them up by key
// and tells the holder with its counts (sendCounts), every countsInterval
// or as soon as followerUsesBatch keys have hits, of maxFollowerUses keys
// at most each time; if it takes the file over first, to its own store's
// eviction (see backend).
func (sn *sharedNS) NoteUse(key []byte, hits int) {
	_, _, epoch := sn.sh.current()
	sn.mu.Lock()
	hns := sn.hns
	if sn.epoch != epoch {
		hns = nil
	}
	if hns == nil {
		// Kept for the holder (sendCounts), or for this process's own
		// store if it took the file over since the namespace was last
		// used (backend passes them on).
		if _, ok := sn.uses[string(key)]; ok || len(sn.uses) < maxFollowerUses {
			if sn.uses == nil {
				sn.uses = map[string]int{}
			}
			sn.uses[string(key)] += hits
		}
		if len(sn.uses) >= followerUsesBatch {
			select {
			case sn.sh.usesDue <- struct{}{}:
			default: // a report is due already
			}
		}
	}
	sn.mu.Unlock()
	if hns != nil {
		hns.NoteUse(key, hits)
	}
}

// isRemote reports whether err came back from the holder (a refusal),
// rather than from not reaching it.
func isRemote(err error) bool {
	return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, driver.ErrUnavailable)
}

// counts returns what the tier and this namespace counted since they
// began. sn.mu must be held.
func (sn *sharedNS) counts() tally.Counts {
	c := sn.d.Peek()
	if sn.tier != nil {
		t := tally.Tier(sn.tier)
		c.Add(&t)
	}
	return c
}

// clearedCounts drops what the namespace counted here and did not report
// before a Clear of it, which its memory tier's Purge just reset in
// Info: the holder's counters are reset by the Clear too, and a later
// report must not bring those counts back into them (the holder's own
// tier's counts are pulled, and start again from the purge likewise).
// The memory tier's hits not yet told go too: their keys are cleared.
func (sn *sharedNS) clearedCounts() {
	sn.reportMu.Lock() // a report under way ends first
	defer sn.reportMu.Unlock()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	sn.reported = sn.counts()
	sn.uses = nil
}

func (sn *sharedNS) sendCounts(cli *control.Client, epoch uint64) {
	// One report at a time: two at once (the ticker, Stats, Flush) sent
	// the same counts, and the holder added them twice.
	sn.reportMu.Lock()
	defer sn.reportMu.Unlock()
	sn.mu.Lock()
	tier := sn.tier
	sn.mu.Unlock()
	if h, ok := tier.(driver.HitSettler); ok {
		h.SettleHits() // its notes come back through NoteUse: sn.mu must not be held
	}
	sn.mu.Lock()
	if sn.epoch != epoch || sn.hns != nil {
		sn.mu.Unlock()
		return
	}
	now := sn.counts()
	d := now.Minus(&sn.reported)
	t := sn.tier
	uses := sn.uses
	sn.uses = nil // sent now, or dropped: the next report starts afresh
	sn.mu.Unlock()
	c := control.Counts{Hits: d.Hits, Misses: d.Misses, DiskHits: d.DiskHits,
		DecodeErrors: d.DecodeErrors, WriteErrors: d.WriteErrors, ReadErrors: d.ReadErrors,
		Refreshes: d.Refreshes, StaleReturns: d.StaleReturns, CachedErrors: d.CachedErrors, Saved: d.Saved}
	for k, n := range uses {
		c.Uses = append(c.Uses, control.Use{Key: []byte(k), Hits: n})
	}
	if t != nil {
		c.MemSize, c.MemMax = t.Size()
	}
	data, err := json.Marshal(c)
	if err != nil || cli.Send(&control.Msg{Op: control.OpCounts, NS: sn.name, Data: data}) != nil {
		return
	}
	sn.mu.Lock()
	sn.reported = now
	sn.mu.Unlock()
}

// Lookup finds key at the holder; a holder that cannot be reached is a
// miss, counted (ReadErrors).
func (sn *sharedNS) Lookup(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, error) {
	hns, cli, err := sn.backend(ctx)
	if hns != nil {
		return hns.Lookup(ctx, key, decode)
	}
	if err != nil {
		return sn.unreachable(ctx, err)
	}
	r, err := cli.Call(ctx, &control.Msg{Op: control.OpLookup, NS: sn.name, Key: key, Now: sn.sh.now()}, FollowerTimeout)
	if err != nil {
		return sn.unreachable(ctx, err)
	}
	return sn.open(cli, r, key, decode), nil
}

// unreachable is a lookup's answer when the holder was not reached.
func (sn *sharedNS) unreachable(ctx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !errors.Is(err, driver.ErrUnavailable) && isRemote(err) {
		return false, err
	}
	sn.d.ReadErrors.Add(1)
	return false, nil
}

// open decodes the record a reply carries, if any. One that decode
// rejects (a value this program can no longer read) is a miss: counted,
// logged, and deleted at the holder, as a holder does with its own.
func (sn *sharedNS) open(cli *control.Client, r *control.Msg, key []byte, decode driver.DecodeFunc) bool {
	if !r.Flag {
		return false
	}
	ok, err := driver.OpenRecord(r.Rec, key, sn.sh.now(), decode)
	if err != nil {
		sn.d.DecodeErrors.Add(1)
		sn.sh.log.Warn("memostore: dropping a record that does not decode", "path", sn.sh.path, "namespace", sn.name, "err", err)
		cli.Send(&control.Msg{Op: control.OpDrop, NS: sn.name, Key: key, Rec: r.Rec})
		return false
	}
	return ok
}

// Acquire makes this process the one that computes key among all that
// use the file, or waits for the one that is (see Namespace.Acquire).
// When the holder cannot be reached, the caller computes without a claim.
func (sn *sharedNS) Acquire(ctx context.Context, key []byte, decode driver.DecodeFunc) (bool, func(), error) {
	noop := func() {}
	hns, cli, err := sn.backend(ctx)
	if hns != nil {
		return hns.Acquire(ctx, key, decode)
	}
	// Only ctx ends Acquire with an error: without the store the caller
	// computes, unclaimed.
	if err != nil {
		sn.unreachable(ctx, err)
		return false, noop, ctx.Err()
	}
	for {
		r, err := cli.Call(ctx, &control.Msg{Op: control.OpAcquire, NS: sn.name, Key: key, N: int64(acquireWait), Now: sn.sh.now()}, acquireWait+FollowerTimeout)
		if err != nil {
			sn.unreachable(ctx, err)
			return false, noop, ctx.Err()
		}
		if r.Flag {
			return sn.open(cli, r, key, decode), noop, nil
		}
		if r.N != 0 {
			tok := uint64(r.N)
			k := string(key)
			sn.mu.Lock()
			sn.tokens[k] = tok
			sn.mu.Unlock()
			return false, func() {
				if sn.takeToken(k) == tok {
					cli.Send(&control.Msg{Op: control.OpRelease, NS: sn.name, Key: []byte(k), N: int64(tok)})
				}
			}, nil
		}
	}
}

// TryClaim claims key at the holder without reading it or waiting (see
// driver.Claimer). Without a holder it succeeds: the caller goes on alone.
func (sn *sharedNS) TryClaim(ctx context.Context, key []byte) (func(), bool) {
	noop := func() {}
	hns, cli, err := sn.backend(ctx)
	if hns != nil {
		return hns.TryClaim(ctx, key)
	}
	if err != nil {
		return noop, true
	}
	r, err := cli.Call(ctx, &control.Msg{Op: control.OpClaim, NS: sn.name, Key: key}, FollowerTimeout)
	if err != nil {
		return noop, true
	}
	if r.N == 0 {
		return noop, false
	}
	tok := r.N
	k := bytes.Clone(key)
	return func() { cli.Send(&control.Msg{Op: control.OpRelease, NS: sn.name, Key: k, N: tok}) }, true
}

// AcquireLooksUp says that Acquire looks key up first, at the holder, in
// the exchange that claims it (see driver.LookupAcquirer).
func (sn *sharedNS) AcquireLooksUp() {}

// takeToken removes and returns this process's claim token on key, or 0.
func (sn *sharedNS) takeToken(key string) uint64 {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	tok := sn.tokens[key]
	delete(sn.tokens, key)
	return tok
}

// Put sends rec to the holder, without waiting: the holder acknowledges
// it once it is committed. A write the holder refuses, or does not
// acknowledge before it goes, is counted (WriteErrors). Put also ends
// this process's claim on key, at the holder.
func (sn *sharedNS) Put(ctx context.Context, key, rec []byte) error {
	hns, cli, err := sn.backend(ctx)
	if hns != nil {
		return hns.Put(ctx, key, rec)
	}
	tok := sn.takeToken(string(key))
	if errors.Is(err, driver.ErrClosed) {
		return err
	}
	if err != nil {
		// Dropped: counted, and the next Flush says so.
		sn.d.WriteErrors.Add(1)
		sn.sh.putAnswered(sn.sh.sentPut(), true)
		return fmt.Errorf("store: write in %q: %w", sn.name, err)
	}
	sh := sn.sh
	seq := sh.sentPut()
	sent := cli.Go(&control.Msg{Op: control.OpPut, NS: sn.name, Key: key, Rec: rec, N: int64(tok)}, func(r *control.Msg) {
		failed := r == nil || r.Err != ""
		if failed {
			sn.d.WriteErrors.Add(1)
		}
		sh.putAnswered(seq, failed)
	})
	if !sent {
		sh.putAnswered(seq, true)
		return fmt.Errorf("store: write in %q: %w", sn.name, errNoHolder)
	}
	return nil
}

// Delete deletes key at the holder, which returns once every process
// using the file has forgotten it.
func (sn *sharedNS) Delete(ctx context.Context, key []byte) error {
	hns, cli, err := sn.backend(ctx)
	if hns != nil {
		return hns.Delete(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("store: delete in %q: %w", sn.name, err)
	}
	_, err = sn.sh.callLong(ctx, cli, &control.Msg{Op: control.OpDelete, NS: sn.name, Key: key})
	return err
}

// Clear clears the namespace (see Shared.Clear).
func (sn *sharedNS) Clear(ctx context.Context) error { return sn.sh.Clear(ctx, sn.name) }

// Attach attaches t, here and at this process's holder namespace.
func (sn *sharedNS) Attach(t driver.MemoryTier) {
	sn.mu.Lock()
	sn.tier = t
	hns := sn.hns
	sn.reported = sn.counts()
	sn.mu.Unlock()
	if hns != nil {
		hns.Attach(t)
	}
}

// Refused counts a write that store refused.
func (sn *sharedNS) Refused() {
	sn.mu.Lock()
	hns := sn.hns
	sn.mu.Unlock()
	if hns != nil {
		hns.Refused()
		return
	}
	sn.d.WriteErrors.Add(1)
}
