package boltstore

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOpenForeignNoFreelistSyncFileUntouched: a bbolt file of another
// program gives ErrCorrupt and is left byte for byte untouched (README,
// "Bad files"), also one written with NoFreelistSync, as etcd writes its
// own. Open opens every file read-write with bbolt before it checks that
// it is a store; bbolt, opening read-write a file whose freelist is not
// synced, commits a transaction to write one: the foreign file is changed
// before Open refuses it.
func TestOpenForeignNoFreelistSyncFileUntouched(t *testing.T) {
	path := tempPath(t)
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("key"))
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
	setOldMtime(t, path)
	wantCorrupt(t, path)
}
