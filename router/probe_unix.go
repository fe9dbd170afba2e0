//go:build unix && !linux

package router

import (
	"net"
	"syscall"
)

// newProbe returns a function that reads c's socket once without waiting: one system call that
// tells a quiet connection from one with stray bytes or closed by the version. nil when c is not
// a socket.
func newProbe(c net.Conn) func() probeResult {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var buf [1]byte
	var n int
	var rerr error
	read := func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf[:])
		return true // never wait: the answer is what is there now
	}
	return func() probeResult {
		if err := raw.Read(read); err != nil {
			return probeClosed
		}
		switch {
		case n > 0:
			return probeData
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
			return probeQuiet
		default:
			return probeClosed // n == 0 is the version's FIN; any other error, a broken connection
		}
	}
}
