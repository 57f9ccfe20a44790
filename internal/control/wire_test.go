package control

import (
	"bytes"
	"encoding/binary"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// wireSamples are messages whose fields take every form of the encoding:
// small and large integers of both signs, nil, empty and long byte
// strings, and strings of every length class.
func wireSamples() []*Msg {
	long := bytes.Repeat([]byte("x"), 70000)
	return []*Msg{
		{ID: 1, Op: OpHello, N: Version},
		{ID: 0, Op: OpLookup, NS: "ns", Key: []byte("k"), Now: 1_700_000_000_000_000_000},
		{ID: math.MaxUint64, Op: OpAcquire, NS: strings.Repeat("n", 31), Key: []byte{}, N: -1, Now: -33},
		{ID: 200, Op: OpPut, NS: strings.Repeat("n", 32), Key: long[:300], Rec: long, N: math.MinInt64, Flag: true},
		{ID: 70000, Op: OpKeys, NS: strings.Repeat("n", 300), Err: "e", Code: strings.Repeat("c", 70000), Data: long[:5], N: math.MaxInt64},
		{ID: 1 << 33, Op: OpPurge, N: -129, Now: -40000, Data: []byte{}},
		{ID: 3, Op: OpAck, N: math.MinInt32, Now: 1<<31 + 1},
	}
}

// TestWireCodec: frames written by hand are what msgpack reads, and the
// hand-written reader reads what msgpack writes and what it writes.
func TestWireCodec(t *testing.T) {
	for _, m := range wireSamples() {
		frame := appendFrame(nil, m)
		if n := binary.BigEndian.Uint32(frame); int(n) != len(frame)-4 {
			t.Fatalf("%v: length %d, body %d", m.Op, n, len(frame)-4)
		}
		var viaLib Msg
		if err := msgpack.Unmarshal(frame[4:], &viaLib); err != nil {
			t.Fatalf("%v: msgpack reads the frame: %v", m.Op, err)
		}
		if !sameMsg(&viaLib, m) {
			t.Errorf("msgpack read %+v; wrote %+v", viaLib, *m)
		}
		var ns string
		var got Msg
		if err := got.decode(frame[4:], &ns); err != nil {
			t.Fatalf("%v: %v", m.Op, err)
		}
		if !sameMsg(&got, m) || (m.Key == nil) != (got.Key == nil) {
			t.Errorf("read %+v; wrote %+v", got, *m)
		}
		lib, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got = Msg{}
		if err := got.decode(lib, &ns); err != nil {
			t.Fatalf("%v: msgpack's frame: %v", m.Op, err)
		}
		if !sameMsg(&got, m) {
			t.Errorf("read msgpack's %+v; wrote %+v", got, *m)
		}
	}
	// The last two: an array16's header cut short panicked the reader,
	// which would end the holder's process (found by FuzzWireDecode).
	for _, bad := range [][]byte{nil, {0x9b}, {0x92, 1, 2}, {0x9b, 1, 0}, append([]byte{0x9b, 1, 0xff}, make([]byte, 9)...), {0xdc}, {0xdc, 0x00}} {
		var m Msg
		var ns string
		if err := m.decode(bad, &ns); err == nil {
			t.Errorf("%x read as %+v", bad, m)
		}
	}
}

// sameMsg compares two messages, nil and empty byte slices alike.
func sameMsg(a, b *Msg) bool {
	norm := func(m *Msg) Msg {
		c := *m
		for _, p := range []*[]byte{&c.Key, &c.Rec, &c.Data} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func BenchmarkWireCodec(b *testing.B) {
	m := &Msg{ID: 12345, Op: OpAcquire, NS: "held", Key: []byte("\xd2\x00\x00\x10\x00"), N: 250_000_000, Now: 1_700_000_000_000_000_000}
	var buf []byte
	var ns string
	b.ReportAllocs()
	for b.Loop() {
		buf = appendFrame(buf[:0], m)
		var r Msg
		if err := r.decode(buf[4:], &ns); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSendLater: frames that sendLater leaves wait, and go in order with
// the next frame sent, or within laterDelay; Close drops them.
func TestSendLater(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	w, r := newWire(cc), newWire(sc)
	defer w.close()
	defer func(d time.Duration) { laterDelay = d }(laterDelay)
	laterDelay = time.Hour

	expect := func(ids ...uint64) {
		t.Helper()
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, id := range ids {
			m, err := r.recv()
			if err != nil || m.ID != id {
				t.Fatalf("read %+v, %v; want frame %d", m, err, id)
			}
		}
	}
	for id := uint64(1); id <= 2; id++ {
		if err := w.sendLater(&Msg{ID: id, Op: OpPut, NS: "n", Key: []byte("k"), Rec: []byte("r")}); err != nil {
			t.Fatal(err)
		}
	}
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if m, err := r.recv(); err == nil {
		t.Fatalf("read %+v before anything but puts was sent", m)
	}
	if err := w.send(&Msg{ID: 3, Op: OpAck}); err != nil {
		t.Fatal(err)
	}
	expect(1, 2, 3)

	laterDelay = time.Millisecond
	if err := w.sendLater(&Msg{ID: 4, Op: OpPut, NS: "n", Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	expect(4) // written by the timer

	laterDelay = time.Hour
	for id := uint64(5); id < 5+maxLater; id++ {
		if err := w.sendLater(&Msg{ID: id, Op: OpPut, NS: "n", Key: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(5); id < 5+maxLater; id++ {
		expect(id) // written once maxLater waited
	}
}

// TestWireDecodeAllocatesWithinFrame: a frame's declared lengths come from
// another process. A frame of 40 bytes that declares a string of 3.7 GB
// (not in the hand-read form, so msgpack reads it) made msgpack allocate
// all of it, and the holder with it (found by FuzzWireDecode). What a
// frame's decoding allocates is now in proportion to the frame.
func TestWireDecodeAllocatesWithinFrame(t *testing.T) {
	// 11 fields; Key a bin8 of 130 bytes, cut short; Err a str32 of
	// 0xdbc400d3 bytes.
	body := []byte("\x9b\xcf\x00\x00\x00\x02\xa0\xc4\x82\x00\xcc\x11\xa0\xc0\xc0\xd3\xff\xff\xff\x64\x00\x00\x00\x7f\xc2\xa0\xa0\xdb\xdb\xc4\x00\xd3\xff\xff\xff\xff\xff\xff\x63\xc0")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var m Msg
	ns := ""
	err := m.decode(body, &ns)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Errorf("%x read as %+v", body, m)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("decoding a frame of %d bytes allocated %d bytes", len(body), n)
	}
}
