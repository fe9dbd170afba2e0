package router

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
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
		if !uc.c.readBy.IsZero() && uc.c.readBy.Before(uc.c.clock.now(uc.c.readTimeout).Add(time.Second)) {
			// Its last read's deadline passed while it sat idle (or is about to: the coarse
			// clock lags), and the probe would see only that.
			uc.c.clearReadDeadline()
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
	tc := newTimedConn(c, fs.clock, d, d)
	return &upstreamConn{c: tc, br: bufio.NewReaderSize(tc, 16<<10), bw: bufio.NewWriterSize(tc, 8<<10), probe: tc.prober()}, nil
}

// timedConn is a connection whose reads and writes each fail once they have waited their
// timeout without progress, give or take 1/64 of it: the deadline moves only when it would
// move by more than that, so a stream of reads or writes, or a run of requests, costs a read of
// the coarse clock each and a timer update about once a second (with the default 60s).
type timedConn struct {
	net.Conn
	clock                     *coarseClock  // nil: the system's
	readTimeout, writeTimeout time.Duration // 0: the caller manages the deadline
	readBy, writeBy           time.Time     // the deadlines armed
	readFor                   time.Duration // the timeout readBy was armed for; 0: the caller's own
	sock                      *sockIO       // reads and writes the socket directly; nil: through Conn
	writesStopped             atomic.Bool   // set by stopWrites, from another goroutine
}

func newTimedConn(c net.Conn, clock *coarseClock, readTimeout, writeTimeout time.Duration) *timedConn {
	return &timedConn{Conn: c, clock: clock, readTimeout: readTimeout, writeTimeout: writeTimeout, sock: newSockIO(c)}
}

func (c *timedConn) Read(p []byte) (int, error) {
	if d := c.readTimeout; d > 0 {
		if by := c.clock.now(d).Add(d); c.readFor != d || by.Sub(c.readBy) > d/64 {
			c.readBy, c.readFor = by, d
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
		if by := c.clock.now(d).Add(d); by.Sub(c.writeBy) > d/64 {
			c.writeBy = by
			c.Conn.SetWriteDeadline(by)
		}
	}
	// After the deadline is armed: a stopWrites in between has set its own, past one since.
	if c.writesStopped.Load() {
		return 0, errWritesStopped
	}
	if c.sock != nil {
		return c.sock.write(p)
	}
	return c.Conn.Write(p)
}

// errWritesStopped is a write refused after stopWrites.
var errWritesStopped = errors.New("writes stopped: the version answered before the request body was all sent")

// stopWrites makes the write in progress, if any, and every later one fail at once. It may be
// called while another goroutine writes.
func (c *timedConn) stopWrites() {
	c.writesStopped.Store(true)
	c.Conn.SetWriteDeadline(time.Now())
}

// resumeWrites undoes stopWrites once no write is in progress.
func (c *timedConn) resumeWrites() {
	c.writesStopped.Store(false)
	c.writeBy = time.Time{} // the next write arms its own deadline
}

// readWithin arms a deadline d from now for a wait of the caller's own (reads then time out by
// it alone), unless the deadline armed already is within d/64 of it: a run of requests waited for
// with the same timeout costs no timer update.
func (c *timedConn) readWithin(d time.Duration) {
	c.readTimeout = 0
	by := c.clock.now(d).Add(d)
	if c.readFor == 0 && by.Sub(c.readBy).Abs() <= d/64 {
		return
	}
	c.readBy, c.readFor = by, 0
	c.Conn.SetReadDeadline(by)
}

// clearReadDeadline removes the read deadline.
func (c *timedConn) clearReadDeadline() {
	c.readBy, c.readFor = time.Time{}, 0
	c.Conn.SetReadDeadline(time.Time{})
}

// coarseClock is the time as of the fast server's latest sweep. The fast path reads the time
// several times per request, to move deadlines and to date pooled connections, and the system
// clock costs two calls per reading, a few percent of a request's CPU. The coarse clock lags by
// up to fastSweepEvery (more on a starved machine), so it serves only durations for which that
// is within the deadlines' own slack of 1/64.
// It counts from a base reading of the system clock, so it keeps the monotonic clock's reading:
// a step of the wall clock moves no deadline.
type coarseClock struct {
	base time.Time
	ns   atomic.Int64 // since base
}

func newCoarseClock() *coarseClock { return &coarseClock{base: time.Now()} }

func (c *coarseClock) set(t time.Time) { c.ns.Store(int64(t.Sub(c.base))) }

// now returns the time, for measuring a duration of d: the coarse clock's when d is long enough
// for its lag not to matter, else the system clock's.
func (c *coarseClock) now(d time.Duration) time.Time {
	if c != nil && d >= 64*fastSweepEvery {
		return c.base.Add(time.Duration(c.ns.Load()))
	}
	return time.Now()
}
