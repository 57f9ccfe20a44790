package boltstore

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// TestOpenErrors checks what a failed Open says: one "store: open PATH: "
// prefix and the path once, whatever failed below it, with the sentinel
// still matching; and that a path that cannot be a store file makes
// nothing beside it.
func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares dir (the test's working directory) and returns
		// the path to open.
		setup     func(t *testing.T, dir string) string
		opts      []Option
		want      error  // a sentinel the error must match, if any
		wantText  string // a phrase the error must hold
		noNewFile bool   // Open must create nothing in dir
	}{
		{
			name:      "empty path",
			setup:     func(t *testing.T, dir string) string { return "" },
			wantText:  "empty path",
			noNewFile: true,
		},
		{
			name:      "empty path read-only",
			setup:     func(t *testing.T, dir string) string { return "" },
			opts:      []Option{WithReadOnly()},
			wantText:  "empty path",
			noNewFile: true,
		},
		{
			name:      "directory",
			setup:     mkdir,
			wantText:  "is a directory",
			noNewFile: true,
		},
		{
			name:      "directory read-only",
			setup:     mkdir,
			opts:      []Option{WithReadOnly()},
			wantText:  "is a directory",
			noNewFile: true,
		},
		{
			name:      "directory with recover",
			setup:     mkdir,
			opts:      []Option{WithRecover()},
			wantText:  "is a directory",
			noNewFile: true,
		},
		{
			name: "garbage",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "cache.db")
				writeFile(t, path, []byte(strings.Repeat("not a database\n", 1000)))
				return path
			},
			want:      driver.ErrCorrupt,
			wantText:  "not a bbolt file",
			noNewFile: true,
		},
		{
			name: "empty file",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "cache.db")
				writeFile(t, path, nil)
				return path
			},
			want:      driver.ErrCorrupt,
			wantText:  "empty",
			noNewFile: true,
		},
		{
			name: "bbolt file of another program",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "cache.db")
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket([]byte("widgets"))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				return path
			},
			opts:     []Option{WithReadOnly()},
			want:     driver.ErrCorrupt,
			wantText: "not a memostore store",
		},
		{
			name: "newer format",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "cache.db")
				closeStore(t, openStore(t, path))
				updateBolt(t, path, func(tx *bolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
				})
				return path
			},
			wantText: "newer",
		},
		{
			name: "locked",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "cache.db")
				openStore(t, path, WithoutControl())
				return path
			},
			opts:     []Option{WithLockTimeout(50 * time.Millisecond)},
			want:     driver.ErrLocked,
			wantText: "locked",
		},
		{
			name:      "missing file read-only",
			setup:     func(t *testing.T, dir string) string { return filepath.Join(dir, "cache.db") },
			opts:      []Option{WithReadOnly()},
			want:      os.ErrNotExist,
			wantText:  "no such file",
			noNewFile: true,
		},
		{
			name:      "missing directory",
			setup:     func(t *testing.T, dir string) string { return filepath.Join(dir, "gone", "cache.db") },
			want:      os.ErrNotExist,
			wantText:  "no such file",
			noNewFile: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir) // an empty path must not make files here either
			path := tt.setup(t, dir)
			before := listDir(t, dir)
			s, err := openWith(path, append([]Option{quiet(), WithLockTimeout(100 * time.Millisecond)}, tt.opts...)...)
			if err == nil {
				s.Close()
				t.Fatalf("openWith(%q) succeeded", path)
			}
			msg := err.Error()
			t.Log(msg)
			prefix := "store: open " + path + ": "
			if path == "" {
				prefix = "store: open: "
			}
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("err = %q, want it to start with %q", msg, prefix)
			}
			// The package prefix once: not again after the first, as a
			// wrapped sentinel's own "store: " would be.
			if rest := strings.TrimPrefix(msg, prefix); strings.HasPrefix(rest, "store: ") || strings.Contains(rest, ": store: ") {
				t.Errorf("err = %q repeats the \"store: \" prefix", msg)
			}
			if n := strings.Count(msg, path); path != "" && n != 1 {
				t.Errorf("err = %q names the path %d times, want once", msg, n)
			}
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("err = %q, want it to say %q", msg, tt.wantText)
			}
			for _, sentinel := range []error{driver.ErrCorrupt, driver.ErrLocked, driver.ErrClosed, driver.ErrUnavailable, driver.ErrUnsupported, os.ErrNotExist} {
				if got, want := errors.Is(err, sentinel), sentinel == tt.want; got != want {
					t.Errorf("errors.Is(%q, %v) = %v, want %v", msg, sentinel, got, want)
				}
			}
			if after := listDir(t, dir); tt.noNewFile && !slices.Equal(after, before) {
				t.Errorf("Open made files: directory held %q, now %q", before, after)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) string {
	path := filepath.Join(dir, "cache.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// listDir returns the names of everything under dir, recursively.
func listDir(tb testing.TB, dir string) []string {
	tb.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return names
}
