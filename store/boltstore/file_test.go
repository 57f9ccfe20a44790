package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// openLocked opens path, which another Store holds, with a short lock
// timeout, and checks that it fails with ErrLocked without waiting long.
func openLocked(tb testing.TB, path string, opts ...Option) {
	tb.Helper()
	start := time.Now()
	s, err := openWith(path, append([]Option{quiet(), WithLockTimeout(100 * time.Millisecond)}, opts...)...)
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		tb.Fatalf("second Open of %s succeeded", path)
	}
	if !errors.Is(err, driver.ErrLocked) {
		tb.Fatalf("second Open: err = %v, want driver.ErrLocked", err)
	}
	if errors.Is(err, driver.ErrCorrupt) {
		tb.Errorf("second Open: err = %v also matches driver.ErrCorrupt", err)
	}
	// bbolt polls the lock every 50ms and gives up when less than one
	// poll is left, so the wait is the timeout less up to 50ms.
	if elapsed < 40*time.Millisecond {
		tb.Errorf("second Open failed after %v: it did not wait for the lock", elapsed)
	}
	if elapsed > 2*time.Second {
		tb.Errorf("second Open took %v to fail with a 100ms lock timeout", elapsed)
	}
}

func TestOpenLocked(t *testing.T) {
	tests := []struct {
		name         string
		first, again []Option
	}{
		{"writer then writer", nil, nil},
		{"writer then reader", nil, []Option{WithReadOnly()}},
		{"reader then writer", []Option{WithReadOnly()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			closeStore(t, openStore(t, path)) // make the file
			s := openStore(t, path, tt.first...)
			openLocked(t, path, tt.again...)
			// The holder is unharmed, and once it lets go the file opens.
			if st := s.stats(); st.FormatVersion != FormatVersion {
				t.Errorf("holder's driver.Stats = %+v", st)
			}
			closeStore(t, s)
			closeStore(t, openStore(t, path, tt.again...))
		})
	}
}

// wantCorrupt opens path, which is not a valid store, and checks that Open
// fails with ErrCorrupt and leaves the file exactly as it was.
func wantCorrupt(tb testing.TB, path string, opts ...Option) error {
	tb.Helper()
	before := snapshot(tb, path)
	names := dirNames(tb, path)
	s, err := openWith(path, append([]Option{quiet(), WithLockTimeout(100 * time.Millisecond)}, opts...)...)
	if err == nil {
		s.Close()
		tb.Fatalf("Open of a bad file succeeded")
	}
	if !errors.Is(err, driver.ErrCorrupt) {
		tb.Errorf("Open: err = %v, want driver.ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), path) {
		tb.Errorf("Open: err = %q does not name the file", err)
	}
	wantUnchanged(tb, path, before)
	// Nothing is made beside it but, at most, the lock file, which
	// stays by design.
	if got := dirNames(tb, path); !slices.Equal(got, names) {
		if !slices.Contains(names, filepath.Base(LockPath(path))) {
			names = append(names, filepath.Base(LockPath(path)))
			slices.Sort(names)
		}
		if !slices.Equal(got, names) {
			tb.Errorf("directory holds %q after a failed Open, want %q", got, names)
		}
	}
	return err
}

func TestOpenCorrupt(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			writeFile(t, path, b)
		}},
		{"empty", func(t *testing.T, path string) { writeFile(t, path, nil) }},
		{"short", func(t *testing.T, path string) { writeFile(t, path, []byte("memostore")) }},
		{"text", func(t *testing.T, path string) {
			writeFile(t, path, []byte(strings.Repeat("not a database\n", 1000)))
		}},
		{"truncated store", func(t *testing.T, path string) {
			s := openStore(t, path)
			ns := openNS(t, s, "n")
			for i := range 2000 {
				put(t, ns, fmt.Sprint(i), record(fmt.Sprint(i), int64(i+1), 0, strings.Repeat("x", 100)))
			}
			closeStore(t, s)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to its meta pages", func(t *testing.T, path string) {
			closeStore(t, openStore(t, path))
			if err := os.Truncate(path, 2*int64(os.Getpagesize())); err != nil {
				t.Fatal(err)
			}
		}},
		{"bbolt file of another program", func(t *testing.T, path string) { foreignBolt(t, path, nil) }},
		// bbolt, opening to write a file whose freelist is not synced (as
		// etcd writes its files), writes one at once: refused before that.
		{"bbolt file of another program, freelist not synced", func(t *testing.T, path string) {
			foreignBolt(t, path, &bolt.Options{NoFreelistSync: true})
		}},
		{"store without a format", func(t *testing.T, path string) {
			closeStore(t, openStore(t, path))
			updateBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Delete(keyFormat)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			tt.make(t, path)
			setOldMtime(t, path)
			wantCorrupt(t, path)
			wantCorrupt(t, path, WithReadOnly())
		})
	}
}

// TestOpenNewerFormat opens a store written by a newer version of this
// package: the error names both versions and the file is not touched.
func TestOpenNewerFormat(t *testing.T) {
	path := tempPath(t)
	s := openStore(t, path)
	put(t, openNS(t, s, "n"), "k", record("k", 1, 0, "v"))
	closeStore(t, s)
	updateBolt(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
	})
	setOldMtime(t, path)
	for _, opts := range [][]Option{nil, {WithReadOnly()}} {
		before := snapshot(t, path)
		s, err := openWith(path, append(opts, quiet())...)
		if err == nil {
			s.Close()
			t.Fatal("Open of a newer format succeeded")
		}
		msg := strings.ReplaceAll(err.Error(), path, "PATH")
		for _, v := range []int{FormatVersion + 1, FormatVersion} {
			if !regexp.MustCompile(fmt.Sprintf(`\b%d\b`, v)).MatchString(msg) {
				t.Errorf("err = %q does not name version %d", msg, v)
			}
		}
		if !strings.Contains(msg, "PATH") {
			t.Errorf("err = %q does not name the file", msg)
		}
		if errors.Is(err, driver.ErrCorrupt) {
			t.Errorf("err = %v: a newer store is not corrupt", err)
		}
		if errors.Is(err, driver.ErrLocked) || errors.Is(err, driver.ErrClosed) {
			t.Errorf("err = %v matches the wrong sentinel", err)
		}
		wantUnchanged(t, path, before)
	}
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// setOldMtime sets path's modification time an hour back, so that any
// write by Open shows, even on file systems with coarse timestamps.
// foreignBolt writes a bbolt file of another program at path, opened
// with o.
func foreignBolt(t *testing.T, path string, o *bolt.Options) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, o)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func setOldMtime(tb testing.TB, path string) {
	tb.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		tb.Fatal(err)
	}
}

// updateBolt changes a closed store file directly through bbolt.
func updateBolt(tb testing.TB, path string, fn func(*bolt.Tx) error) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

func TestWithRecoverMovesCorruptFileAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	garbage := bytes.Repeat([]byte("garbage!"), 4096)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := openWith(path, WithRecover(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("Open WithRecover: %v", err)
	}
	defer s.Close()
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("corrupt files beside the store: %v", matches)
	}
	if got, _ := os.ReadFile(matches[0]); !bytes.Equal(got, garbage) {
		t.Fatal("the corrupt file was changed when moved aside")
	}
	if !strings.Contains(logs.String(), matches[0]) {
		t.Fatalf("log does not say where the file went:\n%s", logs.String())
	}
	if st := s.stats(); st.Entries != 0 {
		t.Fatalf("fresh store has %d entries", st.Entries)
	}
}
