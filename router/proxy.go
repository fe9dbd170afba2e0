package router

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/router/internal/http1"
)

// The proxy loop of the fast path: one parsed request out to a version, its response back.

var (
	errClient        = errors.New("client request body")
	errNothingRead   = errors.New("version closed the connection before answering")
	errUpstreamSlow  = errors.New("version did not answer within the upstream timeout")
	errSwitched      = errors.New("version switched protocols on a request that did not ask to")
	errInformational = errors.New("version sent too many 1xx responses")
)

// proxy answers one parsed request and reports whether the client connection can serve
// another, or that the request is for net/http: it picked a version served over https.
func (fc *fastConn) proxy(req *http1.Request) (keep, handOff bool) {
	rt := fc.fs.rt
	head := fc.head
	sticky := rt.sticky.Load()
	var header, cookie string // converted only when present: the common request allocates nothing
	idempotent := false
	switch string(req.Method.Of(head)) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		idempotent = true
	}
	versionSeen, cookieSeen := false, false
	for _, f := range req.Fields {
		name := f.Name.Of(head)
		switch len(name) {
		case 6:
			if !cookieSeen && sticky && http1.EqualFold(name, "Cookie") {
				if s, ok := findCookie(head, f.Value); ok {
					cookie, cookieSeen = string(s.Of(head)), true
				}
			}
		case len(VersionHeader):
			if !versionSeen && http1.EqualFold(name, VersionHeader) {
				header, versionSeen = string(f.Value.Of(head)), true
			}
		case 15, 17:
			if http1.EqualFold(name, "Idempotency-Key") || http1.EqualFold(name, "X-Idempotency-Key") {
				idempotent = true
			}
		}
	}
	b, setCookie := rt.table.Load().choose(header, cookie, sticky)
	hasBody := req.HasBody()
	if b == nil {
		fc.plainError(http.StatusServiceUnavailable, "no version is live in this environment yet", req.Close || hasBody)
		return !req.Close && !hasBody, false
	}
	if b.url.Scheme != "http" {
		return false, true
	}

	a := attempt{backend: b}
	b.stats.inFlight.Add(1)
	start := rt.now()
	defer rt.finish(&a, start)

	retryable := idempotent && !hasBody
	uc, reused, err := fc.connect(&a, false, retryable)
	if err != nil {
		fc.badGateway(&a, req, err)
		return false, false
	}
	informational, early := false, false
	for {
		var watch <-chan watchEnd
		if hasBody && uc.c.sock != nil && (req.Chunked || req.ContentLength > earlyAnswerBody) {
			watch = watchForAnswer(uc)
		}
		err = fc.writeRequest(uc, req)
		if watch != nil {
			early, err = fc.settleWatch(uc, watch, err)
		}
		if err == nil {
			informational, err = fc.readResponseHead(uc)
		}
		if err == nil {
			break
		}
		uc.c.Close()
		if errors.Is(err, errClient) {
			// The client's body was cut short, too slow or malformed: not the version's failure.
			a.status = statusClientClosed
			switch {
			case errors.Is(err, http1.ErrBadChunk):
				fc.plainError(http.StatusBadRequest, "malformed chunked request body", true)
			case isTimeout(err):
				fc.plainError(http.StatusRequestTimeout, "the request body stopped arriving", true)
			}
			return false, false
		}
		if reused && retryable && errors.Is(err, errNothingRead) && !isTimeout(err) {
			// The version closed the pooled connection while it sat idle: try a fresh one.
			if uc, reused, err = fc.connect(&a, true, true); err == nil {
				continue
			}
		}
		fc.badGateway(&a, req, err)
		return false, false
	}
	return fc.copyResponse(&a, req, uc, setCookie, informational, early), false
}

// earlyAnswerBody is the size of a request body past which the fast path watches for an answer
// while it sends the body: a smaller one fits in the sockets' buffers, so sending it never
// waits on the version.
const earlyAnswerBody = 64 << 10

// watchForAnswer watches, while a large request body goes to the version, for the version to
// answer before it has read all of it (a 401 or a 413 to an upload), so that answer reaches the
// client, as nginx and net/http pass it on, rather than the body's stalled or failed write being
// taken for the version's failure. When a final answer starts arriving, the rest of the body is
// not sent: its writes are stopped. The channel gets how the watch ended.
func watchForAnswer(uc *upstreamConn) <-chan watchEnd {
	done := make(chan watchEnd, 1)
	uc.c.clearReadDeadline() // the wait for the answer starts once the body is sent
	go func() {
		var status [10]byte // "HTTP/1.1 1": an informational answer; the version still reads
		n, err := uc.c.sock.peekWait(status[:])
		final := err == nil && !(n == len(status) && status[9] == '1')
		if final {
			uc.c.stopWrites()
		}
		done <- watchEnd{final: final, err: err}
	}()
	return done
}

// watchEnd is how a watch for an early answer ended: the version has bytes to read (err nil),
// the start of a final answer among them, or the wait failed.
type watchEnd struct {
	final bool
	err   error
}

// settleWatch ends the watch once the body was sent, or its sending failed with err, and
// reports whether the version gave its final answer before it had the whole body.
func (fc *fastConn) settleWatch(uc *upstreamConn, watch <-chan watchEnd, err error) (early bool, _ error) {
	if err == nil {
		// The body is all sent: the version now has the upstream timeout to start answering.
		uc.c.Conn.SetReadDeadline(time.Now().Add(fc.fs.rt.upstreamTimeout()))
		switch w := <-watch; {
		case w.err == nil:
			// The watch may have stopped writes that had already ended.
			uc.c.resumeWrites()
			return false, nil
		case isTimeout(w.err):
			return false, errors.Join(errUpstreamSlow, w.err)
		default:
			return false, errors.Join(errNothingRead, w.err)
		}
	}
	// Sending stopped, for an answer or a failure: end the watch.
	uc.c.Conn.SetReadDeadline(time.Now())
	w := <-watch
	uc.c.clearReadDeadline()
	switch {
	case w.final:
		return true, nil
	case errors.Is(err, errClient):
		return false, err // the client's failure, whatever the version says
	case uc.probe() == probeData:
		return true, nil // an answer came after the watch ended
	}
	return false, err
}

// connect returns a connection to the attempt's version: a pooled one unless fresh, else a new
// one. When the version refuses the connection, the request moves once to another routed
// version, as ServeHTTP's does.
func (fc *fastConn) connect(a *attempt, fresh, retryable bool) (*upstreamConn, bool, error) {
	var maxIdle time.Duration // any pooled connection
	if !retryable {
		maxIdle = fastFreshIdle
	}
	uc, pooled, err := fc.take(a.backend, !fresh, maxIdle)
	if err == nil || !isDialError(err) {
		return uc, pooled, err
	}
	other := fc.fs.rt.reroute(a, err, true)
	if other == nil {
		return nil, false, err
	}
	return fc.take(other, true, maxIdle)
}

// take returns a pooled connection to b (when usePool, idle for less than maxIdle unless that
// is 0), else a new one; pooled says which.
func (fc *fastConn) take(b *backend, usePool bool, maxIdle time.Duration) (uc *upstreamConn, pooled bool, err error) {
	if usePool {
		if uc := fc.fs.pool(b).get(maxIdle); uc != nil {
			return uc, true, nil
		}
	}
	uc, err = fc.fs.dial(b)
	return uc, false, err
}

// badGateway answers a version's failure: 504 when it did not answer in time, else 502.
func (fc *fastConn) badGateway(a *attempt, req *http1.Request, err error) {
	code, msg := http.StatusBadGateway, "bad gateway: version "+a.backend.id+" did not answer"
	if isTimeout(err) {
		code, msg = http.StatusGatewayTimeout, "gateway timeout: version "+a.backend.id+" did not answer in time"
	} else if errors.Is(err, http1.ErrBadResponse) {
		msg = "bad gateway: version " + a.backend.id + " sent a malformed response"
	}
	a.status = code
	if rt := fc.fs.rt; rt.opts.ErrorLog != nil {
		rt.opts.ErrorLog.Printf("router: %s %s to version %s: %v", req.Method.Of(fc.head), req.Target.Of(fc.head), a.backend.id, err)
	}
	fc.plainError(code, msg, true)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, errUpstreamSlow) || (errors.As(err, &ne) && ne.Timeout())
}

// writeRequest sends the request head and body to the version. Errors reading the client's
// body wrap errClient; a failure to write wraps errNothingRead, as no answer can have come.
func (fc *fastConn) writeRequest(uc *upstreamConn, req *http1.Request) error {
	head, bw := fc.head, uc.bw
	bw.Write(req.Method.Of(head))
	bw.WriteByte(' ')
	bw.Write(req.Target.Of(head))
	bw.WriteString(" HTTP/1.1\r\n")
	for _, f := range req.Fields {
		if !forwardRequestHeader(head, req, f) {
			continue
		}
		bw.Write(f.Line.Of(head))
		bw.WriteString("\r\n")
	}
	if fc.clientIP != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(fc.clientIP)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.Write(req.Host.Of(head))
	bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	if req.Chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if req.ContentLength >= 0 {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(fc.num[:0], req.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	var err error
	switch {
	case req.Chunked:
		err = http1.CopyChunked(bw, fc.br, nil) // request trailers are dropped, as nginx and net/http do
	case req.ContentLength > 0:
		err = http1.CopyN(bw, fc.br, req.ContentLength)
	}
	if err != nil {
		if errors.Is(err, http1.ErrWrite) {
			return errors.Join(errNothingRead, err)
		}
		return errors.Join(errClient, err)
	}
	if err := bw.Flush(); err != nil {
		return errors.Join(errNothingRead, err)
	}
	return nil
}

// forwardRequestHeader reports whether a request header goes on to the version. Hop-by-hop
// headers and those listed in Connection stay (but Host, which Connection cannot remove), so do
// the forwarding headers the router writes itself, and names with '_', which CGI-style
// applications read as the '-' header they may trust (X_Forwarded_For as X-Forwarded-For), as
// nginx drops them.
func forwardRequestHeader(head []byte, req *http1.Request, f http1.Field) bool {
	name := f.Name.Of(head)
	if bytes.IndexByte(name, '_') >= 0 || isForwarding(name) {
		return false
	}
	if http1.IsHopByHop(name) {
		// TE: trailers is the one hop-by-hop value a proxy passes on.
		return http1.EqualFold(name, "Te") && http1.EqualFold(f.Value.Of(head), "trailers")
	}
	return !http1.Listed(head, req.Hop, name) || http1.EqualFold(name, "Host")
}

// isForwarding reports whether a request header is one of those the router replaces.
func isForwarding(name []byte) bool {
	switch len(name) {
	case 9:
		return http1.EqualFold(name, "Forwarded")
	case 15:
		return http1.EqualFold(name, "X-Forwarded-For")
	case 16:
		return http1.EqualFold(name, "X-Forwarded-Host")
	case 17:
		return http1.EqualFold(name, "X-Forwarded-Proto")
	}
	return false
}

// readResponseHead reads the version's response head into fc.rhd and parses it into fc.resp,
// passing 1xx responses on to the client (and reporting that there were some). A connection
// that ends before the first byte is errNothingRead; a version that does not start answering
// within the upstream timeout is a timeout.
func (fc *fastConn) readResponseHead(uc *upstreamConn) (informational bool, err error) {
	for n := 0; ; n++ {
		if n > http1.MaxInformational {
			return true, errInformational
		}
		if _, err := uc.br.Peek(1); err != nil {
			if isTimeout(err) {
				return informational, errors.Join(errUpstreamSlow, err)
			}
			return informational, errors.Join(errNothingRead, err)
		}
		fc.rhd, err = http1.ReadHead(uc.br, fc.rhd[:0])
		if err != nil {
			if err == http1.ErrHeadTooLarge {
				err = http1.ErrBadResponse
			}
			return informational, err
		}
		if err := fc.resp.Parse(fc.rhd); err != nil {
			return informational, err
		}
		if fc.resp.Status == http.StatusSwitchingProtocols {
			return true, errSwitched
		}
		if fc.resp.Status >= 200 {
			return informational, nil
		}
		// 1xx: pass it on, as validated, and wait for the real answer.
		informational = true
		fc.bw.Write(fc.rhd)
		if err := fc.bw.Flush(); err != nil {
			return true, errors.Join(errClient, err)
		}
	}
}

// copyResponse writes the response head and body to the client, leaving the last bytes in
// fc.bw for the caller to flush, and returns the version's connection to the pool when its
// response ended exactly where its framing said and that framing was the plain kind. It
// reports whether the client connection can carry another request.
func (fc *fastConn) copyResponse(a *attempt, req *http1.Request, uc *upstreamConn, setCookie, informational, early bool) bool {
	resp := &fc.resp
	a.status = resp.Status
	head, bw := fc.rhd, fc.bw

	isHead := string(req.Method.Of(fc.head)) == "HEAD"
	noBody := http1.BodyLess(resp.Status, isHead)
	closeDelimited := !noBody && !resp.Chunked && resp.ContentLength < 0
	// After an early answer, the client's body was not all read: its connection closes.
	keepClient := !req.Close && !closeDelimited && !early

	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(fc.num[:0], int64(resp.Status), 10))
	bw.WriteByte(' ')
	if r := resp.Reason.Of(head); len(r) > 0 {
		bw.Write(r)
	} else {
		bw.WriteString(http.StatusText(resp.Status))
	}
	bw.WriteString("\r\n")
	if setCookie {
		bw.WriteString("Set-Cookie: ")
		bw.WriteString(stickyCookie(a.backend.id))
		bw.WriteString("\r\n")
	}
	for _, f := range resp.Fields {
		name := f.Name.Of(head)
		if http1.IsHopByHop(name) || http1.Listed(head, resp.Hop, name) {
			if !(resp.Chunked && !noBody && http1.EqualFold(name, "Trailer")) {
				continue
			}
		}
		bw.Write(f.Line.Of(head))
		bw.WriteString("\r\n")
	}
	switch {
	case noBody:
		if isHead && resp.ContentLength >= 0 && resp.Status >= 200 && resp.Status != 204 {
			bw.WriteString("Content-Length: ") // the length a GET would have had
			bw.Write(strconv.AppendInt(fc.num[:0], resp.ContentLength, 10))
			bw.WriteString("\r\n")
		}
	case resp.Chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case resp.ContentLength >= 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(fc.num[:0], resp.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	if !keepClient {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")

	var err error
	switch {
	case noBody:
	case resp.Chunked:
		err = http1.CopyChunked(bw, uc.br, http1.TrailerAllowed)
	case resp.ContentLength > 0:
		err = http1.CopyN(bw, uc.br, resp.ContentLength)
	case closeDelimited:
		err = http1.CopyAll(bw, uc.br)
	}
	// Only a plain response may leave its connection for another request: after a HEAD, a 204,
	// a 304 or a 1xx, a version that sent a body anyway would have it read as the next answer.
	plain := !noBody && !informational && !closeDelimited && !early
	if err != nil || !resp.KeepAlive || !plain || uc.br.Buffered() > 0 {
		uc.c.Close()
		if err != nil {
			return false // the answer was cut short: closing tells the client so
		}
	} else {
		fc.fs.pool(a.backend).put(uc, fc.fs.clock.now(fastIdleTimeout))
	}
	return keepClient
}

// findCookie returns the value of the first well-formed CookieName cookie in a Cookie header.
func findCookie(head []byte, v http1.Span) (http1.Span, bool) {
	for i := v.Start; i < v.End; {
		j := i + bytes.IndexByte(head[i:v.End], ';')
		if j < i {
			j = v.End
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
				return http1.Span{Start: vs, End: ve}, true
			}
		}
		i = j + 1
	}
	return http1.Span{}, false
}
