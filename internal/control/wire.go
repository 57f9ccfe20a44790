package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/memostore/memostore/codec"
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
	// ns is the namespace name of the last frame read: the next frame,
	// about the same namespace most often, reuses the string.
	ns string

	wmu      sync.Mutex
	out      []byte                     // the frames being written, and those waiting (see sendLater)
	waiting  int                        // frames in out that sendLater left for later
	deadline time.Time                  // the write deadline set
	later    atomic.Pointer[time.Timer] // writes what waits after laterDelay

	cmu      sync.Mutex
	closed   bool // close was called
	blocking bool // the socket blocks (see block)
}

func newWire(c net.Conn) *wire {
	return &wire{c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// send writes m as one frame.
func (w *wire) send(m *Msg) error {
	return w.sendAll([]*Msg{m})
}

// sendAll writes ms, in one write: replies that became ready together
// (the puts of one commit) cost the peer one wake-up, not one each.
// Frames that wait (see sendLater) go first, in the same write.
func (w *wire) sendAll(ms []*Msg) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.appendLocked(ms); err != nil {
		return err
	}
	return w.writeLocked()
}

// Frames written later. A follower's puts are sent without waiting for
// an answer, one at a time as its calls end, and each cost a write(2)
// here and a wake-up and a read at the holder: a third of a follower's
// miss-and-store was the put's write. sendLater leaves a frame in the
// buffer, to go with the next frame written on the connection (whatever
// it is), or after laterDelay, or once maxLater wait: one write then
// carries the puts of several calls. Frames keep their order: a
// follower's acknowledgement of an invalidation goes after the puts
// sent before it (the stale-put rule needs that), a request about a key
// after its put.

// laterDelay bounds how long a frame waits to share a write; a put is
// committed (fsynced) by the holder within milliseconds at best, so its
// acknowledgement comes barely later. A variable for the tests.
var laterDelay = 100 * time.Microsecond

// maxLater and maxLaterBytes bound what waits: more is written at once.
const (
	maxLater      = 64
	maxLaterBytes = 64 << 10
)

// sendLater queues m's frame, to be written with the next frame sent,
// or within laterDelay.
func (w *wire) sendLater(m *Msg) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.appendLocked([]*Msg{m}); err != nil {
		return err
	}
	w.waiting++
	if w.waiting >= maxLater || len(w.out) >= maxLaterBytes {
		return w.writeLocked()
	}
	if w.waiting == 1 {
		if t := w.later.Load(); t != nil {
			t.Reset(laterDelay)
		} else {
			w.later.Store(time.AfterFunc(laterDelay, w.flushLater))
		}
	}
	return nil
}

// flushLater writes the frames that wait; it runs on the timer.
func (w *wire) flushLater() {
	w.wmu.Lock()
	var err error
	if w.waiting > 0 {
		err = w.writeLocked()
	}
	w.wmu.Unlock()
	if err != nil {
		w.close() // the reader ends, and fails what waited for answers
	}
}

// appendLocked appends the frames of ms to w.out. w.wmu must be held.
func (w *wire) appendLocked(ms []*Msg) error {
	b := w.out
	for _, m := range ms {
		n := len(b)
		b = appendFrame(b, m)
		if len(b)-n-4 > maxFrame {
			w.out = b[:n]
			return fmt.Errorf("control: frame of %d bytes is too large", len(b)-n-4)
		}
	}
	w.out = b
	return nil
}

// writeLocked writes w.out. w.wmu must be held.
func (w *wire) writeLocked() error {
	if w.waiting > 0 {
		w.waiting = 0
		if t := w.later.Load(); t != nil {
			t.Stop()
		}
	}
	// The deadline is moved when less than half of writeTimeout is left,
	// not at every frame: setting it costs a timer's update in the
	// runtime. A write may fail after half of writeTimeout, then.
	if now := time.Now(); now.Add(writeTimeout / 2).After(w.deadline) {
		w.deadline = now.Add(writeTimeout)
		w.c.SetWriteDeadline(w.deadline)
	}
	b := w.out
	_, err := w.c.Write(b)
	if cap(b) > 1<<20 {
		b = nil // let a large frame's buffer go
	}
	w.out = b[:0]
	return err
}

// flush writes the frames that wait, if any.
func (w *wire) flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.waiting == 0 {
		return nil
	}
	return w.writeLocked()
}

// recv reads the next frame. Its byte slices are its own.
func (w *wire) recv() (*Msg, error) {
	body, err := w.readFrame()
	if err != nil {
		return nil, err
	}
	m := new(Msg)
	if err := m.decode(body, &w.ns); err != nil {
		return nil, err
	}
	return m, nil
}

// recvHello reads a connection's first frame, a hello. A hello of another
// protocol version may carry other fields than this version's: if it does
// not decode, its first six (ID, Op, NS, Key, Rec and N, the version) are
// read, so that the holder can answer with the versions. A frame that is
// not a hello of another version is errFrame.
func (w *wire) recvHello() (*Msg, error) {
	body, err := w.readFrame()
	if err != nil {
		return nil, err
	}
	m := new(Msg)
	if err := m.decode(body, &w.ns); err == nil {
		return m, nil
	}
	d := decoder{b: body}
	if d.fields() < 6 {
		return nil, errFrame
	}
	m = &Msg{ID: d.uint(), Op: Op(d.uint())}
	d.bytes()
	d.bytes()
	d.bytes()
	m.N = d.int()
	if d.bad || m.Op != OpHello || m.N == Version {
		return nil, errFrame
	}
	return m, nil
}

// bodyChunk is the part of a frame's body read at once: a larger body is
// grown as its bytes arrive, not allocated at the length its header
// declares, so that a peer that declares maxFrame bytes and stalls holds no
// more of the holder's memory than it sent.
const bodyChunk = 64 << 10

// readFrame reads the next frame's body.
func (w *wire) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > maxFrame {
		return nil, errFrame
	}
	if n <= bodyChunk {
		body := make([]byte, n)
		if _, err := io.ReadFull(w.r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	var buf bytes.Buffer
	buf.Grow(bodyChunk)
	if _, err := io.CopyN(&buf, w.r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// close closes the connection. A socket that blocks is shut down first:
// that ends a read blocked in the kernel, which Close alone would wait
// for.
func (w *wire) close() error {
	if t := w.later.Load(); t != nil {
		t.Stop()
	}
	w.cmu.Lock()
	w.closed = true
	if w.blocking {
		shutdownConn(w.c)
	}
	w.cmu.Unlock()
	return w.c.Close()
}

// block makes the socket block (see blockConn), unless the wire is
// closed; the caller must be its reader, between reads.
func (w *wire) block() error {
	w.cmu.Lock()
	defer w.cmu.Unlock()
	if w.closed {
		return net.ErrClosed
	}
	if err := blockConn(w.c); err != nil {
		return err
	}
	w.blocking = true
	return nil
}

// The frames are encoded and decoded by hand, not by msgpack's reflection:
// a follower's hit is one frame each way, and reflection (a decoder, a
// struct walk, an allocation per field) cost more than the rest of the
// exchange outside the kernel. The encoding is still msgpack's (an
// array of Msg's fields in order, in the shortest forms), so that any
// msgpack implementation reads it; the decoder reads every form of the
// types it expects and hands anything else to msgpack.

// msgFields is the number of Msg's fields on the wire.
const msgFields = 11

// appendFrame appends m's frame, its length and its body, to b.
func appendFrame(b []byte, m *Msg) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0x90|msgFields)
	b = appendUint(b, m.ID)
	b = appendUint(b, uint64(m.Op))
	b = appendStr(b, m.NS)
	b = appendBin(b, m.Key)
	b = appendBin(b, m.Rec)
	b = appendInt(b, m.N)
	if m.Flag {
		b = append(b, 0xc3)
	} else {
		b = append(b, 0xc2)
	}
	b = appendStr(b, m.Err)
	b = appendStr(b, m.Code)
	b = appendBin(b, m.Data)
	b = appendInt(b, m.Now)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0xcc, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// appendBin appends p as msgpack bin; nil as nil, so that it reads back
// nil (a push's nil key means the whole namespace).
func appendBin(b []byte, p []byte) []byte {
	switch n := len(p); {
	case p == nil:
		return append(b, 0xc0)
	case n <= 0xff:
		b = append(b, 0xc4, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

// decode reads m from body, a frame's body, which m's byte slices then
// share. ns is the string of the last namespace decoded, reused if it is
// the same.
func (m *Msg) decode(body []byte, ns *string) error {
	d := decoder{b: body}
	if d.fields() == msgFields {
		m.ID = d.uint()
		m.Op = Op(d.uint())
		if p := d.bytes(); string(p) == *ns {
			m.NS = *ns
		} else {
			m.NS = string(p)
			*ns = m.NS
		}
		m.Key = d.bytes()
		m.Rec = d.bytes()
		m.N = d.int()
		m.Flag = d.bool()
		m.Err = string(d.bytes())
		m.Code = string(d.bytes())
		m.Data = d.bytes()
		m.Now = d.int()
	}
	if d.bad || d.i != len(body) {
		// Not in the forms above: msgpack reads it, or rejects it. It
		// trusts declared lengths, so the frame is validated first: a
		// frame of 40 bytes made it allocate 3.7 GB.
		*m = Msg{}
		if codec.Validate(body) != nil || msgpack.Unmarshal(body, m) != nil {
			return errFrame
		}
	}
	if m.Op == 0 || m.Op >= opLast {
		return errFrame
	}
	return nil
}

// A decoder reads msgpack values from b; the first it cannot read sets
// bad, and every read after it returns a zero value.
type decoder struct {
	b   []byte
	i   int
	bad bool
}

// next returns the next n bytes.
func (d *decoder) next(n int) []byte {
	if d.bad || n < 0 || len(d.b)-d.i < n {
		d.bad = true
		return nil
	}
	p := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	return p
}

func (d *decoder) byte() byte {
	if p := d.next(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) fields() int {
	switch c := d.byte(); {
	case c&0xf0 == 0x90:
		return int(c & 0x0f)
	case c == 0xdc:
		if p := d.next(2); p != nil {
			return int(binary.BigEndian.Uint16(p))
		}
		return 0
	}
	d.bad = true
	return 0
}

// num reads an integer of any form: its bits, and whether it is
// negative.
func (d *decoder) num() (uint64, bool) {
	c := d.byte()
	switch {
	case c <= 0x7f:
		return uint64(c), false
	case c >= 0xe0: // negative fixint
		return uint64(int64(int8(c))), true
	}
	var n int
	switch c {
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xce, 0xd2:
		n = 4
	case 0xcf, 0xd3:
		n = 8
	default:
		d.bad = true
		return 0, false
	}
	var u uint64
	for _, x := range d.next(n) {
		u = u<<8 | uint64(x)
	}
	if c >= 0xd0 { // signed: extend the sign
		shift := 64 - 8*n
		v := int64(u<<shift) >> shift
		return uint64(v), v < 0
	}
	return u, false
}

func (d *decoder) int() int64 {
	v, _ := d.num()
	return int64(v)
}

func (d *decoder) uint() uint64 {
	v, neg := d.num()
	if neg {
		d.bad = true // a negative number where an unsigned one belongs
	}
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0xc2:
		return false
	case 0xc3:
		return true
	}
	d.bad = true
	return false
}

// bytes reads a bin or a str: nil for msgpack's nil.
func (d *decoder) bytes() []byte {
	c := d.byte()
	var n int
	switch {
	case c == 0xc0:
		return nil
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xc4 || c == 0xd9:
		n = int(d.byte())
	case c == 0xc5 || c == 0xda:
		if p := d.next(2); p != nil {
			n = int(binary.BigEndian.Uint16(p))
		}
	case c == 0xc6 || c == 0xdb:
		if p := d.next(4); p != nil {
			n = int(binary.BigEndian.Uint32(p))
		}
	default:
		d.bad = true
		return nil
	}
	return d.next(n)
}
