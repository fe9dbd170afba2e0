package router

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/router/internal/http1"
)

// proxyTransport is the connection pool to one version. Each version has its own, so removing
// a version closes exactly its idle connections and no other's.
type proxyTransport struct {
	origin    string // host:port
	transport *http.Transport
	dialer    *net.Dialer // shared with the fast path's connections
}

func newProxyTransport(origin string, dialTimeout time.Duration) *proxyTransport {
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &proxyTransport{
		origin: origin,
		dialer: dialer,
		transport: &http.Transport{
			// Versions listen on loopback: never through a proxy from the environment, HTTP/1.1
			// only, and a connection per request. net/http's pool cannot check a connection for
			// bytes the version sent while it sat idle (its background read races the next
			// request), and such bytes would be read as another client's answer; the fast path's
			// pool checks, so the requests that need speed keep their warm connections there.
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: http1.MaxHead,
			ExpectContinueTimeout:  time.Second,
			ForceAttemptHTTP2:      false,
			// A proxy passes bodies through as they are; the transport must not ask for gzip and
			// unpack it on the client's behalf.
			DisableCompression: true,
			WriteBufferSize:    16 << 10,
			ReadBufferSize:     16 << 10,
		},
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// roundTrip sends the request to the version its attempt chose. When that version refuses the
// connection (it went away between the pick and the dial) and nothing of the request was sent,
// it moves the request once to another routed version instead of failing it.
func (rt *Router) roundTrip(out *http.Request) (*http.Response, error) {
	a := out.Context().Value(attemptKey{}).(*attempt)
	failed := a.backend
	resp, err := failed.proxy.transport.RoundTrip(out)
	if err == nil || a.pinned || !isDialError(err) || !unsent(out.Body) {
		return resp, err
	}
	other := rt.reroute(a, err, false)
	if other == nil {
		return nil, err
	}
	retry := out.Clone(out.Context())
	retry.URL.Scheme = other.url.Scheme
	retry.URL.Host = other.url.Host
	return other.proxy.transport.RoundTrip(retry)
}

// reroute moves attempt a, whose version refused the connection with err, to another routed
// version (served over plain http when plainOnly), and returns it; nil when there is none.
func (rt *Router) reroute(a *attempt, err error, plainOnly bool) *backend {
	failed := a.backend
	other := rt.table.Load().pickOther(failed)
	if other == nil || (plainOnly && other.url.Scheme != "http") {
		return nil
	}
	if rt.opts.ErrorLog != nil {
		rt.opts.ErrorLog.Printf("router: version %s refused the connection, retrying on %s: %v", failed.id, other.id, err)
	}
	other.stats.inFlight.Add(1)
	failed.stats.inFlight.Add(-1)
	a.backend = other
	return other
}

// isDialError reports whether err happened while connecting: then no byte of the request left.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func unsent(body io.ReadCloser) bool {
	if body == nil || body == http.NoBody {
		return true
	}
	u, ok := body.(*untouchedBody)
	return ok && !u.read.Load()
}

// untouchedBody remembers whether the transport read the request body. Until it does, it also
// ignores Close (the server closes the real body), so a failed dial leaves the body whole for
// the retry.
type untouchedBody struct {
	io.ReadCloser
	read atomic.Bool // set on the transport's writer goroutine, read on the handler's
}

func (b *untouchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

func (b *untouchedBody) Close() error {
	if !b.read.Load() {
		return nil
	}
	return b.ReadCloser.Close()
}

// bufferPool reuses ReverseProxy's copy buffers, which it would otherwise allocate, 32 KB each,
// per response.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
