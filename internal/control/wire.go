package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The protocol of the control socket. A connection carries frames both
// ways: a 4-byte big-endian length, then a Msg encoded as a msgpack array.
// Requests carry an ID that their reply repeats, so that many requests
// share one connection at once; a request with ID 0 gets no reply. The
// holder also sends requests of its own (pushes: OpForget, OpPurge),
// which the other end answers with OpAck and the push's ID.
//
// The connection stays open for as long as its client uses the store: a
// follower's memory misses cost one round trip each, with no connection
// set-up and no per-request headers (a round trip over a Unix socket is
// a few microseconds; HTTP's framing alone was more).

// Version is the protocol's version, exchanged by OpHello. A holder
// refuses clients of another version.
const Version = 1

// Op is what a Msg asks for.
type Op uint8

// The operations. Fields not named are unused.
const (
	OpHello     Op = iota + 1 // N: Version → N: the holder's PID
	OpNamespace               // NS, Data: the spec as JSON; claims the namespace for this connection
	OpLookup                  // NS, Key, Now → Flag: found, Rec
	OpAcquire                 // NS, Key, Now, N: how long to wait (ns) → Flag: found, Rec; or N: a claim token; or neither (still claimed: ask again)
	OpRelease                 // NS, Key, N: token (no reply)
	OpPut                     // NS, Key, Rec, N: token or 0 → reply once committed
	OpDelete                  // NS, Key → reply once every process forgot the key
	OpClear                   // NS ("" = all) → Data: ClearResult as JSON
	OpCounts                  // NS, Data: Counts as JSON (no reply)
	OpStats                   // → Data: driver.Stats as JSON
	OpInspect                 // → Data: driver.Stats as JSON
	OpFlush                   //
	OpSweep                   // → N: entries swept
	OpCheck                   // → Data: driver.CheckReport as JSON
	OpKeys                    // NS, N: limit → replies with Data: []driver.KeyInfo as JSON, Flag: more to come
	OpForget                  // push: NS, Key: forget the key → OpAck
	OpPurge                   // push: NS ("" = all), Flag: cleared → OpAck
	OpAck                     // the answer to a push, with its ID
	OpDrop                    // NS, Key, Rec: a record that does not decode here; delete it if it is still there (no reply)
	OpClaim                   // NS, Key → N: a claim token, or 0 if another process holds the key's claim
	opLast
)

// A Msg is one frame: a request, a reply or a push.
type Msg struct {
	_msgpack struct{} `msgpack:",as_array"` //nolint:unused // msgpack reads the tag

	ID   uint64
	Op   Op
	NS   string
	Key  []byte
	Rec  []byte
	N    int64
	Flag bool
	Err  string // the error's text, in a reply
	Code string // the code of the sentinel the error wraps (see sentinels)
	Data []byte
	Now  int64 // the sender's clock (Unix nanoseconds), by which a lookup judges expiry
}

// err returns the error a reply carries, or nil.
func (m *Msg) err() error {
	if m.Err == "" {
		return nil
	}
	return wireError{Error: m.Err, Code: m.Code}.err()
}

// setErr puts err in the reply m.
func (m *Msg) setErr(err error) {
	if err != nil {
		m.Err, m.Code = err.Error(), codeOf(err)
	}
}

// maxFrame bounds a frame: a record (driver.MaxRecordBytes) with its key
// and framing fits, and so does a batch of KeyInfo.
const maxFrame = 80 << 20

// writeTimeout bounds a frame's write: a peer that stopped reading (a
// stopped process, a full socket buffer) does not hold a writer longer.
const writeTimeout = 2 * time.Second

// errFrame is a frame that does not parse: the connection is dropped.
var errFrame = errors.New("control: malformed frame")

// A wire is one end of a connection: frames in, frames out. Reads are for
// one goroutine; writes are serialized.
type wire struct {
	c net.Conn
	r *bufio.Reader

	wmu sync.Mutex
	w   *bufio.Writer
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newWire(c net.Conn) *wire {
	w := &wire{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
	w.enc = msgpack.NewEncoder(&w.buf)
	return w
}

// send writes m as one frame.
func (w *wire) send(m *Msg) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.buf.Reset()
	w.buf.Write([]byte{0, 0, 0, 0})
	if err := w.enc.Encode(m); err != nil {
		return err
	}
	b := w.buf.Bytes()
	if len(b)-4 > maxFrame {
		return fmt.Errorf("control: frame of %d bytes is too large", len(b)-4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	w.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if w.buf.Cap() > 1<<20 {
		w.buf = bytes.Buffer{} // let a large frame's buffer go
		w.enc.Reset(&w.buf)
	}
	return w.w.Flush()
}

// recv reads the next frame. Its byte slices are its own.
func (w *wire) recv() (*Msg, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, errFrame
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(w.r, body); err != nil {
		return nil, err
	}
	m := new(Msg)
	if err := msgpack.Unmarshal(body, m); err != nil || m.Op == 0 || m.Op >= opLast {
		return nil, errFrame
	}
	return m, nil
}

func (w *wire) close() error { return w.c.Close() }
