package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rollout"
	"github.com/sluicehq/sluice/router/internal/http1"
)

// CookieName is the cookie that keeps a client on one version when Options.Sticky is on.
const CookieName = "sluice-version"

// VersionHeader names a version a request wants to reach, for hooks and tests. It is honoured
// only while that version has a weight above 0; otherwise the request is routed as usual.
const VersionHeader = "X-Sluice-Version"

// retainRemoved is how many versions no longer routed keep their metrics, so a report written
// after a rollback can still read them, without a long-lived router growing without bound.
const retainRemoved = 8

// Options configure a Router. The zero Options is a non-sticky router on the real clock.
type Options struct {
	// Sticky keeps a client on the version it first reached, with the cookie CookieName, for
	// as long as that version has a weight above 0.
	Sticky bool
	// Now is the clock for metrics windows and latencies. If nil, time.Now is used.
	Now func() time.Time
	// OnResult, if set, is called after every proxied response with the version, the status
	// (502 when the version could not be reached, 499 when the client went away first) and how
	// long it took, so a watcher can judge alarms at once instead of polling. It runs on the
	// request's goroutine: it must be quick and must not block.
	OnResult func(version string, status int, d time.Duration)
	// ErrorLog receives one line per failed proxy attempt. If nil, failures are only counted.
	ErrorLog *log.Logger
	// DialTimeout bounds connecting to a version. If zero, 5s is used.
	DialTimeout time.Duration
	// ClientTimeout bounds each wait on a client once its request head is in: for the next
	// bytes of its request body (then it gets a 408) and for it to take the next bytes of its
	// response (then its connection closes). If zero, 60s is used, as nginx's
	// client_body_timeout and send_timeout.
	ClientTimeout time.Duration
	// UpstreamTimeout bounds each wait on a version: for the head of its response (then the
	// client gets a 504), for the next bytes of its response body (then the response is cut
	// short) and for it to take the next bytes of a request body. If zero, 60s is used, as
	// nginx's proxy_read_timeout and proxy_send_timeout. Long polls and server-sent events
	// that stay silent for longer need a larger value, or a heartbeat.
	UpstreamTimeout time.Duration
	// MaxConns caps the client connections ServeFast keeps open. At the cap it closes idle
	// keep-alive connections to make room, as nginx does, and otherwise leaves new ones
	// waiting in the listen backlog. If zero, 4096 is used.
	MaxConns int
}

func (rt *Router) clientTimeout() time.Duration {
	return orDefault(rt.opts.ClientTimeout, 60*time.Second)
}
func (rt *Router) upstreamTimeout() time.Duration {
	return orDefault(rt.opts.UpstreamTimeout, 60*time.Second)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Route is one version in a split of traffic.
type Route struct {
	// Version identifies the version, such as "3f2a9c1-2": 1 to 128 letters, digits, '.', '_',
	// ':' or '-', so it fits a cookie and a metric label unchanged.
	Version string
	// URL is where the version listens: an origin such as http://127.0.0.1:8123, with no path.
	URL string
	// Weight is the version's share of the traffic, out of the sum of all weights (usually 100).
	// A version with weight 0 gets no traffic but stays reachable through HandlerFor.
	Weight int
}

// Router is a weighted reverse proxy over the versions of one environment. It is an
// http.Handler; all its methods are safe to call concurrently. Create it with New: the zero
// Router is not usable.
type Router struct {
	opts    Options
	now     func() time.Time
	started time.Time
	table   atomic.Pointer[table]
	proxy   *httputil.ReverseProxy
	sticky  atomic.Bool // Options.Sticky, changeable with SetSticky

	mu         sync.Mutex                 // serializes SetRoutes; guards the fields below
	stats      map[string]*versionStats   // every version routed now or retained
	removed    []string                   // versions no longer routed, oldest first
	transports map[string]*proxyTransport // by version: routed now, or removed but not drained
}

// New returns a Router with no routes: until SetRoutes, every request gets a 503.
func New(opts Options) *Router {
	rt := &Router{
		opts:       opts,
		now:        opts.Now,
		stats:      make(map[string]*versionStats),
		transports: make(map[string]*proxyTransport),
	}
	if rt.now == nil {
		rt.now = time.Now
	}
	rt.started = rt.now()
	rt.table.Store(newTable(nil))
	rt.sticky.Store(opts.Sticky)
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      roundTripFunc(rt.roundTrip),
		ModifyResponse: modifyResponse,
		ErrorHandler:   rt.proxyError,
		BufferPool:     bufferPool{},
		ErrorLog:       opts.ErrorLog,
	}
	if rt.proxy.ErrorLog == nil {
		rt.proxy.ErrorLog = log.New(io.Discard, "", 0) // not the process's default logger
	}
	return rt
}

// SetRoutes atomically replaces the split of traffic. Requests already running finish on the
// version they started on; new requests see only the new split. A version left out stops
// getting traffic at once; Drain then waits for its last requests. Versions that stay keep their
// metrics and pooled connections.
//
// SetRoutes is idempotent. Invalid routes (an empty or odd Version, a duplicate, a URL that is
// not an http origin, a negative weight) change nothing and return an EINVALID *sluice.Error.
func (rt *Router) SetRoutes(routes []Route) error {
	for i, r := range routes {
		if err := validRoute(r); err != nil {
			return err
		}
		for _, prev := range routes[:i] {
			if prev.Version == r.Version {
				return sluice.Errorf(sluice.EINVALID, "route version %q is listed twice; give each version one route", r.Version)
			}
		}
	}

	rt.mu.Lock()
	defer rt.mu.Unlock()
	backends := make([]*backend, len(routes))
	for i, r := range routes {
		u, _ := url.Parse(r.URL) // validRoute parsed it already
		pt := rt.transports[r.Version]
		if pt == nil || pt.origin != u.Host {
			pt = newProxyTransport(u.Host, rt.opts.DialTimeout)
			rt.transports[r.Version] = pt
		}
		s := rt.stats[r.Version]
		if s == nil {
			s = newVersionStats()
			rt.stats[r.Version] = s
		}
		rt.removed = deleteString(rt.removed, r.Version)
		backends[i] = &backend{id: r.Version, url: u, weight: r.Weight, stats: s, proxy: pt}
	}
	old := rt.table.Swap(newTable(backends))
	for _, b := range old.routes {
		if rt.table.Load().find(b.id) == nil {
			rt.removed = append(rt.removed, b.id)
		}
	}
	// Forget the oldest removed versions beyond retainRemoved, but never one still answering:
	// Drain waits on its in-flight count and Close must still reach its connections.
	kept := rt.removed[:0]
	excess := len(rt.removed) - retainRemoved
	for _, id := range rt.removed {
		if excess > 0 && rt.stats[id].inFlight.Load() == 0 {
			delete(rt.stats, id)
			delete(rt.transports, id)
			excess--
			continue
		}
		kept = append(kept, id)
	}
	rt.removed = kept
	return nil
}

func validRoute(r Route) error {
	if !validVersion(r.Version) {
		return sluice.Errorf(sluice.EINVALID, "route version %q is not a valid version ID; use 1 to 128 letters, digits, '.', '_', ':' or '-'", r.Version)
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return sluice.Errorf(sluice.EINVALID, "route %s: URL %q is not an origin; use one such as http://127.0.0.1:8080", r.Version, r.URL)
	}
	if r.Weight < 0 {
		return sluice.Errorf(sluice.EINVALID, "route %s: weight %d is negative; use 0 to send it no traffic", r.Version, r.Weight)
	}
	return nil
}

func validVersion(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func deleteString(list []string, s string) []string {
	for i, v := range list {
		if v == s {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// SetSticky turns the sticky option (see Options.Sticky) on or off for requests from now on.
func (rt *Router) SetSticky(on bool) { rt.sticky.Store(on) }

// Routes returns the current split, in the order SetRoutes was given it.
func (rt *Router) Routes() []Route {
	t := rt.table.Load()
	routes := make([]Route, len(t.routes))
	for i, b := range t.routes {
		routes[i] = Route{Version: b.id, URL: b.url.String(), Weight: b.weight}
	}
	return routes
}

// ServeHTTP proxies the request to a version: the one named by VersionHeader if it is routed,
// else (when sticky) the one in the client's cookie if it is still routed, else one picked by
// weight. With no version of weight above 0 it answers 503.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sticky, cookie := rt.sticky.Load(), ""
	if sticky {
		if c, err := r.Cookie(CookieName); err == nil {
			cookie = c.Value
		}
	}
	b, setCookie := rt.table.Load().choose(r.Header.Get(VersionHeader), cookie, sticky)
	if b == nil {
		http.Error(w, "no version is live in this environment yet", http.StatusServiceUnavailable)
		return
	}
	rt.serve(w, r, &attempt{backend: b, setCookie: setCookie})
}

// stickyCookie is the Set-Cookie value that keeps a client on version id.
func stickyCookie(id string) string {
	return CookieName + "=" + id + "; Path=/; HttpOnly; SameSite=Lax"
}

// HandlerFor returns a handler that reaches only version id, whatever its weight, as long as it
// is in the routes (add it with weight 0 to reach it before it gets traffic). Its requests count
// in the version's metrics. When the version is not in the routes it answers 503; a failure is a
// 502, never a retry on another version.
func (rt *Router) HandlerFor(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := rt.table.Load().find(id)
		if b == nil {
			http.Error(w, "version "+id+" is not routed in this environment", http.StatusServiceUnavailable)
			return
		}
		rt.serve(w, r, &attempt{backend: b, pinned: true})
	})
}

// attempt is the state of one proxied request, shared with Rewrite, the transport and the
// error handler through the request's context.
type attempt struct {
	backend   *backend
	status    int
	pinned    bool // HandlerFor: never move to another version
	setCookie bool // tell the client, in the sticky cookie, the version that answered
	watchdog  *watchdog
	body      *clientBody // the request body, if any
	tunnel    *tunnel     // the version's end, after a 101
}

// clientBodyErr is the error reading the client's request body, if that is what failed.
func (a *attempt) clientBodyErr() error {
	if a.body == nil {
		return nil
	}
	return a.body.failed()
}

type attemptKey struct{}

func (rt *Router) serve(w http.ResponseWriter, r *http.Request, a *attempt) {
	a.backend.stats.inFlight.Add(1)
	start := rt.now()
	defer rt.finish(a, start)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	a.watchdog = newWatchdog(rt.upstreamTimeout(), cancel)
	defer a.watchdog.disarm()
	ctl := http.NewResponseController(w)
	// A version may send a few 1xx responses before its answer, as on the fast path, not an
	// endless stream of them.
	informational := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error {
		if informational++; informational > http1.MaxInformational {
			return errInformational
		}
		return nil
	}})
	r = r.WithContext(context.WithValue(ctx, attemptKey{}, a))
	if r.Body != nil && r.Body != http.NoBody {
		a.body = &clientBody{ReadCloser: r.Body, ctl: ctl, timeout: rt.clientTimeout(), watchdog: a.watchdog}
		r.Body = a.body
	}
	rt.proxy.ServeHTTP(&timedWriter{ResponseWriter: w, ctl: ctl, timeout: rt.clientTimeout(), a: a}, r)
}

// finish accounts for a response. It is deferred so that a response cut short (ReverseProxy
// panics with http.ErrAbortHandler) still leaves the in-flight count right.
func (rt *Router) finish(a *attempt, start time.Time) {
	end := rt.now()
	d := end.Sub(start)
	b := a.backend
	status := a.status
	if status == 0 {
		status = http.StatusBadGateway
	}
	b.stats.record(end.Sub(rt.started), status, d)
	b.stats.inFlight.Add(-1)
	if rt.opts.OnResult != nil {
		rt.opts.OnResult(b.id, status, d)
	}
}

func rewrite(pr *httputil.ProxyRequest) {
	a := pr.In.Context().Value(attemptKey{}).(*attempt)
	pr.Out.URL.Scheme = a.backend.url.Scheme
	pr.Out.URL.Host = a.backend.url.Host
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	for name := range pr.Out.Header {
		if strings.IndexByte(name, '_') >= 0 {
			// CGI-style applications read X_Forwarded_For as X-Forwarded-For; nginx drops such
			// names too.
			delete(pr.Out.Header, name)
		}
	}
	if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		pr.Out.Body = &untouchedBody{ReadCloser: pr.Out.Body}
	}
}

func modifyResponse(resp *http.Response) error {
	a := resp.Request.Context().Value(attemptKey{}).(*attempt)
	a.watchdog.disarm()
	if resp.StatusCode > 599 {
		return fmt.Errorf("version answered with status %d, beyond 599", resp.StatusCode) // a 502, as on the fast path
	}
	a.status = resp.StatusCode
	switch rwc, ok := resp.Body.(io.ReadWriteCloser); {
	case resp.StatusCode == http.StatusSwitchingProtocols && ok:
		// The tunnel's other end: it must stay an io.ReadWriteCloser for ReverseProxy.
		a.tunnel = newTunnel(rwc, a.watchdog.timeout)
		resp.Body = a.tunnel
	case resp.Body != nil && resp.Body != http.NoBody && resp.StatusCode != http.StatusSwitchingProtocols:
		resp.Body = &upstreamBody{ReadCloser: resp.Body, watchdog: a.watchdog}
	}
	if a.setCookie {
		// Written from the version that answered: a retry may have moved the request.
		resp.Header.Add("Set-Cookie", stickyCookie(a.backend.id))
	}
	return nil
}

// statusClientClosed is nginx's code for a client that went away before the answer; it keeps
// such requests out of the version's 5xx.
const statusClientClosed = 499

func (rt *Router) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	a := r.Context().Value(attemptKey{}).(*attempt)
	if bodyErr := a.clientBodyErr(); bodyErr != nil {
		// The client's body was cut short, too slow or malformed: not the version's failure.
		a.status = statusClientClosed
		code, msg := http.StatusBadRequest, "the request body could not be read"
		if isTimeout(bodyErr) {
			code, msg = http.StatusRequestTimeout, "the request body stopped arriving"
		}
		w.Header().Set("Connection", "close")
		http.Error(w, msg, code)
		return
	}
	if context.Cause(r.Context()) == errUpstreamSlow || isTimeout(err) {
		a.status = http.StatusGatewayTimeout
		if rt.opts.ErrorLog != nil {
			rt.opts.ErrorLog.Printf("router: %s %s to version %s: %v", r.Method, r.URL.Path, a.backend.id, err)
		}
		http.Error(w, "gateway timeout: version "+a.backend.id+" did not answer in time", http.StatusGatewayTimeout)
		return
	}
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		a.status = statusClientClosed
		w.WriteHeader(statusClientClosed)
		return
	}
	a.status = http.StatusBadGateway
	if rt.opts.ErrorLog != nil {
		rt.opts.ErrorLog.Printf("router: %s %s to version %s: %v", r.Method, r.URL.Path, a.backend.id, err)
	}
	http.Error(w, "bad gateway: version "+a.backend.id+" did not answer", http.StatusBadGateway)
}

// Drain waits until version id has no request in flight, or ctx ends. Call it after SetRoutes
// left the version out and before stopping its process. Once drained, a version that is no
// longer routed is forgotten by the net/http path. An unknown version is drained at once.
func (rt *Router) Drain(ctx context.Context, id string) error {
	rt.mu.Lock()
	s := rt.stats[id]
	rt.mu.Unlock()
	if s != nil {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for s.inFlight.Load() > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("drain version %s: %d requests still in flight: %w", id, s.inFlight.Load(), ctx.Err())
			case <-tick.C:
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.table.Load().find(id) == nil {
		delete(rt.transports, id)
	}
	return nil
}

// InFlight returns how many requests version id is answering now; 0 for an unknown version.
func (rt *Router) InFlight(id string) int64 {
	rt.mu.Lock()
	s := rt.stats[id]
	rt.mu.Unlock()
	if s == nil {
		return 0
	}
	return s.inFlight.Load()
}

// Window returns what version id did over the last d, up to now by Options.Now: the input of
// rollout.Evaluate. d is rounded up to whole buckets (100ms up to 30s, 1s beyond) and capped at
// MaxWindow; the current, partial bucket is included. An unknown version has an empty Window.
func (rt *Router) Window(id string, d time.Duration) rollout.Window {
	rt.mu.Lock()
	s := rt.stats[id]
	rt.mu.Unlock()
	if s == nil {
		return rollout.Window{Span: d}
	}
	return s.window(rt.now().Sub(rt.started), d)
}

// Close releases nothing today and always returns nil: the net/http path keeps no idle
// connection (one per request) and the fast path's pools close with ServeFast. It does not stop
// requests in flight; the server serving the router does that. The router stays usable after
// Close.
func (rt *Router) Close() error { return nil }
