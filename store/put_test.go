package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/memostore/memostore/codec"
	"github.com/memostore/memostore/internal/mtesting"
	"github.com/memostore/memostore/store"
)

func tempPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "cache.db") }

// openFile opens the store file at path, closed when tb ends.
func openFile(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.Open(path, store.WithLogger(nil))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestPutRefused: store checks records and keys before a backend sees
// them, and counts what it refuses.
func TestPutRefused(t *testing.T) {
	good := mtesting.Record("after", 1, 0, "v")
	badVersion := mtesting.Record("k", 1, 0, "v")
	badVersion[0] = codec.RecordVersion + 1
	tests := []struct {
		name     string
		key, rec []byte
	}{
		{"empty key", []byte{}, good},
		{"nil key", nil, good},
		{"key too long", make([]byte, bolt.MaxKeySize), good},
		{"not a record", mtesting.Key("k"), []byte("junk")},
		{"nil record", mtesting.Key("k"), nil},
		{"record of another version", mtesting.Key("k"), badVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			s := openFile(t, path)
			ns := mtesting.OpenNS(t, s, "n")
			if err := ns.Put(context.Background(), tt.key, tt.rec); err == nil {
				t.Fatal("Put succeeded")
			} else if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("err = %q, want the store: prefix", err)
			}
			// The store still works, and commits do not fail.
			mtesting.Put(t, ns, "after", good)
			mtesting.Flush(t, s)
			mtesting.WantValue(t, ns, "after", "v")
			if st := mtesting.NSStats(t, s, "n"); st.Entries != 1 || st.WriteErrors != 1 {
				t.Errorf("stats = %+v, want 1 entry and 1 write error", st)
			}
			mtesting.CloseStore(t, s)
		})
	}
	t.Run("longest key", func(t *testing.T) {
		s := openFile(t, tempPath(t))
		ns := mtesting.OpenNS(t, s, "n")
		k := make([]byte, bolt.MaxKeySize-8)
		if err := ns.Put(context.Background(), k, codec.NewRecord(k, 1, 0, codec.AppendString(nil, "v"))); err != nil {
			t.Fatalf("Put of a %d-byte key: %v", len(k), err)
		}
		mtesting.Flush(t, s)
		if st := s.Stats(); st.Entries != 1 {
			t.Errorf("Entries = %d, want 1", st.Entries)
		}
	})
	t.Run("record too large", func(t *testing.T) {
		s := openFile(t, tempPath(t))
		ns := mtesting.OpenNS(t, s, "n")
		err := ns.Put(context.Background(), mtesting.Key("k"), make([]byte, store.MaxRecordBytes+1))
		if err == nil || !strings.Contains(err.Error(), "MaxRecordBytes") {
			t.Errorf("Put of an oversized record = %v", err)
		}
		if st := mtesting.NSStats(t, s, "n"); st.WriteErrors != 1 || st.Entries != 0 {
			t.Errorf("stats = %+v, want 1 write error", st)
		}
	})
}
