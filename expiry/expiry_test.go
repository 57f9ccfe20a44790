package expiry

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestDeadline(t *testing.T) {
	base := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want int64
	}{
		{"zero ttl never expires", base, 0, Never},
		{"negative ttl never expires", base, -time.Hour, Never},
		{"min duration never expires", base, math.MinInt64, Never},
		{"one nanosecond", base, 1, base.UnixNano() + 1},
		{"an hour", base, time.Hour, base.UnixNano() + int64(time.Hour)},
		{"at the epoch", time.Unix(0, 0), time.Second, int64(time.Second)},
		{"exactly at the limit", time.Unix(0, math.MaxInt64-int64(time.Hour)), time.Hour, math.MaxInt64},
		{"1ns past the limit saturates", time.Unix(0, math.MaxInt64-int64(time.Hour)+1), time.Hour, math.MaxInt64},
		{"near the limit saturates", time.Unix(0, math.MaxInt64-10), time.Hour, math.MaxInt64},
		{"max ttl saturates", base, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Deadline(tt.now, tt.ttl); got != tt.want {
				t.Errorf("Deadline(%d, %v) = %d, want %d", tt.now.UnixNano(), tt.ttl, got, tt.want)
			}
		})
	}
}

func TestDeadlineNeverWraps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		now := time.Unix(0, r.Int64N(math.MaxInt64))
		ttl := time.Duration(r.Int64N(math.MaxInt64))
		got := Deadline(now, ttl)
		if got < now.UnixNano() || got == Never {
			t.Fatalf("Deadline(%d, %d) = %d: before now, or never", now.UnixNano(), ttl, got)
		}
	}
}

func TestExpired(t *testing.T) {
	const at = int64(1_000_000)
	tests := []struct {
		expiresAt, now int64
		want           bool
	}{
		{at, at - 1, false},
		{at, at, true}, // an entry expires at the instant expiresAt
		{at, at + 1, true},
		{at, 0, false},
		{Never, 0, false},
		{Never, math.MaxInt64, false},
		{math.MaxInt64, math.MaxInt64 - 1, false},
		{math.MaxInt64, math.MaxInt64, true},
	}
	for _, tt := range tests {
		if got := Expired(tt.expiresAt, tt.now); got != tt.want {
			t.Errorf("Expired(%d, %d) = %v, want %v", tt.expiresAt, tt.now, got, tt.want)
		}
	}
	// Deadline and Expired agree: an entry lives exactly ttl.
	now := time.Unix(0, 5e9)
	d := Deadline(now, time.Second)
	if Expired(d, now.Add(time.Second-1).UnixNano()) || !Expired(d, now.Add(time.Second).UnixNano()) {
		t.Errorf("an entry with a 1s TTL does not expire exactly 1s after it is stored")
	}
}

func TestSystemClock(t *testing.T) {
	var c Clock = SystemClock{}
	before := time.Now()
	got := c.Now()
	if got.Before(before) || got.After(time.Now()) {
		t.Errorf("SystemClock.Now() = %v, not the current time", got)
	}
}

func TestIndexKeyRoundTrip(t *testing.T) {
	tests := []struct {
		at  int64
		key []byte
	}{
		{0, nil},
		{0, []byte{}},
		{1, []byte("k")},
		{math.MaxInt64, []byte("a longer key \x00 with a zero byte")},
		{-1, []byte{0xff}},
		{math.MinInt64, []byte("min")},
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), []byte{0xa3, 'f', 'o', 'o'}},
	}
	for _, tt := range tests {
		ik := AppendIndexKey(nil, tt.at, tt.key)
		if len(ik) != IndexKeySize+len(tt.key) {
			t.Errorf("AppendIndexKey(%d, %q) has %d bytes, want %d", tt.at, tt.key, len(ik), IndexKeySize+len(tt.key))
		}
		at, key, err := ParseIndexKey(ik)
		if err != nil {
			t.Fatalf("ParseIndexKey(%x): %v", ik, err)
		}
		if at != tt.at || !bytes.Equal(key, tt.key) {
			t.Errorf("ParseIndexKey(AppendIndexKey(%d, %q)) = %d, %q", tt.at, tt.key, at, key)
		}
	}
}

func TestAppendIndexKeyAppends(t *testing.T) {
	prefix := []byte("prefix")
	ik := AppendIndexKey(slices.Clone(prefix), 7, []byte("k"))
	if !bytes.HasPrefix(ik, prefix) {
		t.Fatalf("AppendIndexKey dropped dst: %q", ik)
	}
	at, key, err := ParseIndexKey(ik[len(prefix):])
	if err != nil || at != 7 || string(key) != "k" {
		t.Errorf("ParseIndexKey = %d, %q, %v", at, key, err)
	}
	// The parsed key aliases the index key.
	ik2 := AppendIndexKey(nil, 1, []byte("abc"))
	_, key, _ = ParseIndexKey(ik2)
	ik2[IndexKeySize] = 'X'
	if string(key) != "Xbc" {
		t.Errorf("ParseIndexKey's key does not alias its input")
	}
}

// TestIndexKeyOrder: byte order of index keys is time order, then key
// order, for the non-negative times a store uses.
func TestIndexKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type entry struct {
		at  int64
		key []byte
	}
	var entries []entry
	for range 2000 {
		var at int64
		switch r.IntN(4) {
		case 0:
			at = r.Int64N(256) // small, shared times: the key breaks ties
		case 1:
			at = math.MaxInt64 - r.Int64N(256)
		default:
			at = r.Int64N(math.MaxInt64)
		}
		key := make([]byte, r.IntN(6))
		for i := range key {
			key[i] = byte(r.IntN(256))
		}
		entries = append(entries, entry{at, key})
	}
	byTime := slices.Clone(entries)
	slices.SortStableFunc(byTime, func(a, b entry) int {
		if a.at != b.at {
			return cmpInt(a.at, b.at)
		}
		return bytes.Compare(a.key, b.key)
	})
	byBytes := slices.Clone(entries)
	slices.SortStableFunc(byBytes, func(a, b entry) int {
		return bytes.Compare(AppendIndexKey(nil, a.at, a.key), AppendIndexKey(nil, b.at, b.key))
	})
	for i := range byTime {
		if byTime[i].at != byBytes[i].at || !bytes.Equal(byTime[i].key, byBytes[i].key) {
			t.Fatalf("position %d: time order has (%d, %x), byte order has (%d, %x)",
				i, byTime[i].at, byTime[i].key, byBytes[i].at, byBytes[i].key)
		}
	}
	// Pairs across byte boundaries of the big-endian encoding.
	for _, p := range [][2]int64{{0, 1}, {255, 256}, {65535, 65536}, {1<<32 - 1, 1 << 32}, {1<<56 - 1, 1 << 56}, {math.MaxInt64 - 1, math.MaxInt64}} {
		a := AppendIndexKey(nil, p[0], []byte{0xff, 0xff})
		b := AppendIndexKey(nil, p[1], []byte{0x00})
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("index key of %d does not sort before that of %d", p[0], p[1])
		}
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestParseIndexKeyShort(t *testing.T) {
	for n := range IndexKeySize {
		ik := make([]byte, n)
		at, key, err := ParseIndexKey(ik)
		if !errors.Is(err, ErrIndexKey) {
			t.Errorf("ParseIndexKey(%d bytes) error = %v, want ErrIndexKey", n, err)
		}
		if at != 0 || key != nil {
			t.Errorf("ParseIndexKey(%d bytes) = %d, %q with its error", n, at, key)
		}
	}
	if _, key, err := ParseIndexKey(make([]byte, IndexKeySize)); err != nil || len(key) != 0 {
		t.Errorf("ParseIndexKey(8 bytes) = %q, %v; want an empty key", key, err)
	}
}

func TestRunSweeperDisabled(t *testing.T) {
	for _, interval := range []time.Duration{0, -time.Second} {
		done := make(chan struct{})
		calls := 0
		go func() {
			defer close(done)
			RunSweeper(context.Background(), interval, func(context.Context) (int, error) {
				calls++
				return 0, nil
			}, nil)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("RunSweeper with interval %v did not return", interval)
		}
		if calls != 0 {
			t.Errorf("RunSweeper with interval %v swept %d times", interval, calls)
		}
	}
}

func TestRunSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		var errs []error
		errBoom := errors.New("boom")
		done := make(chan struct{})
		start := time.Now()
		var at []time.Duration
		go func() {
			defer close(done)
			RunSweeper(ctx, time.Minute, func(got context.Context) (int, error) {
				if got != ctx {
					t.Error("sweep called with another context")
				}
				at = append(at, time.Since(start))
				if calls.Add(1) == 2 {
					return 0, errBoom
				}
				return 1, nil
			}, func(err error) { errs = append(errs, err) })
		}()

		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			t.Fatalf("swept %d times before the first interval", n)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := calls.Load(); n != 5 {
			t.Fatalf("swept %d times in 6 minutes at 1-minute intervals, want 5", n)
		}
		for i, d := range at {
			if want := time.Duration(i+1) * time.Minute; d != want {
				t.Errorf("sweep %d at %v, want %v", i, d, want)
			}
		}
		// An error is reported and does not stop the loop.
		if len(errs) != 1 || !errors.Is(errs[0], errBoom) {
			t.Errorf("onErr got %v, want one boom", errs)
		}

		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("RunSweeper did not return when its context was cancelled")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := calls.Load(); n != 5 {
			t.Errorf("swept %d times, still sweeping after cancel", n)
		}
	})
}

// TestRunSweeperCancelledSweep: an error from a sweep cut short by the
// cancellation is not reported, and a nil onErr is allowed.
func TestRunSweeperCancelledSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var reported atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			RunSweeper(ctx, time.Second, func(ctx context.Context) (int, error) {
				cancel()
				return 0, ctx.Err()
			}, func(error) { reported.Add(1) })
		}()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		<-done
		if n := reported.Load(); n != 0 {
			t.Errorf("onErr called %d times for a sweep cut short by cancel", n)
		}

		ctx2, cancel2 := context.WithCancel(context.Background())
		done2 := make(chan struct{})
		go func() {
			defer close(done2)
			RunSweeper(ctx2, time.Second, func(context.Context) (int, error) {
				return 0, errors.New("failing, no onErr")
			}, nil)
		}()
		time.Sleep(3 * time.Second)
		cancel2()
		<-done2
	})
}
