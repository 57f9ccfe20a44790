// Crash consistency of changing values: a writer process overwrites,
// forgets and clears entries whose values carry a version that only grows,
// and is killed with SIGKILL at random moments. Between kills the file also
// goes through check --fix and an offline Compact, and writers run with
// eviction (WithMaxBytes), TTL expiry and sync writes in turn. No key may
// ever be found at a version older than one its writer said was gone.
package memostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

const (
	verNamespace  = "versions"
	verKeys       = 32        // keys of the versioned namespace
	verWorkers    = 4         // worker goroutines in a versions child
	verFlushN     = 25        // operations of a worker between two Flushes
	verQueueBytes = 16 << 10  // small, so that Puts wait for the writer
	verMaxBytes   = 128 << 10 // WithMaxBytes in the cycles that evict
	verTTL        = 50 * time.Millisecond
	verCycles     = 24 // kills of one file
)

// verVal is a versioned value: key K at version V. P pads it to a size
// that depends on both, and lets the reader tell a whole value from a
// mixed-up one.
type verVal struct {
	K int
	V uint64
	P string
}

func verValue(k int, v uint64) verVal {
	return verVal{K: k, V: v, P: strings.Repeat(string(rune('a'+k%26)), 500+int(v%7)*1000)}
}

// verBase is the first version of the writer of cycle c: versions grow
// from one writer to the next.
func verBase(c int) uint64 { return uint64(c+1) << 32 }

// verMode is how one versions child runs, passed to it as JSON in
// MEMOSTORE_TEST_VERSIONS.
type verMode struct {
	Cycle    int
	MaxBytes int64         // WithMaxBytes, if not 0
	Sync     bool          // WithSyncWrites
	TTL      time.Duration // of the versioned namespace, if not 0
}

func (m verMode) String() string {
	return fmt.Sprintf("cycle %d, max bytes %d, sync writes %t, TTL %v", m.Cycle, m.MaxBytes, m.Sync, m.TTL)
}

// verChild is a versions child's state. Its function returns, for key k,
// the version cur[k] holds when it starts. Before Forget(k) returns, cur[k]
// is raised to a new version w; before Clear, every cur[k] is. A
// computation that started before Forget or Clear thus carries a version
// below w, and one that started after carries w or more. Once Forget(k) or
// Clear has returned, no version of k below w may be stored: it could only
// come from a computation that started before.
type verChild struct {
	s      *store.Store
	f      *memo.Func[int, verVal]
	stable *memo.Func[int, crashVal] // pure values, never forgotten
	cur    [verKeys]atomic.Uint64
	next   atomic.Uint64 // the last version handed out
	out    sync.Mutex    // one write per report, whole
}

// raise makes cur[k] at least w.
func (c *verChild) raise(k int, w uint64) {
	for {
		old := c.cur[k].Load()
		if old >= w || c.cur[k].CompareAndSwap(old, w) {
			return
		}
	}
}

func (c *verChild) say(lines []string) {
	if len(lines) == 0 {
		return
	}
	c.out.Lock()
	defer c.out.Unlock()
	fmt.Fprint(os.Stdout, strings.Join(lines, "\n")+"\n")
}

// versionWriter is a versions child's role: verWorkers goroutines call,
// forget and clear the keys of the versioned namespace until killed. After
// each Flush a worker prints what the Flush made durable: "forgot K W"
// (Forget(K) returned after raising K to version W), "cleared W by
// Func.Clear" or "by Store.Clear" (Clear returned after raising every key
// to W), and
// "stable LO HI" (keys LO..HI of the stable namespace were called).
func versionWriter(path string) error {
	var m verMode
	if err := json.Unmarshal([]byte(os.Getenv("MEMOSTORE_TEST_VERSIONS")), &m); err != nil {
		return err
	}
	opts := []store.Option{store.WithSweepInterval(20 * time.Millisecond), store.WithQueueBytes(verQueueBytes)}
	if m.Sync {
		opts = append(opts, store.WithSyncWrites())
	}
	if m.MaxBytes > 0 {
		opts = append(opts, store.WithMaxBytes(m.MaxBytes))
	}
	s, err := store.Open(path, opts...)
	if err != nil {
		return err
	}
	c := &verChild{s: s}
	base := verBase(m.Cycle)
	c.next.Store(base)
	for k := range verKeys {
		c.cur[k].Store(base)
	}
	fopts := []memo.Option{memo.MaxSize(8)}
	if m.TTL > 0 {
		fopts = append(fopts, memo.TTL(m.TTL))
	}
	c.f, err = memo.New(s, verNamespace, func(_ context.Context, k int) (verVal, error) {
		v := c.cur[k].Load()
		if rand.IntN(4) == 0 {
			// Let Forget and Clear come while computations run.
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
		return verValue(k, v), nil
	}, fopts...)
	if err != nil {
		return err
	}
	c.stable, err = memo.New(s, "crash", func(_ context.Context, k int) (crashVal, error) { return crashValue(k), nil }, memo.MaxSize(8))
	if err != nil {
		return err
	}
	c.say([]string{"ready"})
	errc := make(chan error, verWorkers)
	for g := range verWorkers {
		go func() {
			r := rand.New(rand.NewPCG(uint64(m.Cycle), uint64(g)))
			errc <- c.work(r, (m.Cycle+1)*crashCycleKeys+g*crashStride)
		}()
	}
	return <-errc
}

// work is one worker of a versions child; its stable keys start at lo.
func (c *verChild) work(r *rand.Rand, lo int) error {
	ctx := context.Background()
	var done []string // reports waiting for the next Flush
	sk, reported := lo, lo
	for i := 0; ; i++ {
		k := r.IntN(verKeys)
		if v, err := c.f.Call(ctx, k); err != nil || v != verValue(k, v.V) {
			return fmt.Errorf("Call(%d) = %+v, %v", k, v, err)
		}
		switch n := r.IntN(1000); {
		case n < 150:
			k := r.IntN(verKeys)
			w := c.next.Add(1)
			c.raise(k, w)
			if err := c.f.Forget(ctx, k); err != nil {
				return err
			}
			done = append(done, fmt.Sprintf("forgot %d %d", k, w))
		case n < 160:
			w := c.next.Add(1)
			for k := range verKeys {
				c.raise(k, w)
			}
			by, err := "Func", error(nil)
			if n < 155 {
				err = c.f.Clear(ctx)
			} else {
				by, err = "Store", c.s.Clear(ctx, verNamespace)
			}
			if err != nil {
				return err
			}
			done = append(done, fmt.Sprintf("cleared %d by %s.Clear", w, by))
		}
		if i%4 == 0 {
			if v, err := c.stable.Call(ctx, sk); err != nil || v != crashValue(sk) {
				return fmt.Errorf("stable Call(%d) = %+v, %v", sk, v, err)
			}
			sk++
		}
		if (i+1)%verFlushN == 0 {
			if err := c.s.Flush(ctx); err != nil {
				return err
			}
			if sk > reported {
				done = append(done, fmt.Sprintf("stable %d %d", reported, sk-1))
				reported = sk
			}
			c.say(done)
			done = done[:0]
		}
	}
}

// verState is what the test knows of one file from the reports of every
// writer killed so far.
type verState struct {
	floor  [verKeys]uint64 // no version below is allowed
	why    [verKeys]string // what set floor
	stable []int           // stable keys reported since the last cycle that evicted
	fresh  int             // of which the last cycle's, at the end
	read   int             // stable keys read back, in all
	floors int             // reports of Forget and Clear, in all
}

// apply takes in the reports of the writer of cycle m.Cycle.
func (st *verState) apply(t *testing.T, m verMode, lines []string) {
	t.Helper()
	raise := func(k int, w uint64, line string) {
		if w < verBase(m.Cycle) || w >= verBase(m.Cycle+1) {
			t.Fatalf("cycle %d: version out of its range in %q", m.Cycle, line)
		}
		if w > st.floor[k] {
			st.floor[k], st.why[k] = w, fmt.Sprintf("the writer of cycle %d reported %q", m.Cycle, line)
		}
	}
	if m.MaxBytes > 0 {
		st.stable = nil // eviction may have taken any of them
	}
	st.fresh = 0
	for _, line := range lines {
		var (
			k, lo, hi int
			w         uint64
			by        string
		)
		switch {
		case scan(line, "forgot %d %d", &k, &w) && k >= 0 && k < verKeys:
			raise(k, w, line)
			st.floors++
		case scan(line, "cleared %d by %s", &w, &by):
			for k := range verKeys {
				raise(k, w, line)
			}
			st.floors++
		case scan(line, "stable %d %d", &lo, &hi) && lo <= hi:
			if m.MaxBytes == 0 {
				for k := lo; k <= hi; k++ {
					st.stable = append(st.stable, k)
					st.fresh++
				}
			}
		default:
			t.Fatalf("versions writer printed %q", line)
		}
	}
}

// scan reports whether line is format, whole, and parses it into args.
func scan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args) && fmt.Sprintf(format, deref(args)...) == line
}

func deref(args []any) []any {
	v := make([]any, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case *int:
			v[i] = *a
		case *uint64:
			v[i] = *a
		case *string:
			v[i] = *a
		}
	}
	return v
}

// verify checks the file a writer of cycle m.Cycle left, as s: every key
// of the versioned namespace is absent (evicted, expired, forgotten) or at
// its floor or above, and the stable keys are all there. It returns the
// keys present, and of those the ones with a floor.
func (st *verState) verify(t *testing.T, s *store.Store, m verMode, when string, r *rand.Rand) (present, floored int) {
	t.Helper()
	ctx := context.Background()
	f, err := memo.New(s, verNamespace, func(_ context.Context, k int) (verVal, error) {
		return verVal{}, fmt.Errorf("key %d: %w", k, errNotStored)
	}, memo.MaxSize(0))
	if err != nil {
		t.Fatal(err)
	}
	for k := range verKeys {
		v, err := f.Call(ctx, k)
		switch {
		case errors.Is(err, errNotStored):
			continue
		case err != nil:
			t.Fatalf("Call(%d): %v", k, err)
		case v != verValue(k, v.V) || v.V >= verBase(m.Cycle+1):
			t.Errorf("%s (%v): key %d holds a wrong value: K %d, version %d, %d bytes of padding",
				when, m, k, v.K, v.V, len(v.P))
			continue
		}
		present++
		if st.floor[k] > 0 {
			floored++
		}
		if v.V < st.floor[k] {
			t.Errorf("%s (%v): key %d is at version %d (of cycle %d), below its floor %d: %s; the record: %s",
				when, m, k, v.V, int(v.V>>32)-1, st.floor[k], st.why[k], recordTimes(s, k))
			continue
		}
		// No writer stores a version of k below this one any more: k may
		// only go, or go up.
		if v.V > st.floor[k] {
			st.floor[k], st.why[k] = v.V, fmt.Sprintf("it was found at that version %s in cycle %d", when, m.Cycle)
		}
	}
	// The last writer's stable keys in full, and a sample of the others.
	keys := st.stable[len(st.stable)-st.fresh:]
	if older := len(st.stable) - st.fresh; older > 0 {
		keys = append([]int(nil), keys...)
		for range min(300, older) {
			keys = append(keys, st.stable[r.IntN(older)])
		}
	}
	verifyDurable(t, s, keys)
	st.read += len(keys)
	return present, floored
}

// TestCrashVersions kills a writer whose values change over time, at
// random moments, and after each kill checks that the file opens and
// passes Check (in some cycles check --fix, which must find nothing), that
// no key is at a version older than one the writer had reported forgotten
// or cleared before the kill, and that the stable keys it reported flushed
// are there (unless it evicted). In some cycles the file is then
// compacted offline and checked again.
func TestCrashVersions(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	dir := t.TempDir()
	var kills, floors, present, floored, stable int
	for e := range crashEpochs() {
		st := &verState{}
		path := filepath.Join(dir, fmt.Sprintf("versions%d.db", e))
		for cycle := e * verCycles; cycle < (e+1)*verCycles; cycle++ {
			p, fl := versionCycle(t, path, st, r, cycle)
			if t.Failed() {
				t.FailNow()
			}
			kills++
			present += p
			floored += fl
		}
		floors += st.floors
		stable += st.read
	}
	if floors == 0 || floored == 0 {
		t.Fatalf("%d reports of Forget and Clear, %d keys read with a floor: the kills came too early to test anything", floors, floored)
	}
	t.Logf("%d kills; %d reports of Forget and Clear; %d keys read, %d of them with a floor, none below it; %d stable keys read, all present",
		kills, floors, present, floored, stable)
}

// versionCycle runs, kills and checks the writer of one cycle, and returns
// the keys found and those with a floor, as verify.
func versionCycle(t *testing.T, path string, st *verState, r *rand.Rand, cycle int) (present, floored int) {
	m := verMode{Cycle: cycle, Sync: r.IntN(4) == 0}
	if r.IntN(2) == 0 {
		m.MaxBytes = verMaxBytes
	}
	if r.IntN(4) == 0 {
		m.TTL = verTTL
	}
	env, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	run := startCrashChild(t, "crash-versions", path, "MEMOSTORE_TEST_VERSIONS="+string(env))
	select {
	case <-run.ready:
	case <-time.After(30 * time.Second):
		run.kill(t)
		t.Fatalf("versions writer not ready after 30s\nstderr:\n%s", run.stderr.String())
	}
	time.Sleep(100*time.Millisecond + time.Duration(r.IntN(int(300*time.Millisecond))))
	st.apply(t, m, run.kill(t))
	defer func() {
		if t.Failed() {
			t.Logf("%v; writer stderr:\n%s", m, run.stderr.String())
		}
	}()

	fix := r.IntN(2) == 0
	s := openCrashed(t, path, fix, "after SIGKILL")
	when := "after SIGKILL"
	if fix {
		when += " and check --fix"
	}
	present, floored = st.verify(t, s, m, when, r)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if t.Failed() || r.IntN(3) != 0 {
		return present, floored
	}
	if _, _, err := store.Compact(context.Background(), path, store.WithLockTimeout(5*time.Second)); err != nil {
		t.Fatalf("Compact %s: %v", when, err)
	}
	when += " and Compact"
	s = openCrashed(t, path, false, when)
	st.verify(t, s, m, when, r)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return present, floored
}

// recordTimes describes when the record of key k of the versioned
// namespace was stored and expires, against now, for a failure's message.
func recordTimes(s *store.Store, k int) string {
	desc := "not listed"
	now := time.Now().UnixNano()
	_ = s.Keys(context.Background(), verNamespace, 0, func(ki store.KeyInfo) error {
		if fmt.Sprint(ki.Key) == fmt.Sprint(k) {
			desc = fmt.Sprintf("stored %v ago", time.Duration(now-ki.StoredAt))
			if ki.ExpiresAt != 0 {
				desc += fmt.Sprintf(", expiring in %v", time.Duration(ki.ExpiresAt-now))
			}
		}
		return nil
	})
	return desc
}
