package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/router/internal/http1"
)

// The fast path is an HTTP/1.1 proxy written against net.Conn instead of net/http: one goroutine
// per client connection parses the request head in place (package http1), picks a version
// exactly as ServeHTTP does, writes the request on a pooled keep-alive connection to the
// version (pool.go) and copies the response back on the same goroutine (proxy.go). net/http's
// server and transport spend most of a proxied request's CPU on per-request goroutine
// hand-offs, header maps and background reads; here a plain GET costs one read and one write on
// each side.
//
// Every request head is parsed and judged here first, whole: what is malformed, ambiguous or
// over a limit is refused here. Only then may a valid request the fast path does not forward
// itself (Upgrade, Expect, HTTP/1.0, absolute-form targets, a version served over https) go to
// net/http: the connection, with the head replayed first, is handed to an http.Server serving
// the Router (ServeHTTP) for that one request, after which it closes. So net/http never reads a
// request head the fast path has not judged.

const (
	// fastIdleTimeout closes a client connection that sends no new request for this long, and
	// retires a pooled connection to a version idle for this long (http.Transport's default).
	fastIdleTimeout = 90 * time.Second
	// fastMaxIdlePerVersion caps the pooled idle connections to one version, as
	// MaxIdleConnsPerHost does for the net/http path.
	fastMaxIdlePerVersion = 256
	// fastSweepEvery is how soon idle connections to a version left out of the routes close.
	fastSweepEvery = 100 * time.Millisecond
	// fastFreshIdle is how long a pooled connection may have been idle to carry a request that
	// cannot be retried (one with a body, or not idempotent) on a platform without the pool's
	// probe: a version that closes idle connections (Node's default is after 5s) has most
	// likely not closed one this fresh.
	fastFreshIdle = time.Second
	// defaultMaxConns is Options.MaxConns when zero.
	defaultMaxConns = 4096
	// keepHeadBuffer is the largest head buffer an idle connection keeps: one large head does
	// not pin its memory for the connection's life.
	keepHeadBuffer = 16 << 10
)

// ServeFast accepts connections on ln and proxies their HTTP/1.1 requests itself, with the
// same picking, stickiness, metrics, OnResult calls, retry and Drain accounting as ServeHTTP,
// at a fraction of net/http's CPU per request. Requests it does not forward itself (upgrades,
// Expect, HTTP/1.0, absolute-form targets) are judged first and then served by ServeHTTP
// through an http.Server on the same connection, which closes after that request. What it
// refuses, its limits and its timeouts are in docs/router.md.
//
// Differences from ServeHTTP behind an http.Server: the response gets no Date or sniffed
// Content-Type header the version did not send; a request body is sent whole before the
// response is read, so a version answering early without reading the body sees the body anyway;
// and when the version had closed the pooled connection a request went out on, only a bodyless
// idempotent request is retried on a fresh connection; others get a 502 (the pool checks each
// connection before reuse, which makes that rare). ServeFast keeps its own pool of connections
// to the versions: Close and Drain do not close it; idle connections to a version left out of
// the routes close within fastSweepEvery.
//
// ServeFast returns when ln is closed, after the requests in flight finished (idle client
// connections are closed at once); it returns nil then, and the accept error otherwise.
func (rt *Router) ServeFast(ln net.Listener) error { return rt.serveFast(ln, false) }

// serveFast is ServeFast; with handOffAll, every valid request goes to net/http after the fast
// path judged it, which is how the tests run one table of cases against both paths.
func (rt *Router) serveFast(ln net.Listener, handOffAll bool) error {
	fs := &fastServer{rt: rt, conns: make(map[*fastConn]struct{}), done: make(chan struct{}), handOffAll: handOffAll, clock: newCoarseClock()}
	fs.maxConns = rt.opts.MaxConns
	if fs.maxConns <= 0 {
		fs.maxConns = defaultMaxConns
	}
	fs.room = sync.NewCond(&fs.mu)
	fs.handoff = &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	fs.fallback = &http.Server{
		Handler:           http.HandlerFunc(rt.serveHandedOff),
		ReadHeaderTimeout: rt.headerTimeout(),
		IdleTimeout:       fastIdleTimeout,
		MaxHeaderBytes:    http1.MaxHead,
		ErrorLog:          log.New(io.Discard, "", 0),
		// OPTIONS * goes to the Router like any request: net/http's own answer to it would
		// keep the connection open, and what came next on it would be read unjudged.
		DisableGeneralOptionsHandler: true,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, replayConnKey{}, c)
		},
	}
	go fs.fallback.Serve(fs.handoff)
	go fs.sweep()

	var retry time.Duration
	for {
		fs.waitForRoom()
		c, err := ln.Accept()
		if err != nil {
			var temp interface{ Temporary() bool }
			if !errors.Is(err, net.ErrClosed) && errors.As(err, &temp) && temp.Temporary() {
				// Out of file descriptors and the like: wait for some to free, as http.Server does.
				retry = min(max(2*retry, 5*time.Millisecond), time.Second)
				time.Sleep(retry)
				continue
			}
			fs.shutdown()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		retry = 0
		fc := fs.newConn(c)
		if fc == nil {
			c.Close()
			continue
		}
		go fc.serve()
	}
}

type fastServer struct {
	rt       *Router
	pools    sync.Map // *proxyTransport → *fastPool; keyed by transport so a new URL gets a new pool
	fallback *http.Server
	handoff  *handoffListener
	done     chan struct{}
	maxConns int
	clock    *coarseClock // set by sweep

	// handOffAll sends every valid request to net/http, as if each needed it: the tests run
	// the same conformance cases through both paths with it.
	handOffAll bool

	closing atomic.Bool

	mu    sync.Mutex // guards conns and open
	room  *sync.Cond // signalled when a connection closes
	conns map[*fastConn]struct{}
	open  int // client connections open: those in conns and those handed to net/http
	wg    sync.WaitGroup
}

// waitForRoom returns once fewer than maxConns client connections are open, closing idle
// keep-alive connections to make room.
func (fs *fastServer) waitForRoom() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for fs.open >= fs.maxConns && !fs.closing.Load() {
		for fc := range fs.conns {
			if fc.idle.Load() {
				fc.c.Conn.SetReadDeadline(time.Now()) // it wakes, sees the past deadline and closes
				break
			}
		}
		fs.room.Wait()
	}
}

func (fs *fastServer) newConn(c net.Conn) *fastConn {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closing.Load() {
		return nil
	}
	ip, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		ip = ""
	}
	tc := newTimedConn(c, fs.clock, 0, fs.rt.clientTimeout())
	fc := &fastConn{
		fs:       fs,
		c:        tc,
		br:       bufio.NewReaderSize(tc, 8<<10),
		bw:       bufio.NewWriterSize(tc, 8<<10),
		clientIP: ip,
	}
	fs.conns[fc] = struct{}{}
	fs.open++
	fs.wg.Add(1)
	return fc
}

// forget removes a connection that closed, or went to net/http (which then counts it open
// until it closes).
func (fs *fastServer) forget(fc *fastConn, handedOff bool) {
	fs.mu.Lock()
	delete(fs.conns, fc)
	if !handedOff {
		fs.open--
		fs.room.Signal()
	}
	fs.mu.Unlock()
	fs.wg.Done()
}

func (fs *fastServer) closed() {
	fs.mu.Lock()
	fs.open--
	fs.room.Signal()
	fs.mu.Unlock()
}

func (fs *fastServer) shutdown() {
	fs.mu.Lock()
	fs.closing.Store(true)
	fs.room.Broadcast()
	for fc := range fs.conns {
		if fc.idle.Load() {
			// Wakes the goroutine blocked reading the next request; it sees closing and leaves.
			fc.c.Conn.SetReadDeadline(time.Now())
		}
	}
	fs.mu.Unlock()
	fs.wg.Wait()
	fs.handoff.Close()
	fs.fallback.Shutdown(context.Background())
	close(fs.done)
	fs.pools.Range(func(k, v any) bool {
		v.(*fastPool).close()
		fs.pools.Delete(k)
		return true
	})
}

// sweep closes the pooled connections of versions no longer in the routes, and connections idle
// for longer than fastIdleTimeout. Polling keeps the fast path out of SetRoutes.
func (fs *fastServer) sweep() {
	tick := time.NewTicker(fastSweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-fs.done:
			return
		case <-tick.C:
		}
		t := fs.rt.table.Load()
		now := time.Now()
		fs.clock.set(now)
		fs.pools.Range(func(k, v any) bool {
			routed := false
			for _, b := range t.routes {
				if b.proxy == k.(*proxyTransport) {
					routed = true
					break
				}
			}
			if !routed {
				fs.pools.Delete(k)
				v.(*fastPool).close()
				return true
			}
			v.(*fastPool).expire(now.Add(-fastIdleTimeout))
			return true
		})
	}
}

func (fs *fastServer) pool(b *backend) *fastPool {
	if p, ok := fs.pools.Load(b.proxy); ok {
		return p.(*fastPool)
	}
	p, _ := fs.pools.LoadOrStore(b.proxy, &fastPool{})
	return p.(*fastPool)
}

// handoffListener feeds connections the fast path gives to the fallback http.Server.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *handoffListener) Addr() net.Addr { return l.addr }

// replayConn is a client connection whose first bytes were already read by the fast path.
type replayConn struct {
	net.Conn
	r        io.Reader
	closed   func()
	once     sync.Once
	lingerBy atomic.Int64 // Unix nanoseconds after which reads fail; 0: no such limit
}

// replayConnKey is the request context's key to its replayConn.
type replayConnKey struct{}

func (c *replayConn) Read(p []byte) (int, error) {
	if by := c.lingerBy.Load(); by != 0 {
		// Set at every read: net/http clears deadlines of its own when it stops a read.
		c.Conn.SetReadDeadline(time.Unix(0, by))
	}
	return c.r.Read(p)
}

// linger limits what is left to read on the connection, once its answer is out, to what
// arrives before t.
func (c *replayConn) linger(t time.Time) {
	c.lingerBy.Store(t.UnixNano())
	c.Conn.SetReadDeadline(t)
}

// Close closes the connection, lingering as the fast path does once an answer went out.
func (c *replayConn) Close() error {
	var err error
	if c.lingerBy.Load() != 0 {
		lingerClose(c.Conn)
	} else {
		err = c.Conn.Close()
	}
	c.once.Do(c.closed)
	return err
}

// serveHandedOff serves a request the fast path judged and handed to net/http, and closes the
// connection after it (unless it switched protocols): the next request must be judged by the
// fast path again, and net/http's parser, which reads some requests differently, never sees it.
// What is left of a request body nobody read (a version that answered without asking for it,
// or no version to ask) is read and dropped for a moment only, as in a lingering close: net/http
// would otherwise wait for it without limit before closing.
func (rt *Router) serveHandedOff(w http.ResponseWriter, r *http.Request) {
	rt.ServeHTTP(&closingWriter{ResponseWriter: w}, r)
	// (After a tunnel, the connection is closed already: ServeHTTP returns when the tunnel ends.)
	if rc, ok := r.Context().Value(replayConnKey{}).(*replayConn); ok {
		rc.linger(time.Now().Add(lingerTime))
	}
}

// closingWriter adds Connection: close to a final response that does not switch protocols.
type closingWriter struct{ http.ResponseWriter }

func (w *closingWriter) WriteHeader(code int) {
	if code >= 200 {
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closingWriter) Write(p []byte) (int, error) {
	w.Header().Set("Connection", "close") // before an implicit 200; too late otherwise, harmless
	return w.ResponseWriter.Write(p)
}

func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fastConn is one client connection on the fast path.
type fastConn struct {
	fs       *fastServer
	c        *timedConn
	br       *bufio.Reader
	bw       *bufio.Writer
	clientIP string
	idle     atomic.Bool // waiting for the next request

	head []byte        // the raw request head, reused across requests
	req  http1.Request // its parse
	resp http1.Response
	rhd  []byte // the raw response head
	num  [24]byte
	// linger is set when the connection closes on a refused request the client may still be
	// sending.
	linger bool
}

// Lingering close, as nginx and net/http do after refusing a request whose bytes were not all
// read: the write side is shut, so the client sees the answer and then EOF, and what it still
// sends is read and dropped for a moment, so the kernel does not answer it with a reset that can
// destroy the answer before the client has read it.
const (
	lingerTime = 500 * time.Millisecond
	lingerMax  = 16 << 20
)

func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c, lingerMax)
	c.Close()
}

func (fc *fastConn) serve() {
	handedOff := false
	defer func() {
		switch {
		case handedOff:
		case fc.linger:
			lingerClose(fc.c.Conn)
		default:
			fc.c.Close()
		}
		fc.fs.forget(fc, handedOff)
	}()
	req := &fc.req
	for {
		if fc.br.Buffered() == 0 {
			if cap(fc.head) > keepHeadBuffer {
				fc.head = nil
			}
			if cap(fc.rhd) > keepHeadBuffer {
				fc.rhd = nil
			}
			// The deadline is set before the connection shows as idle, so a shutdown that sees
			// it idle sets its own, past deadline after this one.
			fc.c.readWithin(fastIdleTimeout)
			fc.idle.Store(true)
			if fc.fs.closing.Load() {
				return
			}
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
			fc.idle.Store(false)
		}
		if !http1.HeadBuffered(fc.br) {
			// Only a head that arrives in pieces needs the tighter deadline; skipping it saves
			// a timer update on almost every request.
			fc.c.readWithin(fc.fs.rt.headerTimeout())
		}
		var err error
		fc.head, err = http1.ReadRequestHead(fc.br, fc.head[:0])
		if err == nil {
			err = req.Parse(fc.head)
		}
		if err != nil {
			var refusal *http1.Error
			if errors.As(err, &refusal) {
				fc.plainError(refusal.Status, refusal.Reason, true)
				fc.bw.Flush()
				// The client may still be sending what was refused: closing with its bytes
				// unread would reset the connection and could destroy the answer in flight.
				fc.linger = true
			}
			return
		}
		// A body may take as long as the client likes, as long as it keeps coming.
		fc.c.readTimeout = fc.fs.rt.clientTimeout()
		if t := fc.head[req.Target.Start]; fc.fs.handOffAll || req.Upgrade || req.Expect || req.HTTP10 || (t != '/' && t != '*') {
			handedOff = fc.handOff()
			return
		}
		// The last bytes of the answer leave after proxy returns, when its metrics are
		// recorded: a client that has its answer finds it counted, as with ServeHTTP.
		keep, handOff := fc.proxy(req)
		if handOff {
			handedOff = fc.handOff()
			return
		}
		if err := fc.bw.Flush(); err != nil || !keep {
			// A client whose body may not all have been read, or which sent more requests
			// than it will get answers to, may still be sending: closing under it could reset
			// the connection before it reads its answer.
			fc.linger = err == nil && (req.HasBody() || fc.br.Buffered() > 0)
			return
		}
	}
}

// handOff gives the connection to the fallback http.Server, replaying the head already read.
func (fc *fastConn) handOff() bool {
	rc := &replayConn{Conn: fc.c.Conn, r: io.MultiReader(bytes.NewReader(fc.head), fc.br), closed: fc.fs.closed}
	fc.c.readTimeout, fc.c.writeTimeout = 0, 0 // net/http sets its own deadlines now
	fc.c.Conn.SetDeadline(time.Time{})
	select {
	case fc.fs.handoff.conns <- rc:
		return true
	case <-fc.fs.handoff.done:
		return false
	}
}

// plainError answers as http.Error does.
func (fc *fastConn) plainError(code int, msg string, closeConn bool) {
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(fc.num[:0], int64(code), 10))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	bw.Write(strconv.AppendInt(fc.num[:0], int64(len(msg)+1), 10))
	if closeConn {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	bw.WriteString(msg)
	bw.WriteByte('\n') // the caller flushes, after the metrics are recorded
}
