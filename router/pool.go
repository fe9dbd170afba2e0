package router

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// fastPool is the idle keep-alive connections from the fast path to one version, most recently
// used last. A connection goes back only when its response ended exactly where its framing said
// and nothing else was read; before it carries another request, probe checks that the version
// sent nothing while it sat idle. Either way a connection with stray bytes is closed, so they
// can never be read as the answer to another client's request.
type fastPool struct {
	mu     sync.Mutex
	idle   []*upstreamConn
	closed bool
}

// upstreamConn is one connection to a version. Its reads and writes each time out after the
// router's UpstreamTimeout without progress.
type upstreamConn struct {
	c         *timedConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	probe     func() probeResult // reads the socket without blocking; nil where unsupported
}

type probeResult int

const (
	probeQuiet  probeResult = iota // nothing to read: the connection can carry a request
	probeData                      // the version sent bytes nobody asked for
	probeClosed                    // the version closed the connection
)

// get returns the most recently used idle connection that is still quiet, if it has been idle
// for less than maxIdle (any time when maxIdle is 0). Connections with stray bytes or closed by the version are closed.
func (p *fastPool) get(maxIdle time.Duration) *upstreamConn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 || (maxIdle > 0 && time.Since(p.idle[n-1].idleSince) >= maxIdle) {
			p.mu.Unlock()
			return nil
		}
		uc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if uc.c.readBy.Before(time.Now()) {
			// Its last read's deadline passed while it sat idle; the probe would see only that.
			uc.c.Conn.SetReadDeadline(time.Time{})
			uc.c.readBy = time.Time{}
		}
		if uc.probe == nil || uc.probe() == probeQuiet {
			return uc
		}
		uc.c.Close()
	}
}

// put returns a connection whose response was read exactly to its end; the caller has checked
// that its framing allows reuse and that nothing beyond it was read.
func (p *fastPool) put(uc *upstreamConn, now time.Time) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= fastMaxIdlePerVersion {
		p.mu.Unlock()
		uc.c.Close()
		return
	}
	uc.idleSince = now
	p.idle = append(p.idle, uc)
	p.mu.Unlock()
}

func (p *fastPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, uc := range idle {
		uc.c.Close()
	}
}

func (p *fastPool) expire(before time.Time) {
	p.mu.Lock()
	var old []*upstreamConn
	keep := p.idle[:0]
	for _, uc := range p.idle {
		if uc.idleSince.Before(before) {
			old = append(old, uc)
		} else {
			keep = append(keep, uc)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, uc := range old {
		uc.c.Close()
	}
}

func (fs *fastServer) dial(b *backend) (*upstreamConn, error) {
	c, err := b.proxy.dialer.Dial("tcp", b.proxy.origin)
	if err != nil {
		return nil, err
	}
	d := fs.rt.upstreamTimeout()
	tc := newTimedConn(c, d, d)
	return &upstreamConn{c: tc, br: bufio.NewReaderSize(tc, 16<<10), bw: bufio.NewWriterSize(tc, 8<<10), probe: tc.prober()}, nil
}

// timedConn is a connection whose reads and writes each fail once they have waited their
// timeout without progress, give or take 1/64 of it: the deadline moves only when it would
// move by more than that, so a stream of reads or writes, or a run of requests, costs a clock
// read each and a timer update about once a second (with the default 60s).
type timedConn struct {
	net.Conn
	readTimeout, writeTimeout time.Duration // 0: the caller manages the deadline
	readBy, writeBy           time.Time
	sock                      *sockIO // reads and writes the socket directly; nil: through Conn
}

func newTimedConn(c net.Conn, readTimeout, writeTimeout time.Duration) *timedConn {
	return &timedConn{Conn: c, readTimeout: readTimeout, writeTimeout: writeTimeout, sock: newSockIO(c)}
}

func (c *timedConn) Read(p []byte) (int, error) {
	if d := c.readTimeout; d > 0 {
		if by := time.Now().Add(d); by.Sub(c.readBy) > d/64 {
			c.readBy = by
			c.Conn.SetReadDeadline(by)
		}
	}
	if c.sock != nil {
		return c.sock.read(p)
	}
	return c.Conn.Read(p)
}

func (c *timedConn) Write(p []byte) (int, error) {
	if d := c.writeTimeout; d > 0 {
		if by := time.Now().Add(d); by.Sub(c.writeBy) > d/64 {
			c.writeBy = by
			c.Conn.SetWriteDeadline(by)
		}
	}
	if c.sock != nil {
		return c.sock.write(p)
	}
	return c.Conn.Write(p)
}

// setReadDeadline sets a deadline of the caller's, which the next timed read replaces.
func (c *timedConn) setReadDeadline(t time.Time) {
	c.readBy = time.Time{}
	c.Conn.SetReadDeadline(t)
}

// fullReadTimeout makes the next read arm a deadline of its own.
func (c *timedConn) fullReadTimeout() { c.readBy = time.Time{} }
