package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/store/boltstore"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/memo"
	"github.com/memostore/memostore/store"
)

func TestKeysOffline(t *testing.T) {
	path := makeStore(t, 5)
	out, errOut, code := runCmd(t, "keys", path, "--namespace", "square")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var k store.KeyInfo
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key != "ab" || k.StoredAt == 0 || k.ExpiresAt != 0 {
		t.Fatalf("keys: %q (%v)", out, err)
	}
	out, _, _ = runCmd(t, "keys", "--namespace", "double", path)
	if n := strings.Count(out, "\n"); n != 5 {
		t.Fatalf("keys of double: %d lines, want 5:\n%s", n, out)
	}
	if _, errOut, code := runCmd(t, "keys", path); code != 2 || !strings.Contains(errOut, "--namespace is required") {
		t.Fatalf("keys without --namespace: %d %s", code, errOut)
	}
	if _, errOut, code := runCmd(t, "keys", "--namespace", "nope", path); code != 1 || !strings.Contains(errOut, "nope") {
		t.Fatalf("keys of an unknown namespace: %d %s", code, errOut)
	}
}

// makeExpiring writes a store whose namespace "ttl" has n entries that
// expire after ttl.
func makeExpiring(t testing.TB, n int, ttl time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ttl.db")
	// The store's clock stands still while it is filled: a record is
	// judged expired at its put (and not kept), and with a TTL of 1 ms a
	// put that took longer, under -race on a busy machine, lost an entry
	// (TestWatchJSONExpiredPending found 29 of 30 once in CI).
	clock := mtesting.NewFakeClock()
	clock.Set(time.Now())
	s, err := store.Open(path, store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	f, err := memo.New(s, "ttl", func(_ context.Context, x int) (int, error) { return x, nil }, memo.TTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f.Call(context.Background(), i)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSweepAndClearExpiredOffline(t *testing.T) {
	path := makeExpiring(t, 30, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if info := liveInfo(t, path); info.Namespaces[0].ExpiredPending != 30 {
		t.Fatalf("info: %d expired pending, want 30", info.Namespaces[0].ExpiredPending)
	}
	if out, errOut, code := runCmd(t, "sweep", path); code != 0 || out != "swept 30 expired entries\n" {
		t.Fatalf("sweep: %d %q %s", code, out, errOut)
	}
	path = makeExpiring(t, 7, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if out, _, code := runCmd(t, "clear", "--expired", path); code != 0 || out != "swept 7 expired entries\n" {
		t.Fatalf("clear --expired: %d %q", code, out)
	}
	if info := liveInfo(t, path); info.Entries != 0 || info.Namespaces[0].Expirations != 7 {
		t.Fatalf("after clear --expired: %+v", info)
	}
}

// damage changes a store file behind the store's back, with bbolt.
func damage(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestCheckFindsAndFixes(t *testing.T) {
	path := makeStore(t, 20)
	if out, errOut, code := runCmd(t, "check", path); code != 0 || !strings.Contains(out, "ok: 21 records") {
		t.Fatalf("check of a sound store: %d %s%s", code, out, errOut)
	}
	key3 := codec.AppendInt(nil, 3)
	damage(t, path, func(tx *bolt.Tx) error {
		d := tx.Bucket([]byte("d/double"))
		rec := bytes.Clone(d.Get(key3))
		rec[len(rec)-1] ^= 0xff // the payload no longer matches its checksum
		if err := d.Put(key3, rec); err != nil {
			return err
		}
		// An index key pointing nowhere, and a record missing from the age
		// index (which --fix deletes: it may be another key's).
		a := tx.Bucket([]byte("a/double"))
		if err := a.Put(binary.BigEndian.AppendUint64(nil, 12345), nil); err != nil {
			return err
		}
		c := a.Cursor()
		k, _ := c.Last()
		return a.Delete(bytes.Clone(k))
	})
	out, errOut, code := runCmd(t, "check", path)
	if code != 1 || !strings.Contains(out, "checksum") || !strings.Contains(out, "points to no record") ||
		!strings.Contains(out, "missing from the age index") {
		t.Fatalf("check of a damaged store: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCmd(t, "check", "--fix", path)
	if code != 0 || !strings.Contains(out, "fixed:") {
		t.Fatalf("check --fix: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := runCmd(t, "check", path); code != 0 || !strings.Contains(out, "ok: 19 records") {
		t.Fatalf("check after --fix: exit %d\n%s", code, out)
	}
	if info := liveInfo(t, path); info.Namespaces[0].Entries != 18 {
		t.Fatalf("entries after the fix: %d, want 18", info.Namespaces[0].Entries)
	}
}

func TestCompact(t *testing.T) {
	path := makeStore(t, 2000)
	if _, _, code := runCmd(t, "clear", "--namespace", "double", path); code != 0 {
		t.Fatal("clear failed")
	}
	out, errOut, code := runCmd(t, "compact", path)
	if code != 0 || !strings.Contains(out, "compacted") {
		t.Fatalf("compact: %d %s%s", code, out, errOut)
	}
	var before, after float64
	var bu, au string
	if _, err := fmt.Sscanf(out[strings.Index(out, ": ")+2:], "%f %s -> %f %s", &before, &bu, &after, &au); err != nil {
		t.Fatalf("compact output %q: %v", out, err)
	}
	if fi, _ := os.Stat(path); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("compacted file: %v", fi)
	}
	if out, _, code := runCmd(t, "check", path); code != 0 {
		t.Fatalf("check after compact:\n%s", out)
	}
	if info := liveInfo(t, path); info.Entries != 1 || info.Namespaces[1].Name != "square" {
		t.Fatalf("after compact: %+v", info)
	}
	if bu == au && after >= before {
		t.Fatalf("compact did not shrink the file: %s", out)
	}
}

func TestNewerFormat(t *testing.T) {
	path := makeStore(t, 1)
	damage(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("memostore")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, boltstore.FormatVersion+1))
	})
	want := fmt.Sprintf("format version %d, newer than this library's %d", boltstore.FormatVersion+1, boltstore.FormatVersion)
	for _, cmd := range []string{"info", "clear", "check", "keys --namespace double", "sweep"} {
		args := append(strings.Fields(cmd), path)
		if _, errOut, code := runCmd(t, args...); code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%s on a newer store: exit %d, %q", cmd, code, errOut)
		}
	}
}

// BenchmarkInfo times memoctl info on stores of 10,000 and 1,000,000
// entries, offline (memoctl opens the file) and live (a process holds the
// store and answers on its control endpoint): info reads counters, so its
// time does not grow with the entries.
func BenchmarkInfo(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		path := bigStore(b, n)
		b.Run(fmt.Sprintf("offline/entries=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, errOut, code := runCmd(b, "info", "--json", path); code != 0 {
					b.Fatal(errOut)
				}
			}
		})
		b.Run(fmt.Sprintf("live/entries=%d", n), func(b *testing.B) {
			s, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				out, errOut, code := runCmd(b, "info", "--json", path)
				if code != 0 || !strings.Contains(out, `"live": true`) {
					b.Fatal(out, errOut)
				}
			}
		})
	}
}

// bigStore builds a store of n entries in b's temporary directory.
func bigStore(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.db")
	s, err := store.Open(path, store.WithQueueBytes(256<<20))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ns, err := s.Namespace(ctx, "big", store.NamespaceSpec{KeyType: "int", ValueType: "int"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixNano()
	for i := range n {
		k := codec.AppendInt(nil, int64(i))
		if err := ns.Put(ctx, k, codec.NewRecord(k, now, 0, codec.AppendInt(nil, 42))); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	out, errOut, code := runCmd(b, "info", "--json", path)
	var info infoJSON
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Entries != int64(n) {
		b.Fatalf("built store: exit %d, %s %s", code, out, errOut)
	}
	return path
}

// TestKeysNonFiniteFloats lists float keys that JSON has no number for,
// through the holder and offline: each is printed, as the string "NaN",
// "+Inf" or "-Inf" with its bytes in hex, and no key stops the listing.
func TestKeysNonFiniteFloats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	f, err := memo.New(s, "f", func(_ context.Context, x float64) (int, error) { return 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.5} {
		f.Call(context.Background(), x)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[any]bool{"NaN": true, "+Inf": true, "-Inf": true, 1.5: true}
	for _, how := range []string{"live", "offline"} {
		if how == "offline" {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		out, errOut, code := runCmd(t, "keys", "--namespace", "f", path)
		if code != 0 {
			t.Fatalf("%s: keys: exit %d: %s%s", how, code, out, errOut)
		}
		got := map[any]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var k store.KeyInfo
			if err := json.Unmarshal([]byte(line), &k); err != nil {
				t.Fatalf("%s: line %q: %v", how, line, err)
			}
			if ks, ok := k.Key.(string); ok && k.RawKey == "" {
				t.Errorf("%s: key %q is given without its bytes: it reads as a string key", how, ks)
			}
			got[k.Key] = true
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: keys %v, want %v\n%s", how, got, want, out)
		}
	}
}

// TestKeysUndecodable lists a key whose bytes are not msgpack, through the
// holder and offline: it is printed with its bytes and why it does not
// decode, and the listing goes on.
func TestKeysUndecodable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, err := s.Namespace(ctx, "raw", store.NamespaceSpec{Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][]byte{{0xc1}, codec.AppendString(nil, "fine")} {
		if err := ns.Put(ctx, k, codec.NewRecord(k, 1, 0, codec.AppendString(nil, "v"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"live", "offline"} {
		if how == "offline" {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		out, errOut, code := runCmd(t, "keys", "--namespace", "raw", path)
		if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"raw":"c1"`) || !strings.Contains(out, `"key":"fine"`) {
			t.Fatalf("%s: keys: exit %d:\n%s%s", how, code, out, errOut)
		}
	}
}

// TestDamagedKey flips one bit of a stored key in the file, as a bad disk
// might: the record of "user-alice" then sits under "user-alicd". A Call
// for the damaged key must run the function, not answer with alice's
// value, and check --fix must delete the record rather than index it.
func TestDamagedKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fn := func(_ context.Context, k string) (string, error) { return "value of " + k, nil }
	user, err := memo.New(s, "user", fn)
	if err != nil {
		t.Fatal(err)
	}
	user.Call(ctx, "user-alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	alice := codec.AppendString(nil, "user-alice")
	damaged := bytes.Clone(alice)
	damaged[len(damaged)-1] ^= 0x01 // "user-alicd"
	damage(t, path, func(tx *bolt.Tx) error {
		d := tx.Bucket([]byte("d/user"))
		rec := bytes.Clone(d.Get(alice))
		if err := d.Delete(alice); err != nil {
			return err
		}
		return d.Put(damaged, rec)
	})
	fixPath := filepath.Join(dir, "fix.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixPath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	s, err = store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	user, err = memo.New(s, "user", fn)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := user.Call(ctx, "user-alicd"); err != nil || v != "value of user-alicd" {
		t.Errorf("Call(user-alicd) = %q, %v; want the function's value", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCmd(t, "check", "--fix", fixPath)
	if want := "fixed: namespace \"user\": deleted d/" + hex.EncodeToString(damaged); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("check --fix: exit %d, want %q:\n%s%s", code, want, out, errOut)
	}
	if out, _, code := runCmd(t, "check", fixPath); code != 0 || !strings.Contains(out, "ok: 0 records") {
		t.Fatalf("check after --fix: exit %d\n%s", code, out)
	}
}

// TestInfoFreshness: the refreshes, stale returns and cached errors of a
// namespace are persisted and shown by info, in the table (with their
// columns, which appear only when a namespace counted some) and in JSON.
func TestInfoFreshness(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := memo.New(s, "fresh", func(_ context.Context, x int) (int, error) {
		if x < 0 {
			return 0, fmt.Errorf("negative %d", x)
		}
		return x, nil
	}, memo.ErrorTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.Call(ctx, -1) // one run, then two cached errors
	}
	for range 4 {
		if _, err := f.Refresh(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var in struct {
		Namespaces []struct {
			Refreshes    int64 `json:"refreshes"`
			StaleReturns int64 `json:"stale_returns"`
			CachedErrors int64 `json:"cached_errors"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil || len(in.Namespaces) != 1 {
		t.Fatalf("info --json: %q (%v)", out, err)
	}
	if ns := in.Namespaces[0]; ns.Refreshes != 4 || ns.CachedErrors != 2 || ns.StaleReturns != 0 {
		t.Errorf("info --json: refreshes %d, cached errors %d, stale %d; want 4, 2, 0", ns.Refreshes, ns.CachedErrors, ns.StaleReturns)
	}
	out, _, _ = runCmd(t, "info", path)
	if !strings.Contains(out, "REFRESHES") || !strings.Contains(out, "ERRORS CACHED") {
		t.Errorf("info table without the freshness columns:\n%s", out)
	}
	if plain, _, _ := runCmd(t, "info", makeStore(t, 2)); strings.Contains(plain, "REFRESHES") {
		t.Errorf("info of a store without freshness counts shows their columns:\n%s", plain)
	}
}

// TestInfoStaleAndSaved: info counts the entries kept past their TTL for
// StaleWhileRevalidate apart, and shows the computation time the hits
// saved.
func TestInfoStaleAndSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.db")
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := memo.New(s, "slow", func(_ context.Context, x int) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return x, nil
	}, memo.TTL(300*time.Millisecond), memo.StaleWhileRevalidate(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		f.Call(ctx, k)
		f.Call(ctx, k) // a hit: at least 20 ms saved
	}
	saved := f.Info().Saved
	if saved < 60*time.Millisecond {
		t.Fatalf("Info.Saved = %v, want at least 60ms", saved)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond) // past the TTL: all three are stale
	out, errOut, code := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var in struct {
		Namespaces []struct {
			Stale   int64 `json:"stale"`
			SavedNs int64 `json:"saved_ns"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil || len(in.Namespaces) != 1 {
		t.Fatalf("info --json: %q (%v)", out, err)
	}
	if ns := in.Namespaces[0]; ns.Stale != 3 || time.Duration(ns.SavedNs) != saved {
		t.Errorf("info --json: stale %d, saved %v; want 3, %v", ns.Stale, time.Duration(ns.SavedNs), saved)
	}
	out, _, _ = runCmd(t, "info", path)
	if !strings.Contains(out, "SAVED") || !strings.Contains(out, "STALE") || !strings.Contains(out, humanDuration(saved)) {
		t.Errorf("info table without the stale count or the time saved (%s):\n%s", humanDuration(saved), out)
	}
}
