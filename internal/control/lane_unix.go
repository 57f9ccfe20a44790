//go:build linux || darwin || freebsd

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A lane's socket is a blocking one, outside Go's network poller, read
// and written with plain system calls on the caller's thread. Through
// net.Conn a reply that is not there yet parks the caller, and the poller
// wakes it (epoll, then the scheduler, on another thread) when it comes:
// on a two-core virtual machine that costs 6 to 8 µs of a 17 µs round
// trip. A thread blocked in read(2) is woken by the kernel itself. The
// cost is a thread per lane in use, which is why lanes are few.

// A lane is a blocking connection to the holder, used by one caller at a
// time (see serveLane).
type lane struct {
	rbuf, wbuf []byte
	nextID     uint64
	rcvTimeout time.Duration // the socket's SO_RCVTIMEO
	ns         string        // the namespace of the last frame read (see Msg.decode)

	mu     sync.Mutex // guards fd against shutdown after close
	fd     int        // -1 once closed
	killed bool
}

// lanesSupported reports whether this platform has lanes.
const lanesSupported = true

// dialLane connects a lane to the control socket sock and joins it to
// the connection whose hello returned tok.
func dialLane(sock string, tok []byte) (*lane, error) {
	// As package net does: no exec between socket and close-on-exec.
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	l := &lane{fd: fd, rbuf: make([]byte, 4<<10)}
	// Writes (and the connect) that the holder does not take within
	// writeTimeout fail, as they do on the first connection.
	tv := unix.NsecToTimeval(writeTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		l.close()
		return nil, os.NewSyscallError("setsockopt", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: sock})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		l.close()
		return nil, os.NewSyscallError("connect", err)
	}
	if uid, err := peerUID(uintptr(fd)); err != nil || uid != uint32(os.Getuid()) && uid != 0 {
		l.close()
		return nil, fmt.Errorf("%s: %w", sock, ErrStranger)
	}
	r, err := l.roundTrip(&Msg{Op: OpHello, N: Version, Key: tok}, helloTimeout)
	if err == nil {
		err = r.err()
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// errLaneTimeout is a lane's error when the reply did not come in time.
var errLaneTimeout = errors.New("control: no reply in time")

// roundTrip sends m and reads its reply, waiting up to about timeout (a
// read that has begun may take a tenth more). Any error leaves the lane
// unusable.
func (l *lane) roundTrip(m *Msg, timeout time.Duration) (*Msg, error) {
	l.nextID++
	m.ID = l.nextID
	// Set the socket's timeout only when it changes by more than a
	// tenth: a setsockopt per call would cost a system call.
	if timeout < l.rcvTimeout*9/10 || timeout > l.rcvTimeout {
		tv := unix.NsecToTimeval(max(timeout, time.Microsecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
		l.rcvTimeout = timeout
	}
	deadline := time.Now().Add(timeout)
	// On one thread from the write to the reply, so that the reply wakes
	// the thread that runs the caller.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := l.send(m); err != nil {
		return nil, err
	}
	r, err := l.recv(deadline)
	if err != nil {
		return nil, err
	}
	if r.ID != m.ID {
		return nil, errFrame
	}
	return r, nil
}

// send writes m's frame. A write that the socket's SO_SNDTIMEO ends is
// errLaneTimeout.
func (l *lane) send(m *Msg) error {
	l.wbuf = appendFrame(l.wbuf[:0], m)
	if n := len(l.wbuf) - 4; n > maxFrame {
		return fmt.Errorf("control: frame of %d bytes is too large", n)
	}
	if cap(l.wbuf) > 1<<20 {
		defer func() { l.wbuf = nil }()
	}
	for b := l.wbuf; len(b) > 0; {
		n, err := unix.Write(l.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return errLaneTimeout
		case err != nil:
			return os.NewSyscallError("write", err)
		}
		b = b[n:]
	}
	return nil
}

// recv reads one frame, which must be all the socket holds: a lane
// carries one request and its reply at a time. A read that the socket's
// SO_RCVTIMEO ends, or that is still short of the frame after deadline
// (if not zero), is errLaneTimeout; a socket closed at the other end,
// or shut down by kill, is ErrGone.
func (l *lane) recv(deadline time.Time) (*Msg, error) {
	have, need := 0, 4
	for have < need {
		if have == len(l.rbuf) {
			// Grown as the frame's bytes arrive, not to the length its
			// header declares (see bodyChunk).
			l.rbuf = append(l.rbuf, make([]byte, min(need-have, max(have, bodyChunk)))...)
		}
		n, err := unix.Read(l.fd, l.rbuf[have:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return nil, errLaneTimeout
		case err != nil:
			return nil, os.NewSyscallError("read", err)
		case n == 0:
			return nil, ErrGone
		}
		have += n
		if have >= 4 && need == 4 {
			size := int(uint32(l.rbuf[0])<<24 | uint32(l.rbuf[1])<<16 | uint32(l.rbuf[2])<<8 | uint32(l.rbuf[3]))
			if size > maxFrame {
				return nil, errFrame
			}
			need = 4 + size
		}
		if have < need && !deadline.IsZero() && time.Now().After(deadline) {
			return nil, errLaneTimeout
		}
	}
	if have != need {
		return nil, errFrame // more than the one frame
	}
	body := make([]byte, need-4)
	copy(body, l.rbuf[4:need])
	if len(l.rbuf) > 1<<20 {
		l.rbuf = make([]byte, 4<<10)
	}
	r := new(Msg)
	if err := r.decode(body, &l.ns); err != nil {
		return nil, err
	}
	return r, nil
}

// kill makes the lane's system calls, a read in progress included, fail
// at once. Any goroutine may call it.
func (l *lane) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd >= 0 && !l.killed {
		l.killed = true
		unix.Shutdown(l.fd, unix.SHUT_RDWR)
	}
}

// close closes the lane's socket; it is for the lane's user, once its
// system calls have returned.
func (l *lane) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// The holder's end of a lane. Served through net.Conn, the holder's
// goroutine parks after each reply, and the next request wakes it
// through the poller: epoll, a thread woken to run it, the scheduler,
// on both sides of every round trip. Taken out of the poller, the
// lane's goroutine blocks in read(2) with a thread of its own, and the
// kernel wakes that very thread when the request comes; the holder's
// profile spent about two fifths of its time in that poller and
// scheduler path on a follower's hits. A lane holds the thread while it
// is idle, so a holder serves at most maxBlockingLanes lanes so; the
// others stay in the poller.

// maxBlockingLanes bounds the lanes and connections a holder serves
// with blocking reads, each holding a thread.
const maxBlockingLanes = 64

// detachLane takes conn's socket out of the poller, as a lane of
// blocking system calls, and closes conn; on an error conn is left as
// it was.
func detachLane(conn net.Conn) (*lane, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, errors.New("control: a lane that is not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	l := &lane{fd: fd, rbuf: make([]byte, 4<<10)}
	// A reply that the follower does not take within writeTimeout fails,
	// as on the connection; reads wait for as long as the lane is open.
	tv := unix.NsecToTimeval(writeTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		l.close()
		return nil, os.NewSyscallError("setsockopt", err)
	}
	// Blocking mode belongs to the socket, not to the descriptor: from
	// here conn would block too, so it is closed (which takes it out of
	// the poller); the duplicate keeps the socket open.
	if err := unix.SetNonblock(fd, false); err != nil {
		l.close()
		return nil, os.NewSyscallError("fcntl", err)
	}
	conn.Close()
	return l, nil
}

// A session's connection at the holder carries the follower's puts, each
// of which woke the connection's goroutine through the poller, as a
// lane's requests did; its socket blocks too (blockConn), but it stays a
// net.Conn, written by several goroutines (replies, pushes) with write
// deadlines: a write that the socket's SO_SNDTIMEO ends goes back to
// the poller, where the deadline applies. Its reader, blocked in the
// kernel, is woken by the kernel. Closing it needs a shutdown first
// (wire.close): net.Conn's Close waits for a read in progress to end.

// blockConn makes conn's socket block, its reads and writes made on the
// calling thread without the poller.
func blockConn(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errors.New("control: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(s uintptr) {
		tv := unix.NsecToTimeval(writeTimeout.Nanoseconds())
		if serr = unix.SetsockoptTimeval(int(s), unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); serr == nil {
			serr = unix.SetNonblock(int(s), false)
		}
	})
	if err == nil {
		err = serr
	}
	return err
}

// shutdownConn shuts conn's socket down both ways: a read or write in
// progress on it returns.
func shutdownConn(conn net.Conn) {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(s uintptr) { unix.Shutdown(int(s), unix.SHUT_RDWR) })
		}
	}
}
