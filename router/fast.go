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
)

// The fast path is an HTTP/1.1 proxy written against net.Conn instead of net/http: one goroutine
// per client connection parses the request head in place, picks a version exactly as ServeHTTP
// does, writes the request on a pooled keep-alive connection to the version and copies the
// response back on the same goroutine. net/http's server and transport spend most of a proxied
// request's CPU on per-request goroutine hand-offs, header maps and background reads; here a
// plain GET costs one read and one write on each side.
//
// Whatever the fast path does not handle itself goes to net/http unchanged: the connection,
// with the bytes already read replayed first, is handed to an http.Server serving the Router
// (ServeHTTP), which keeps it until it closes. That covers Upgrade, CONNECT, Expect, HTTP/1.0,
// absolute-form targets, transfer codings other than chunked, heads over fastMaxHead and
// requests that picked a version served over https.

const (
	// fastHeaderTimeout bounds reading a request head once its first byte came, as
	// http.Server.ReadHeaderTimeout does.
	fastHeaderTimeout = 10 * time.Second
	// fastIdleTimeout closes a client connection that sends no new request for this long, and
	// retires a pooled connection to a version idle for this long (http.Transport's default).
	fastIdleTimeout = 90 * time.Second
	// fastMaxHead is the longest request or response head the fast path parses. Longer request
	// heads go to net/http (whose limit is 1 MB); longer response heads are a 502.
	fastMaxHead = 64 << 10
	// fastMaxIdlePerVersion caps the pooled idle connections to one version, as
	// MaxIdleConnsPerHost does for the net/http path.
	fastMaxIdlePerVersion = 256
	// fastSweepEvery is how soon idle connections to a version left out of the routes close.
	fastSweepEvery = 100 * time.Millisecond
	// fastFreshIdle is how long a pooled connection may have been idle to carry a request that
	// cannot be retried (one with a body, or not idempotent): a version that closes idle
	// connections (Node's default is after 5s) has most likely not closed one this fresh. Older
	// ones are left to the requests that can be retried on a new connection.
	fastFreshIdle = time.Second
)

// ServeFast accepts connections on ln and proxies their HTTP/1.1 requests itself, with the
// same picking, stickiness, metrics, OnResult calls, retry and Drain accounting as ServeHTTP,
// at a fraction of net/http's CPU per request. Requests it does not handle (upgrades, CONNECT,
// Expect, HTTP/1.0, absolute-form targets, very large heads) are served by ServeHTTP through an
// http.Server on the same connection. A malformed request gets a 400 and the connection closes.
//
// Differences from ServeHTTP behind an http.Server: the response gets no Date or sniffed
// Content-Type header the version did not send; a request body is sent whole before the
// response is read, so a version answering early without reading the body sees the body anyway;
// and when the version had closed the pooled connection a request went out on, only a bodyless
// idempotent request is retried on a fresh connection; others get a 502 (net/http notices most
// such closes earlier, with a read per request in the background; the fast path makes those
// requests take only connections idle for less than fastFreshIdle, which makes that rare).
// ServeFast keeps its own pool of connections to the versions: Close and Drain do not close it;
// idle connections to a version left out of the routes close within fastSweepEvery.
//
// ServeFast returns when ln is closed, after the requests in flight finished (idle client
// connections are closed at once); it returns nil then, and the accept error otherwise.
func (rt *Router) ServeFast(ln net.Listener) error {
	fs := &fastServer{rt: rt, conns: make(map[*fastConn]struct{}), done: make(chan struct{})}
	fs.handoff = &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	fs.fallback = &http.Server{
		Handler:           rt,
		ReadHeaderTimeout: fastHeaderTimeout,
		IdleTimeout:       fastIdleTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go fs.fallback.Serve(fs.handoff)
	go fs.sweep()

	var retry time.Duration
	for {
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

	closing atomic.Bool

	mu    sync.Mutex // guards conns
	conns map[*fastConn]struct{}
	wg    sync.WaitGroup
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
	fc := &fastConn{
		fs:       fs,
		c:        c,
		br:       bufio.NewReaderSize(c, 8<<10),
		bw:       bufio.NewWriterSize(c, 8<<10),
		clientIP: ip,
	}
	fs.conns[fc] = struct{}{}
	fs.wg.Add(1)
	return fc
}

func (fs *fastServer) forget(fc *fastConn) {
	fs.mu.Lock()
	delete(fs.conns, fc)
	fs.mu.Unlock()
	fs.wg.Done()
}

func (fs *fastServer) shutdown() {
	fs.mu.Lock()
	fs.closing.Store(true)
	for fc := range fs.conns {
		if fc.idle.Load() {
			// Wakes the goroutine blocked reading the next request; it sees closing and leaves.
			fc.c.SetReadDeadline(time.Now())
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

// fastPool is the idle keep-alive connections to one version, most recently used last.
type fastPool struct {
	mu     sync.Mutex
	idle   []*upstreamConn
	closed bool
}

type upstreamConn struct {
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// get returns the most recently used idle connection, if it has been idle for less than
// maxIdle.
func (p *fastPool) get(maxIdle time.Duration) *upstreamConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 && (maxIdle >= fastIdleTimeout || time.Since(p.idle[n-1].idleSince) < maxIdle) {
		uc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		return uc
	}
	return nil
}

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
	return &upstreamConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
}

// handoffListener feeds connections the fast path gives up on to the fallback http.Server.
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
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// fastConn is one client connection on the fast path.
type fastConn struct {
	fs       *fastServer
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	clientIP string
	idle     atomic.Bool // waiting for the next request

	head   []byte  // the raw request head, reused across requests
	fields []field // its header fields
	rhead  []byte  // the raw response head
	rflds  []field
	num    [24]byte
}

func (fc *fastConn) serve() {
	handedOff := false
	defer func() {
		if !handedOff {
			fc.c.Close()
		}
		fc.fs.forget(fc)
	}()
	var req request
	for {
		if fc.br.Buffered() == 0 {
			// The deadline is set before the connection shows as idle, so a shutdown that sees
			// it idle sets its own, past deadline after this one.
			fc.c.SetReadDeadline(time.Now().Add(fastIdleTimeout))
			fc.idle.Store(true)
			if fc.fs.closing.Load() {
				return
			}
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
			fc.idle.Store(false)
		}
		if !headBuffered(fc.br) {
			// Only a head that arrives in pieces needs the tighter deadline; skipping it saves
			// a timer update on almost every request.
			fc.c.SetReadDeadline(time.Now().Add(fastHeaderTimeout))
		}
		err := fc.readHead()
		if err == nil {
			fc.fields, err = parseRequest(fc.head, &req, fc.fields[:0])
		}
		switch {
		case err == errHandOff:
			handedOff = fc.handOff()
			return
		case err == errMalformed:
			fc.bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
			fc.bw.Flush()
			return
		case err != nil:
			return
		}
		if req.chunked || req.contentLength > 0 {
			// A body may take as long as the client likes, as with net/http. Without one the
			// connection is not read again until the next request sets a new deadline.
			fc.c.SetReadDeadline(time.Time{})
		}
		// The last bytes of the answer leave after proxy returns, when its metrics are
		// recorded: a client that has its answer finds it counted, as with ServeHTTP.
		keep, handOff := fc.proxy(&req)
		if handOff {
			handedOff = fc.handOff()
			return
		}
		if err := fc.bw.Flush(); err != nil || !keep {
			return
		}
	}
}

// headBuffered reports whether the whole of the next head is already in br's buffer.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// handOff gives the connection to the fallback http.Server, replaying the head already read.
func (fc *fastConn) handOff() bool {
	rc := &replayConn{Conn: fc.c, r: io.MultiReader(bytes.NewReader(fc.head), fc.br)}
	fc.c.SetReadDeadline(time.Time{})
	select {
	case fc.fs.handoff.conns <- rc:
		return true
	case <-fc.fs.handoff.done:
		return false
	}
}

var (
	errHandOff   = errors.New("request for net/http")
	errMalformed = errors.New("malformed request")
	errTooLong   = errors.New("head too long")
)

// readHead reads one head, up to and including its empty line, into fc.head. A head longer
// than fastMaxHead is errHandOff: net/http, with its larger limit, reads the rest.
func (fc *fastConn) readHead() error {
	head, err := readHead(fc.br, fc.head[:0])
	fc.head = head
	if err == errTooLong {
		return errHandOff
	}
	return err
}

func readHead(br *bufio.Reader, head []byte) ([]byte, error) {
	lineStart := len(head)
	for {
		chunk, err := br.ReadSlice('\n')
		head = append(head, chunk...)
		if len(head) > fastMaxHead {
			return head, errTooLong
		}
		switch err {
		case nil:
			line := head[lineStart:]
			if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
				return head, nil
			}
			lineStart = len(head)
		case bufio.ErrBufferFull:
		default:
			return head, err
		}
	}
}

type span struct{ start, end int }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

type field struct {
	name, value span
	line        span // the whole line without its line ending
}

// request is what the fast path needs of a parsed request head; spans point into the head.
type request struct {
	method, target span
	host           span
	hasHost        bool
	contentLength  int64 // -1 when absent
	chunked        bool
	close          bool // Connection: close
	version        span // X-Sluice-Version, first one
	hasVersion     bool
	cookie         span // the sticky cookie's value
	hasCookie      bool
	head           bool // HEAD: the response has no body
	connTokens     bool // Connection names headers to drop besides close and keep-alive
	idempotent     bool
}

// parseRequest parses a request head (as read by readHead) for the fast path. It returns
// errMalformed for a head net/http would also refuse, and errHandOff for a valid request the
// fast path leaves to net/http.
func parseRequest(head []byte, req *request, fields []field) ([]field, error) {
	*req = request{contentLength: -1}
	lineEnd := func(from int) (span, int, bool) {
		i := bytes.IndexByte(head[from:], '\n')
		if i < 0 {
			return span{}, 0, false
		}
		end := from + i
		next := end + 1
		if end > from && head[end-1] == '\r' {
			end--
		}
		return span{from, end}, next, true
	}
	first, pos, ok := lineEnd(0)
	if !ok {
		return fields, errMalformed
	}
	line := first.of(head)
	if len(line) == 0 {
		return fields, errHandOff // a stray empty line before the request: net/http's call
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return fields, errMalformed
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return fields, errMalformed
	}
	req.method = span{first.start, first.start + sp1}
	req.target = span{first.start + sp1 + 1, first.start + sp2}
	proto := line[sp2+1:]
	for _, c := range req.method.of(head) {
		if !isTokenByte(c) {
			return fields, errMalformed
		}
	}
	for _, c := range req.target.of(head) {
		if c <= ' ' || c == 0x7f {
			return fields, errMalformed
		}
	}
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		return fields, errHandOff
	default:
		if len(proto) > 5 && string(proto[:5]) == "HTTP/" {
			return fields, errHandOff // net/http answers other versions
		}
		return fields, errMalformed
	}
	switch method := string(req.method.of(head)); method {
	case "CONNECT", "PRI":
		return fields, errHandOff
	case "HEAD":
		req.head = true
		req.idempotent = true
	case "GET", "OPTIONS", "TRACE":
		req.idempotent = true
	}
	if head[req.target.start] != '/' {
		return fields, errHandOff // absolute form or "*"
	}

	for {
		s, next, ok := lineEnd(pos)
		if !ok {
			return fields, errMalformed
		}
		pos = next
		if s.start == s.end {
			break
		}
		l := s.of(head)
		if l[0] == ' ' || l[0] == '\t' {
			return fields, errMalformed // obsolete line folding
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return fields, errMalformed
		}
		for _, c := range l[:colon] {
			if !isTokenByte(c) {
				return fields, errMalformed
			}
		}
		f, ok := headerField(head, s, colon)
		if !ok {
			return fields, errMalformed
		}
		fields = append(fields, f)
		name, value := f.name.of(head), f.value.of(head)
		switch {
		case equalFold(name, "Host"):
			if req.hasHost {
				return fields, errMalformed
			}
			req.host, req.hasHost = f.value, true
		case equalFold(name, "Content-Length"):
			n, ok := parseDecimal(value)
			if !ok || (req.contentLength >= 0 && n != req.contentLength) {
				return fields, errMalformed
			}
			req.contentLength = n
		case equalFold(name, "Transfer-Encoding"):
			if req.chunked || !equalFold(value, "chunked") {
				return fields, errHandOff
			}
			req.chunked = true
		case equalFold(name, "Connection"):
			if hasToken(value, "close") {
				req.close = true
			}
			if hasToken(value, "upgrade") {
				return fields, errHandOff
			}
			req.connTokens = req.connTokens || otherTokens(value)
		case equalFold(name, "Upgrade"), equalFold(name, "Expect"):
			return fields, errHandOff
		case equalFold(name, VersionHeader):
			if !req.hasVersion {
				req.version, req.hasVersion = f.value, true
			}
		case equalFold(name, "Cookie"):
			if !req.hasCookie {
				req.cookie, req.hasCookie = findCookie(head, f.value)
			}
		case equalFold(name, "Idempotency-Key"), equalFold(name, "X-Idempotency-Key"):
			req.idempotent = true
		}
	}
	if pos != len(head) {
		return fields, errMalformed
	}
	if !req.hasHost {
		return fields, errMalformed
	}
	if req.chunked && req.contentLength >= 0 {
		return fields, errMalformed // a smuggling attempt, or a broken client
	}
	return fields, nil
}

// findCookie returns the value of the first well-formed CookieName cookie in a Cookie header.
func findCookie(head []byte, v span) (span, bool) {
	for i := v.start; i < v.end; {
		j := i + bytes.IndexByte(head[i:v.end], ';')
		if j < i {
			j = v.end
		}
		s, e := i, j
		for s < e && head[s] == ' ' {
			s++
		}
		for e > s && head[e-1] == ' ' {
			e--
		}
		part := head[s:e]
		if len(part) > len(CookieName) && string(part[:len(CookieName)]) == CookieName && part[len(CookieName)] == '=' {
			vs, ve := s+len(CookieName)+1, e
			if ve-vs >= 2 && head[vs] == '"' && head[ve-1] == '"' {
				vs, ve = vs+1, ve-1
			}
			valid := true
			for _, c := range head[vs:ve] {
				if c <= 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' || c == ',' {
					valid = false
					break
				}
			}
			if valid {
				return span{vs, ve}, true
			}
		}
		i = j + 1
	}
	return span{}, false
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header value lists token, in any case.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var part []byte
		part, v = nextToken(v)
		if equalFold(part, token) {
			return true
		}
	}
	return false
}

// nextToken splits the first element off a comma-separated header value: the element without
// surrounding white space, and the rest after its comma.
func nextToken(v []byte) (token, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return bytes.TrimSpace(v[:i]), v[i+1:]
	}
	return bytes.TrimSpace(v), nil
}

// otherTokens reports whether a Connection value lists more than close and keep-alive.
func otherTokens(v []byte) bool {
	for len(v) > 0 {
		var part []byte
		part, v = nextToken(v)
		if len(part) > 0 && !equalFold(part, "close") && !equalFold(part, "keep-alive") {
			return true
		}
	}
	return false
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isHopByHop reports whether a header only concerns one connection, so a proxy must not pass it
// on (RFC 9110, 7.6.1), or is one the fast path writes itself.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "Te")
	case 7:
		return equalFold(name, "Upgrade") || equalFold(name, "Trailer")
	case 10:
		return equalFold(name, "Connection") || equalFold(name, "Keep-Alive")
	case 14:
		return equalFold(name, "Content-Length")
	case 16:
		return equalFold(name, "Proxy-Connection")
	case 17:
		return equalFold(name, "Transfer-Encoding")
	case 18:
		return equalFold(name, "Proxy-Authenticate")
	case 19:
		return equalFold(name, "Proxy-Authorization")
	}
	return false
}

// isForwarding reports whether a request header is one of those the router replaces.
func isForwarding(name []byte) bool {
	switch len(name) {
	case 9:
		return equalFold(name, "Forwarded")
	case 15:
		return equalFold(name, "X-Forwarded-For")
	case 16:
		return equalFold(name, "X-Forwarded-Host")
	case 17:
		return equalFold(name, "X-Forwarded-Proto")
	}
	return false
}

// connectionListed reports whether name is one of the tokens of the head's Connection headers,
// which makes it hop-by-hop too.
func connectionListed(head []byte, fields []field, name []byte) bool {
	for _, f := range fields {
		if !equalFold(f.name.of(head), "Connection") {
			continue
		}
		v := f.value.of(head)
		for len(v) > 0 {
			var p []byte
			p, v = nextToken(v)
			if len(p) == len(name) && equalFold(p, string(name)) {
				return true
			}
		}
	}
	return false
}

// proxy answers one parsed request and reports whether the client connection can serve
// another, or that the request is for net/http: it picked a version served over https.
func (fc *fastConn) proxy(req *request) (keep, handOff bool) {
	rt := fc.fs.rt
	sticky := rt.sticky.Load()
	var header, cookie string // converted only when present: the common request allocates nothing
	if req.hasVersion {
		header = string(req.version.of(fc.head))
	}
	if sticky && req.hasCookie {
		cookie = string(req.cookie.of(fc.head))
	}
	b, setCookie := rt.table.Load().choose(header, cookie, sticky)
	hasBody := req.chunked || req.contentLength > 0
	if b == nil {
		fc.plainError(http.StatusServiceUnavailable, "no version is live in this environment yet", req.close || hasBody)
		return !req.close && !hasBody, false
	}
	if b.url.Scheme != "http" {
		return false, true
	}

	a := attempt{backend: b}
	b.stats.inFlight.Add(1)
	start := rt.now()
	defer rt.finish(&a, start)

	retryable := req.idempotent && !hasBody
	uc, reused, err := fc.connect(&a, false, retryable)
	if err != nil {
		fc.badGateway(&a, req, err)
		return false, false
	}
	var resp response
	for {
		err = fc.writeRequest(uc, req)
		if err == nil {
			err = fc.readResponseHead(uc, &resp)
		}
		if err == nil {
			break
		}
		uc.c.Close()
		if errors.Is(err, errClient) {
			// The client's body was cut short or malformed: not the version's failure.
			a.status = statusClientClosed
			if errors.Is(err, errMalformed) {
				fc.plainError(http.StatusBadRequest, "malformed request body", true)
			}
			return false, false
		}
		if reused && retryable && errors.Is(err, errNothingRead) {
			// The version closed the pooled connection while it sat idle: try a fresh one.
			if uc, reused, err = fc.connect(&a, true, true); err == nil {
				continue
			}
		}
		fc.badGateway(&a, req, err)
		return false, false
	}
	return fc.copyResponse(&a, req, &resp, uc, setCookie), false
}

var (
	errClient      = errors.New("client request body")
	errNothingRead = errors.New("version closed the connection before answering")
)

// connect returns a connection to the attempt's version: a pooled one unless fresh, else a new
// one. A request that cannot be retried only takes a pooled connection idle for less than
// fastFreshIdle. When the version refuses the connection, the request moves once to another
// routed version, as ServeHTTP's does.
func (fc *fastConn) connect(a *attempt, fresh, retryable bool) (*upstreamConn, bool, error) {
	fs := fc.fs
	maxIdle := time.Duration(fastIdleTimeout)
	if !retryable {
		maxIdle = fastFreshIdle
	}
	if !fresh {
		if uc := fs.pool(a.backend).get(maxIdle); uc != nil {
			return uc, true, nil
		}
	}
	uc, err := fs.dial(a.backend)
	if err == nil {
		return uc, false, nil
	}
	if !isDialError(err) {
		return nil, false, err
	}
	other := fs.rt.reroute(a, err, true)
	if other == nil {
		return nil, false, err
	}
	if uc := fs.pool(other).get(maxIdle); uc != nil {
		return uc, true, nil
	}
	uc, err = fs.dial(other)
	return uc, false, err
}

func (fc *fastConn) badGateway(a *attempt, req *request, err error) {
	a.status = http.StatusBadGateway
	if rt := fc.fs.rt; rt.opts.ErrorLog != nil {
		rt.opts.ErrorLog.Printf("router: %s %s to version %s: %v", req.method.of(fc.head), req.target.of(fc.head), a.backend.id, err)
	}
	fc.plainError(http.StatusBadGateway, "bad gateway: version "+a.backend.id+" did not answer", true)
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

// writeRequest sends the request head and body to the version. Errors reading the client's
// body wrap errClient; a failure to write wraps errNothingRead, as no answer can have come.
func (fc *fastConn) writeRequest(uc *upstreamConn, req *request) error {
	head, bw := fc.head, uc.bw
	bw.Write(req.method.of(head))
	bw.WriteByte(' ')
	bw.Write(req.target.of(head))
	bw.WriteString(" HTTP/1.1\r\n")
	for _, f := range fc.fields {
		name := f.name.of(head)
		if isHopByHop(name) || isForwarding(name) || (req.connTokens && connectionListed(head, fc.fields, name)) {
			if equalFold(name, "Te") && equalFold(f.value.of(head), "trailers") {
				bw.Write(f.line.of(head)) // the one hop-by-hop value a proxy passes on
				bw.WriteString("\r\n")
			}
			continue
		}
		bw.Write(f.line.of(head))
		bw.WriteString("\r\n")
	}
	if fc.clientIP != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(fc.clientIP)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.Write(req.host.of(head))
	bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	if req.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if req.contentLength >= 0 {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(fc.num[:0], req.contentLength, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	var err error
	switch {
	case req.chunked:
		err = copyChunked(bw, fc.br, fc.num[:0])
	case req.contentLength > 0:
		err = copyN(bw, fc.br, req.contentLength)
	}
	if err != nil {
		if errors.Is(err, errWrite) {
			return errors.Join(errNothingRead, err)
		}
		return errors.Join(errClient, err)
	}
	if err := bw.Flush(); err != nil {
		return errors.Join(errNothingRead, err)
	}
	return nil
}

// errWrite marks a copy error on the writing side.
var errWrite = errors.New("write")

// copyN copies n bytes from src to dst, flushing dst whenever src has nothing buffered, so a
// slow stream reaches the other side as it comes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return errors.Join(errWrite, err)
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := int(min(int64(src.Buffered()), n))
		p, _ := src.Peek(k)
		if _, err := dst.Write(p); err != nil {
			return errors.Join(errWrite, err)
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyChunked passes a chunked body from src to dst, chunk by chunk, with the trailer section.
// Chunk extensions are dropped; chunk sizes are rewritten, so what reaches dst is well-formed.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, num []byte) error {
	for {
		line, err := readLine(src)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errMalformed
		}
		if _, err := dst.Write(append(strconv.AppendInt(num[:0], size, 16), '\r', '\n')); err != nil {
			return errors.Join(errWrite, err)
		}
		if size == 0 {
			break
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		line, err = readLine(src)
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return errMalformed
		}
		if _, err := dst.WriteString("\r\n"); err != nil {
			return errors.Join(errWrite, err)
		}
	}
	for total := 0; ; {
		line, err := readLine(src)
		if err != nil {
			return err
		}
		total += len(line)
		if total > fastMaxHead {
			return errMalformed
		}
		if len(line) > 0 {
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
				return errMalformed
			}
			for _, c := range line {
				if (c < ' ' && c != '\t') || c == 0x7f {
					return errMalformed
				}
			}
			dst.Write(line)
		}
		if _, err := dst.WriteString("\r\n"); err != nil {
			return errors.Join(errWrite, err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readLine reads one line without its line ending; lines longer than the buffer are malformed.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errMalformed
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// response is what the fast path needs of a version's response head.
type response struct {
	status        int
	reason        span
	contentLength int64
	chunked       bool
	keepAlive     bool // the version's connection can carry another request
	connTokens    bool // Connection names headers to drop besides close and keep-alive
}

// readResponseHead reads the version's response head into fc.rhead, passing 1xx responses on
// to the client. A connection that ends before the first byte is errNothingRead.
func (fc *fastConn) readResponseHead(uc *upstreamConn, resp *response) error {
	for {
		if _, err := uc.br.Peek(1); err != nil {
			return errors.Join(errNothingRead, err)
		}
		head, err := readHead(uc.br, fc.rhead[:0])
		fc.rhead = head
		if err != nil {
			return err
		}
		fc.rflds, err = parseResponse(head, resp, fc.rflds[:0])
		if err != nil {
			return err
		}
		if resp.status == http.StatusSwitchingProtocols {
			return errors.New("version switched protocols on a request that did not ask to")
		}
		if resp.status >= 200 {
			return nil
		}
		// 1xx: pass it on as it is and wait for the real answer.
		fc.bw.Write(head)
		if err := fc.bw.Flush(); err != nil {
			return errors.Join(errClient, err)
		}
	}
}

var errBadResponse = errors.New("malformed response from the version")

func parseResponse(head []byte, resp *response, fields []field) ([]field, error) {
	*resp = response{contentLength: -1}
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return fields, errBadResponse
	}
	line := head[:i]
	pos := i + 1
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return fields, errBadResponse
	}
	minor := line[7]
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fields, errBadResponse
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return fields, errBadResponse
	}
	resp.status = code
	resp.reason = span{min(13, len(line)), len(line)}
	resp.keepAlive = minor == '1'
	for {
		j := bytes.IndexByte(head[pos:], '\n')
		if j < 0 {
			return fields, errBadResponse
		}
		s := span{pos, pos + j}
		pos += j + 1
		if s.end > s.start && head[s.end-1] == '\r' {
			s.end--
		}
		if s.start == s.end {
			break
		}
		l := s.of(head)
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || l[0] == ' ' || l[0] == '\t' {
			return fields, errBadResponse
		}
		f, ok := headerField(head, s, colon)
		if !ok {
			return fields, errBadResponse
		}
		fields = append(fields, f)
		name, value := f.name.of(head), f.value.of(head)
		switch {
		case equalFold(name, "Content-Length"):
			n, ok := parseDecimal(value)
			if !ok || (resp.contentLength >= 0 && n != resp.contentLength) {
				return fields, errBadResponse
			}
			resp.contentLength = n
		case equalFold(name, "Transfer-Encoding"):
			if !equalFold(value, "chunked") || resp.chunked {
				return fields, errBadResponse
			}
			resp.chunked = true
		case equalFold(name, "Connection"):
			if hasToken(value, "close") {
				resp.keepAlive = false
			} else if hasToken(value, "keep-alive") && minor == '0' {
				resp.keepAlive = true
			}
			resp.connTokens = resp.connTokens || otherTokens(value)
		}
	}
	if resp.chunked {
		resp.contentLength = -1 // chunked wins (RFC 9112, 6.3)
	}
	return fields, nil
}

// copyResponse writes the response head and body to the client, leaving the last bytes in
// fc.bw for the caller to flush, and returns the version's connection to the pool when it can
// carry another request. It reports whether the client connection can too.
func (fc *fastConn) copyResponse(a *attempt, req *request, resp *response, uc *upstreamConn, setCookie bool) bool {
	a.status = resp.status
	head, bw := fc.rhead, fc.bw

	noBody := req.head || resp.status == http.StatusNoContent || resp.status == http.StatusNotModified
	closeDelimited := !noBody && !resp.chunked && resp.contentLength < 0
	keepClient := !req.close && !closeDelimited

	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(fc.num[:0], int64(resp.status), 10))
	bw.WriteByte(' ')
	if r := resp.reason.of(head); len(r) > 0 {
		bw.Write(r)
	} else {
		bw.WriteString(http.StatusText(resp.status))
	}
	bw.WriteString("\r\n")
	if setCookie {
		bw.WriteString("Set-Cookie: ")
		bw.WriteString(stickyCookie(a.backend.id))
		bw.WriteString("\r\n")
	}
	for _, f := range fc.rflds {
		name := f.name.of(head)
		if isHopByHop(name) || (resp.connTokens && connectionListed(head, fc.rflds, name)) {
			if !(resp.chunked && equalFold(name, "Trailer")) {
				continue
			}
		}
		bw.Write(f.line.of(head))
		bw.WriteString("\r\n")
	}
	switch {
	case resp.chunked && !noBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case resp.contentLength >= 0 && (!noBody || req.head):
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(fc.num[:0], resp.contentLength, 10))
		bw.WriteString("\r\n")
	}
	if !keepClient {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")

	var err error
	switch {
	case noBody:
	case resp.chunked:
		err = copyChunked(bw, uc.br, fc.num[:0])
	case resp.contentLength > 0:
		err = copyN(bw, uc.br, resp.contentLength)
	case closeDelimited:
		err = copyAll(bw, uc.br)
	}
	if err != nil || !resp.keepAlive || closeDelimited {
		uc.c.Close()
		if err != nil {
			return false // the answer was cut short: closing tells the client so
		}
	} else {
		fc.fs.pool(a.backend).put(uc, time.Now())
	}
	return keepClient
}

func copyAll(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		p, _ := src.Peek(src.Buffered())
		if _, err := dst.Write(p); err != nil {
			return err
		}
		src.Discard(len(p))
	}
}

// headerField is the header line s of head, whose name ends at colon: its value without the
// optional white space around it. It reports false when the value holds a control character.
func headerField(head []byte, s span, colon int) (field, bool) {
	vs, ve := s.start+colon+1, s.end
	for vs < ve && (head[vs] == ' ' || head[vs] == '\t') {
		vs++
	}
	for ve > vs && (head[ve-1] == ' ' || head[ve-1] == '\t') {
		ve--
	}
	for _, c := range head[vs:ve] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, false
		}
	}
	return field{name: span{s.start, s.start + colon}, value: span{vs, ve}, line: s}, true
}
