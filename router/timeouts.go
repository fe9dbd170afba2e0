package router

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/router/internal/http1"
)

// The net/http path's time limits, the same as the fast path's: each wait on the client and
// each wait on the version is bounded, not the whole request, so a large upload or a long
// stream goes through as long as it keeps moving.

// watchdog cancels a request to a version that has been waited on for longer than its timeout.
// It runs only while the router waits on the version: armed from the start, disarmed while the
// client is being waited on instead and once the response head arrived, armed again for each
// read of the response body.
type watchdog struct {
	timer   *time.Timer
	timeout time.Duration
}

func newWatchdog(timeout time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{timer: time.AfterFunc(timeout, func() { cancel(errUpstreamSlow) }), timeout: timeout}
}

func (w *watchdog) arm()    { w.timer.Reset(w.timeout) }
func (w *watchdog) disarm() { w.timer.Stop() }

// clientBody is a request body on the net/http path: each read may wait for the client up to
// the client timeout, and does not count against the version.
type clientBody struct {
	io.ReadCloser
	ctl      *http.ResponseController
	timeout  time.Duration
	watchdog *watchdog

	mu  sync.Mutex // Read runs on the transport's goroutine, failed on the handler's
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.watchdog.disarm()
	defer b.watchdog.arm()
	b.ctl.SetReadDeadline(time.Now().Add(b.timeout)) // not every server supports it: then no limit
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// failed returns the error that reading the body ended with, other than its end.
func (b *clientBody) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// upstreamBody is a response body from a version: each read may wait up to the upstream
// timeout. At its end, the fields that may not travel in a trailer leave the response's
// trailers, as on the fast path.
type upstreamBody struct {
	io.ReadCloser
	watchdog *watchdog
	resp     *http.Response
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	b.watchdog.arm()
	defer b.watchdog.disarm()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		for name := range b.resp.Trailer {
			if !http1.TrailerAllowed([]byte(name)) {
				delete(b.resp.Trailer, name)
			}
		}
	}
	return n, err
}

// timedWriter bounds each write to the client, and each flush, by the client timeout.
type timedWriter struct {
	http.ResponseWriter
	ctl     *http.ResponseController
	timeout time.Duration
	a       *attempt
}

// Hijack hands the client's connection over for a tunnel, which then closes it with the
// version's end when the tunnel falls silent.
func (w *timedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.ctl.Hijack()
	if err == nil && w.a.tunnel != nil {
		w.a.tunnel.hold(c)
	}
	return c, brw, err
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.ctl.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *timedWriter) FlushError() error {
	w.ctl.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ctl.Flush()
}

func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tunnel is the version's end of a connection that switched protocols (a WebSocket). Once no
// byte has gone either way for its timeout, both ends close: a silent tunnel would otherwise
// hold a client's connection and a version's for ever. A tunnel that stays open for long needs
// pings, as behind nginx.
type tunnel struct {
	io.ReadWriteCloser
	timeout time.Duration
	last    atomic.Int64 // when a byte last went either way, in Unix nanoseconds
	timer   *time.Timer

	mu     sync.Mutex
	client net.Conn // the client's end, once hijacked
	idle   bool     // the timeout struck
	closed bool     // Close ran: check does nothing more
}

func newTunnel(version io.ReadWriteCloser, timeout time.Duration) *tunnel {
	t := &tunnel{ReadWriteCloser: version, timeout: timeout}
	t.last.Store(time.Now().UnixNano())
	t.mu.Lock() // check waits for the timer to be set
	t.timer = time.AfterFunc(timeout, t.check)
	t.mu.Unlock()
	return t
}

func (t *tunnel) check() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if idle := time.Since(time.Unix(0, t.last.Load())); idle < t.timeout {
		t.timer.Reset(t.timeout - idle)
		t.mu.Unlock()
		return
	}
	t.idle = true
	client := t.client
	t.mu.Unlock()
	t.ReadWriteCloser.Close()
	if client != nil {
		client.Close() // also ends a write the client stopped reading
	}
}

// hold registers the client's end, to close with the version's.
func (t *tunnel) hold(c net.Conn) {
	t.mu.Lock()
	idle := t.idle
	t.client = c
	t.mu.Unlock()
	if idle {
		c.Close()
	}
}

func (t *tunnel) Read(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Read(p)
	if n > 0 {
		t.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (t *tunnel) Write(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Write(p)
	if n > 0 {
		t.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// CloseWrite passes a half close on to the version, as ReverseProxy does when the client ends
// its side.
func (t *tunnel) CloseWrite() error {
	if cw, ok := t.ReadWriteCloser.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (t *tunnel) Close() error {
	t.mu.Lock()
	t.closed = true
	t.timer.Stop()
	t.mu.Unlock()
	return t.ReadWriteCloser.Close()
}
