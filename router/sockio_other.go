//go:build !linux

package router

import "net"

// sockIO is the direct socket I/O of Linux (sockio_linux.go); elsewhere connections are read and
// written through net.Conn.
type sockIO struct{}

func newSockIO(net.Conn) *sockIO { return nil }

func (*sockIO) read([]byte) (int, error)  { panic("router: no direct socket I/O on this platform") }
func (*sockIO) write([]byte) (int, error) { panic("router: no direct socket I/O on this platform") }
func (*sockIO) peekWait([]byte) (int, error) {
	panic("router: no direct socket I/O on this platform")
}

// prober returns the probe of a connection to a version; nil where unsupported.
func (c *timedConn) prober() func() probeResult { return newProbe(c.Conn) }
