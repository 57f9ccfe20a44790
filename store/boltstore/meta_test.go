package boltstore

import (
	"encoding/binary"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOpenStoreWithDamagedFirstMeta: a store whose first meta page is
// damaged (a torn write) and whose second is intact is a store bbolt
// opens, from its second meta page, whatever the page size it was made
// with (another machine's: 16 KiB on Apple silicon, 64 KiB on some arm64
// Linux). checkFile looks for the second meta page at this machine's page
// size only, takes the file for "not a bbolt file" and refuses it with
// ErrCorrupt (and WithRecover would move the good store aside).
func TestOpenStoreWithDamagedFirstMeta(t *testing.T) {
	path := tempPath(t)
	pageSize := 4 * os.Getpagesize() // not this machine's
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketNamespaces, bucketCounters} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	ns := openNS(t, s, "n")
	put(t, ns, "k", record("k", 1, 0, "v"))
	flush(t, s)
	put(t, ns, "k2", record("k2", 1, 0, "v")) // a later commit: either meta page has "k"
	closeStore(t, s)

	// Damage meta page 0 (its root bucket field): its checksum fails.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, boltPageHeader+16); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// bbolt itself opens it, from meta page 1.
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("bbolt cannot open the file either (%v): the test's premise is wrong", err)
	}
	db.Close()

	s, err = openWith(path, quiet())
	if err != nil {
		t.Fatalf("Open of a store bbolt opens: %v", err)
	}
	defer s.Close()
	wantValue(t, openNS(t, s, "n"), "k", "v")
}
