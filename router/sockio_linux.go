package router

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// sockIO reads and writes a TCP connection's socket with recvfrom and sendto made directly, in
// the connection's syscall.RawConn, so its deadlines, its Close and the runtime's poller still
// apply. net.Conn's Read and Write enter every call through the runtime's bookkeeping for system
// calls that may block, and through the kernel's file read and write layers. The fast path's
// sockets never block (the runtime made them non-blocking), and on a machine whose cores are
// busy that bookkeeping is a tenth of the router's CPU per request: the runtime's monitor thread
// wakes every 20 µs to take back processors it believes are stuck in system calls.
type sockIO struct {
	rc syscall.RawConn

	// The call in progress: a connection is read by one goroutine at a time and written by one.
	rp, wp   []byte
	rn, wn   int
	rerr     syscall.Errno
	werr     syscall.Errno
	peekData bool

	recv, send, peek func(fd uintptr) bool // made once: a closure per call would allocate
}

// newSockIO returns nil when c is not a socket.
func newSockIO(c net.Conn) *sockIO {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sockIO{rc: rc}
	s.recv = func(fd uintptr) bool {
		n, e := recvfrom(fd, s.rp, 0)
		switch e {
		case 0:
			s.rn = n
		case syscall.EAGAIN:
			return false // wait until the poller says there is something to read
		default:
			s.rerr = e
		}
		return true
	}
	s.send = func(fd uintptr) bool {
		for s.wn < len(s.wp) {
			n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.wp[s.wn])), uintptr(len(s.wp)-s.wn), syscall.MSG_NOSIGNAL, 0, 0)
			switch e {
			case 0:
				s.wn += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // the socket's buffer is full: wait until it drains
			default:
				s.werr = e
				return true
			}
		}
		return true
	}
	var one [1]byte
	s.peek = func(fd uintptr) bool {
		n, e := recvfrom(fd, one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case e == 0 && n == 0:
			s.rerr = syscall.ECONNRESET // the version's FIN
		case e == 0:
			s.peekData = true
		case e != syscall.EAGAIN:
			s.rerr = e
		}
		return true // never wait: the answer is what is there now
	}
	return s
}

func (s *sockIO) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rp, s.rn, s.rerr = p, 0, 0
	err := s.rc.Read(s.recv)
	s.rp = nil
	switch {
	case err != nil:
		return 0, err
	case s.rerr != 0:
		return 0, os.NewSyscallError("recvfrom", s.rerr)
	case s.rn == 0:
		return 0, io.EOF
	}
	return s.rn, nil
}

func (s *sockIO) write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wp, s.wn, s.werr = p, 0, 0
	err := s.rc.Write(s.send)
	s.wp = nil
	if err == nil && s.werr != 0 {
		err = os.NewSyscallError("sendto", s.werr)
	}
	return s.wn, err
}

// probe reads the socket once without waiting or consuming: one system call that tells a quiet
// connection from one with stray bytes or closed by the version.
func (s *sockIO) probe() probeResult {
	s.peekData, s.rerr = false, 0
	switch err := s.rc.Read(s.peek); {
	case err != nil || s.rerr != 0:
		return probeClosed
	case s.peekData:
		return probeData
	}
	return probeQuiet
}

// peekWait waits until the socket has bytes to read, or has ended, and copies the first of
// them into p without consuming them. It waits by the connection's read deadline. It may run
// while another goroutine writes, not while one reads.
func (s *sockIO) peekWait(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		n, errno = recvfrom(fd, p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errno == syscall.EAGAIN {
			errno = 0
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("recvfrom", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// recvfrom reads the socket fd into p (non-empty) once, with flags, as many times as a signal
// interrupts it. EAGAIN is returned as is: the socket is non-blocking.
func recvfrom(fd uintptr, p []byte, flags int) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// prober returns the probe of a connection to a version; nil when it is not a socket.
func (c *timedConn) prober() func() probeResult {
	if c.sock == nil {
		return nil
	}
	return c.sock.probe
}
