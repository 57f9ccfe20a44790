package boltstore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/memostore/memostore/store/driver"

	bolt "go.etcd.io/bbolt"
)

// FormatVersion is the version of the store layout this package reads and
// writes. Open refuses a file with a newer one.
const FormatVersion = 1

// Layout of a store file. Top-level buckets:
//
//	"memostore"   the store's own metadata: "format" → uint32 big-endian;
//	              "policy" → what eviction knew of use, with WithMaxBytes, at
//	              the last Close or the last save while open (once a minute,
//	              if it changed; see keyPolicy in evict.go)
//	"namespaces"  namespace name → msgpack-encoded nsMeta
//	"counters"    namespace name → counters (see counters.go)
//	"d/" + name   the namespace's entries: encoded key → record (codec)
//	"e/" + name   expiry index: expires-at ‖ key → empty (expiry.AppendIndexKey)
//	"a/" + name   age index: stored-at ‖ key → empty, for WithMaxBytes
//	"s/" + name   stale index: stale-at ‖ key → expires-at (uint64 big-endian),
//	              for the entries kept past their TTL (codec.Header.StaleAt);
//	              made by the first such entry, so older files lack it
var (
	bucketMeta       = []byte("memostore")
	bucketNamespaces = []byte("namespaces")
	bucketCounters   = []byte("counters")
	keyFormat        = []byte("format")
)

// errIsDir is checkFile's error for a directory, which is not corrupt
// (WithRecover must not move it aside): it was never a store.
var errIsDir = errors.New("is a directory, not a store file")

// errNotRegular is checkFile's error for a named pipe, a device or a
// socket: no store file, and not corrupt either (WithRecover leaves it
// where it is). Opening a pipe hung, and WithRecover moved a device node
// aside and put a store in its place.
var errNotRegular = errors.New("is not a regular file, so not a store file")

// checkFile reads the meta pages of an existing file and reports, without
// locking or changing the file, whether bbolt can open it safely: it is a
// bbolt file, and it is not shorter than its meta page says. bbolt maps a
// truncated file and then faults (SIGBUS, which no recover catches) on the
// first page past its end, so this check must come before bolt.Open.
func checkFile(path string) error {
	// Stat first: opening a named pipe waits for a writer, for ever.
	fi, err := os.Stat(path)
	if err != nil {
		return bare(err)
	}
	switch {
	case fi.IsDir():
		return errIsDir
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w (%v)", errNotRegular, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return bare(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return bare(err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: the file is empty", driver.ErrCorrupt)
	}
	m, err := readMeta(f)
	if err != nil {
		return fmt.Errorf("%w: %v", driver.ErrCorrupt, err)
	}
	if need := int64(m.pgid) * int64(m.pageSize); fi.Size() < need {
		return fmt.Errorf("%w: truncated: %d bytes, its meta page needs %d", driver.ErrCorrupt, fi.Size(), need)
	}
	if m.freelist == noFreelist {
		// bbolt, opening it to write, would write the freelist at once: a
		// file of another program must be left untouched.
		return fmt.Errorf("%w: a bbolt file written without its freelist, as a store never is: not a memostore store", driver.ErrCorrupt)
	}
	return nil
}

// boltMeta holds the fields of a bbolt meta page that checkFile needs.
type boltMeta struct {
	pageSize uint32
	freelist uint64 // its page; noFreelist if not synced
	pgid     uint64
	txid     uint64
}

// noFreelist is the freelist page of a bbolt file written with
// NoFreelistSync, which a store never is.
const noFreelist = ^uint64(0)

const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltPageHeader  = 16 // id, flags, count, overflow
	boltMetaSumSize = 56 // meta bytes covered by its checksum
)

// readMeta returns the newer of the file's two valid meta pages, reading
// them as bbolt does (native byte order; FNV-64a checksum).
func readMeta(f io.ReaderAt) (boltMeta, error) {
	m0, ok0 := readMetaAt(f, 0)
	var m1 boltMeta
	var ok1 bool
	if ok0 {
		m1, ok1 = readMetaAt(f, int64(m0.pageSize))
	} else {
		// The page size is in the damaged meta page: the second is looked
		// for where bbolt looks, at each page size from 1 KiB to 16 MiB.
		for i := range 15 {
			if m1, ok1 = readMetaAt(f, 1024<<i); ok1 {
				break
			}
		}
	}
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, nil
	case ok0:
		return m0, nil
	}
	return boltMeta{}, errors.New("not a bbolt file (no valid meta page)")
}

func readMetaAt(f io.ReaderAt, off int64) (boltMeta, bool) {
	buf := make([]byte, boltPageHeader+boltMetaSumSize+8)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, false
	}
	m := buf[boltPageHeader:]
	if binary.NativeEndian.Uint32(m[0:]) != boltMagic || binary.NativeEndian.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumSize])
	if h.Sum64() != binary.NativeEndian.Uint64(m[boltMetaSumSize:]) {
		return boltMeta{}, false
	}
	meta := boltMeta{
		pageSize: binary.NativeEndian.Uint32(m[8:]),
		freelist: binary.NativeEndian.Uint64(m[32:]),
		pgid:     binary.NativeEndian.Uint64(m[40:]),
		txid:     binary.NativeEndian.Uint64(m[48:]),
	}
	return meta, meta.pageSize >= 512
}

// create makes a new, initialized store at path without ever leaving an
// empty or half-made file there: it builds the store in a temporary file
// beside path and links it into place. If another process created path
// first, create leaves that file alone and returns nil.
func create(path string) error {
	dir := filepath.Dir(path)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".new-"+hex.EncodeToString(rnd[:]))
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{})
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketNamespaces, bucketCounters} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkFormat verifies, in a read transaction, that the file holds a store
// of a version this package reads.
func checkFormat(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || tx.Bucket(bucketNamespaces) == nil || tx.Bucket(bucketCounters) == nil {
		return fmt.Errorf("%w: a bbolt file but not a memostore store", driver.ErrCorrupt)
	}
	v := meta.Get(keyFormat)
	if len(v) != 4 {
		return fmt.Errorf("%w: no format version", driver.ErrCorrupt)
	}
	if got := binary.BigEndian.Uint32(v); got > FormatVersion {
		return fmt.Errorf("format version %d, newer than this library's %d: upgrade memostore to read it", got, FormatVersion)
	}
	return nil
}

// checkStoreFormat opens path read-only with bbolt and runs checkFormat.
func checkStoreFormat(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: %v", driver.ErrCorrupt, bare(err))
	}
	defer db.Close()
	return db.View(checkFormat)
}
