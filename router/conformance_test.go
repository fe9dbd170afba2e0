package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance table: raw bytes from clients and from faulty versions, run against both of
// the router's paths, the fast path and net/http (every request handed off after the fast path
// judged it), so the two cannot drift apart. Every case ends in a correct response, a 4xx/5xx
// or a closed connection, and after every case a new client gets its own answer: nothing
// desyncs.

// conformanceFront is one of the paths a request can take.
type conformanceFront struct {
	name       string
	handOffAll bool
}

var conformanceFronts = []conformanceFront{{"fast", false}, {"net_http", true}}

// serveFront serves rt on 127.0.0.1 by front f and returns the address.
func serveFront(t *testing.T, rt *Router, f conformanceFront) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- rt.serveFast(ln, f.handOffAll) }()
	t.Cleanup(func() {
		ln.Close()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("ServeFast returned %v after the listener closed", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ServeFast did not return after the listener closed")
		}
	})
	return ln.Addr().String()
}

// scriptVersion is a version speaking raw bytes: for each request it reads (with net/http's
// parser, independent of the router's), it writes answer(request) verbatim. It records the
// paths it was asked for.
type scriptVersion struct {
	ln     net.Listener
	answer func(r *http.Request, body []byte) string

	mu    sync.Mutex
	paths []string
	conns []net.Conn
}

func startScriptVersion(t *testing.T, answer func(r *http.Request, body []byte) string) *scriptVersion {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &scriptVersion{ln: ln, answer: answer}
	if v.answer == nil {
		v.answer = echoAnswer
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.conns = append(v.conns, c)
			v.mu.Unlock()
			go v.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, c := range v.conns {
			c.Close()
		}
	})
	return v
}

func (v *scriptVersion) URL() string { return "http://" + v.ln.Addr().String() }

func (v *scriptVersion) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		v.mu.Lock()
		v.paths = append(v.paths, r.URL.Path)
		v.mu.Unlock()
		a, closeAfter := strings.CutPrefix(v.answer(r, body), "CLOSE:")
		if _, err := io.WriteString(c, a); err != nil || closeAfter {
			return
		}
	}
}

func (v *scriptVersion) saw(path string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Contains(v.paths, path)
}

// echoAnswer answers 200 with what the version received: the request line, host, every header
// (sorted) and the body's length; X-For names the path, so a client can tell its own answer.
func echoAnswer(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s host=%s\n", r.Method, r.RequestURI, r.Host)
	var lines []string
	for name, values := range r.Header {
		for _, v := range values {
			lines = append(lines, name+": "+v)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "body=%d\n", len(body))
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nContent-Length: %d\r\n\r\n%s", r.URL.Path, b.Len(), b.String())
}

// scripted answers the paths of script with their raw bytes, and any other path with echoAnswer.
// An answer starting with "CLOSE:" is sent without that prefix, and then the connection closes.
func scripted(script map[string]string) func(r *http.Request, body []byte) string {
	return func(r *http.Request, body []byte) string {
		if a, ok := script[r.URL.Path]; ok {
			return a
		}
		return echoAnswer(r, body)
	}
}

// answer is one response a client read.
type answer struct {
	status int
	header http.Header
	body   string
}

// exchange writes data on a new connection and reads responses until the connection closes;
// 1xx responses are skipped. It reports the raw bytes too. A read error other than the end of
// the connection (a response cut short) ends the list.
func exchange(t *testing.T, addr, data string, head bool) ([]answer, string) {
	t.Helper()
	c := dialFront(t, addr)
	defer c.Close()
	go io.WriteString(c, data) // a server may refuse before it reads everything
	var rawBytes bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &rawBytes))
	var answers []answer
	for {
		req := &http.Request{Method: http.MethodGet}
		if head {
			req.Method = http.MethodHead
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the router neither answered nor closed the connection: got %q", rawBytes.String())
			}
			break
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 {
			answers = append(answers, answer{resp.StatusCode, resp.Header, string(body)})
		}
		if err != nil {
			break
		}
	}
	io.Copy(io.Discard, br)
	return answers, rawBytes.String()
}

func statuses(answers []answer) []int {
	var s []int
	for _, a := range answers {
		s = append(s, a.status)
	}
	return s
}

const okHead = "GET /ok HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"

type conformanceCase struct {
	name    string
	options Options
	// version answers requests; nil is echoAnswer for every path.
	version func(r *http.Request, body []byte) string
	send    string
	head    bool // the request is a HEAD: its answer has no body
	// want are the statuses of the answers, in order, after which the connection closes. On
	// the net/http path, which serves one request per connection, the first is enough.
	want []int
	// wantNet, when set, replaces want on the net/http path.
	wantNet []int
	// has and lacks are strings the answers (head and body, raw) must and must not contain.
	has, lacks []string
	// neverAsked are paths the version must never be asked for (a smuggled request).
	neverAsked []string
	// run replaces the send/want exchange for a case that needs several steps.
	run func(t *testing.T, addr string, v *scriptVersion, f conformanceFront)
}

func TestConformance(t *testing.T) {
	cases := append(conformanceCases(t), attackCases(t)...)
	for _, f := range conformanceFronts {
		t.Run(f.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
					t.Parallel()
					runConformance(t, f, tc)
				})
			}
		})
	}
}

// conformanceCases is the table. Its cases may use t's cleanup.
func conformanceCases(t *testing.T) []conformanceCase {
	bigHead := "GET / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX-Pad: " + strings.Repeat("a", 70<<10) + "\r\n\r\n0\r\n\r\n"
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
	tooManyLines := "GET / HTTP/1.1\r\nHost: app.test\r\n" + strings.Repeat("a:\r\n", 16000) + "\r\n"
	manyTokens := "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: " + strings.Repeat("a,", 15000) + "close\r\n" + strings.Repeat("X-H: 1\r\n", 100) + "\r\n"
	stolen := "HTTP/1.1 200 OK\r\nX-For: /stolen\r\nSet-Cookie: session=someone-else\r\nContent-Length: 6\r\n\r\nstolen"
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	short := Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond}

	cases := []conformanceCase{
		// Request framing.
		{name: "plain GET", send: okHead, want: []int{200}, has: []string{"GET /ok host=app.test"}},
		{name: "pipelined requests stay in order", send: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n" + okHead, want: []int{200, 200, 200}, has: []string{"X-For: /1"}},
		{name: "body with Content-Length", send: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", want: []int{200}, has: []string{"body=5"}},
		{name: "chunked body", send: "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;x=y\r\nhello\r\n0\r\n\r\n", want: []int{200}, has: []string{"body=5"}},
		{name: "HTTP/1.0", send: "GET /old HTTP/1.0\r\nHost: a\r\n\r\n", want: []int{200}},
		{name: "absolute-form target", send: "GET http://app.test/abs HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", want: []int{200}, has: []string{"X-For: /abs"}},
		{name: "Expect 100-continue", send: "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", want: []int{200}, has: []string{"body=2"}},

		// Smuggling attempts: refused whatever else the request carries.
		{name: "Content-Length and chunked", send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunked and Content-Length", send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE with Expect", send: "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE with Upgrade", send: "POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE with an absolute target", send: "POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and obs-folded TE", send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE in a head over 64 KB", send: bigHead + smuggled, want: []int{431}, neverAsked: []string{"/smuggled"}},
		{name: "TE with another coding", send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", want: []int{501}},
		{name: "TE twice", send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: []int{501}},
		{name: "TE in HTTP/1.0", send: "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: []int{400}},
		{name: "TE with a space before the colon", send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", want: []int{400}},
		{name: "two lengths", send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nhello", want: []int{400}},
		{name: "signed length", send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", want: []int{400}},
		{name: "bare CR in a header", send: "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rTransfer-Encoding: chunked\r\n\r\n", want: []int{400}},
		{name: "malformed chunk size", send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + smuggled, want: []int{400}, wantNet: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "HTTP/2 preface", send: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: []int{505}},
		{name: "CONNECT", send: "CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n", want: []int{405}},
		{name: "no Host", send: "GET / HTTP/1.1\r\n\r\n", want: []int{400}},
		{name: "invalid Host", send: "GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n", want: []int{400}},
		{name: "two Hosts", send: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", want: []int{400}},

		// Hop-by-hop and other headers.
		{name: "Connection-listed headers are dropped", send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, close\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nX-Keep: yes\r\n\r\n", want: []int{200}, has: []string{"X-Keep: yes"}, lacks: []string{"X-Secret", "Keep-Alive"}},
		{name: "Connection: Host keeps the Host", send: "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Host, close\r\n\r\n", want: []int{200}, has: []string{"host=app.test"}},
		{name: "names with underscores are dropped", send: "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nConnection: close\r\n\r\n", want: []int{200}, lacks: []string{"6.6.6.6", "X_Forwarded_For"}},
		{name: "forwarding headers are replaced", send: "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n", want: []int{200}, has: []string{"X-Forwarded-For: 127.0.0.1"}, lacks: []string{"6.6.6.6"}},

		// Limits: work and memory per head are bounded.
		{name: "too many header lines", send: tooManyLines, want: []int{431}},
		{name: "Connection listing thousands of names", send: manyTokens, want: []int{400}},
		{name: "head over 64 KB", send: "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 65<<10) + "\r\n\r\n", want: []int{431}},

		// Faulty versions: what they send beyond their framing never reaches another client.
		{name: "HEAD answered with a body", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen" + stolen}), head: true,
			send: "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}, lacks: []string{"stolen"}},
		{name: "204 followed by bytes", version: scripted(map[string]string{"/": "HTTP/1.1 204 No Content\r\n\r\n" + stolen}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{204}, lacks: []string{"stolen"}},
		{name: "304 followed by bytes", version: scripted(map[string]string{"/": "HTTP/1.1 304 Not Modified\r\n\r\n" + stolen}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{304}, lacks: []string{"stolen"}},
		{name: "204 with chunked framing", version: scripted(map[string]string{"/": "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{204}},
		{name: "body longer than its length", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + stolen}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}, lacks: []string{"stolen"}},
		{name: "body with no length", version: scripted(map[string]string{"/": "CLOSE:HTTP/1.1 200 OK\r\n\r\nuntil the end"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{200}, has: []string{"until the end"}},
		{name: "space in a response header name", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}, wantNet: []int{200}, lacks: []string{"Bad Name"}},
		{name: "CR in a response header name", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nX-A\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}, lacks: []string{"evil"}},
		{name: "control byte in a response header", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}},
		{name: "bare CR in the status line", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{502}, wantNet: []int{200}, lacks: []string{"evil"}},
		{name: "folded response header", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{502}, wantNet: []int{200}, lacks: []string{"\r\n b"}},
		{name: "response with length and chunked", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + stolen}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{502}, wantNet: []int{200}, lacks: []string{"stolen"}},
		{name: "status beyond 599", version: scripted(map[string]string{"/": "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{502}},
		{name: "response with two lengths", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}},
		{name: "unasked 101", version: scripted(map[string]string{"/": "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n" + stolen}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}, lacks: []string{"stolen"}},
		{name: "endless 1xx", version: scripted(map[string]string{"/": strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 20) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}},
		{name: "response head over 64 KB", version: scripted(map[string]string{"/": "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 65<<10) + "\r\nContent-Length: 0\r\n\r\n"}),
			send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{502}},

		// Time limits.
		{name: "version never answers", options: short, version: func(r *http.Request, body []byte) string {
			if r.URL.Path == "/" {
				<-never
			}
			return echoAnswer(r, body)
		}, send: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{504}},
		{name: "request body stalls", options: short, send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", want: []int{408}},
		{name: "chunked request body stalls", options: short, send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", want: []int{408}},

		// Steps.
		{name: "stray bytes a while after the answer", run: strayBytesLater},
		{name: "response body stalls", options: short, run: responseStalls},
		{name: "client stops reading", options: short, run: clientStopsReading},
		{name: "chunked response is streamed", run: streamedResponse},
		{name: "chunked upload is streamed", run: streamedUpload},
		{name: "WebSocket upgrade", run: webSocketUpgrade},
		{name: "connection cap closes idle connections", options: Options{MaxConns: 2}, run: connectionCap},
	}
	return cases
}

func runConformance(t *testing.T, f conformanceFront, tc conformanceCase) {
	v := startScriptVersion(t, tc.version)
	rt := New(tc.options)
	setRoutes(t, rt, Route{Version: "v1", URL: v.URL(), Weight: 100})
	addr := serveFront(t, rt, f)
	if tc.run != nil {
		tc.run(t, addr, v, f)
	} else {
		answers, raw := exchange(t, addr, tc.send, tc.head)
		want := tc.want
		if f.handOffAll {
			if tc.wantNet != nil {
				want = tc.wantNet
			}
			want = want[:1] // net/http serves one request per handed-off connection
		}
		if got := statuses(answers); !slices.Equal(got, want) {
			t.Errorf("answers %v, want %v then the connection closed; got\n%q", got, want, limit(raw))
		}
		for _, s := range tc.has {
			if !strings.Contains(raw, s) {
				t.Errorf("the answer lacks %q:\n%q", s, limit(raw))
			}
		}
		for _, s := range tc.lacks {
			if strings.Contains(raw, s) {
				t.Errorf("the answer has %q:\n%q", s, limit(raw))
			}
		}
		for _, p := range tc.neverAsked {
			if v.saw(p) {
				t.Errorf("the version was asked for %s, which was smuggled in a body", p)
			}
		}
	}
	// Whatever happened, the next client gets its own answer.
	for i := range 3 {
		path := fmt.Sprintf("/next-%d", i)
		answers, raw := exchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", false)
		if len(answers) != 1 || answers[0].status != 200 || answers[0].header.Get("X-For") != path {
			t.Fatalf("the next client, asking for %s, got\n%q", path, limit(raw))
		}
	}
}

func limit(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// strayBytesLater: a version sends a whole extra response after its answer, once the client
// has that answer. The next client, on another connection, must get its own answer.
func strayBytesLater(t *testing.T, addr string, _ *scriptVersion, f conformanceFront) {
	answered := make(chan struct{})
	strayed := make(chan struct{})
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-For: "+r.URL.Path+"\r\nContent-Length: 2\r\n\r\nok")
		if r.URL.Path == "/first" {
			<-answered
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-For: /stolen\r\nContent-Length: 6\r\n\r\nstolen")
			close(strayed)
		}
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-For: "+r.URL.Path+"\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	addr = frontFor(t, f, Options{}, v)
	answers, raw := exchange(t, addr, "GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false)
	if len(answers) != 1 || answers[0].header.Get("X-For") != "/first" {
		t.Fatalf("first client got %q", raw)
	}
	close(answered)
	<-strayed
	for i := range 3 {
		path := fmt.Sprintf("/second-%d", i)
		answers, raw = exchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false)
		if len(answers) != 1 || answers[0].status != 200 || answers[0].header.Get("X-For") != path {
			t.Fatalf("the client asking for %s got\n%q", path, raw)
		}
	}
}

// startRawVersion serves each connection with handle, and returns the version's URL.
func startRawVersion(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// responseStalls: the version sends half its body and then nothing; the client's connection
// must close, its answer cut short.
func responseStalls(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
		io.Copy(io.Discard, br) // until the router closes the connection
	})
	addr := frontFor(t, f, Options{UpstreamTimeout: 300 * time.Millisecond}, v)
	c := dialFront(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the router neither finished nor closed: %v, got %q", err, got)
	}
	// The fast path has sent the head and the 5 bytes; net/http sends nothing of an answer it
	// could not finish. Either way the connection closes, and no full answer arrives.
	if len(got) > 0 && (!strings.HasPrefix(string(got), "HTTP/1.1 200") || !strings.HasSuffix(string(got), "hello")) {
		t.Errorf("got %q, want the head and the 5 bytes sent, then the connection closed", got)
	}
}

// clientStopsReading: a client asks for a large response and reads none of it; the router must
// give up on it and close the version's connection too.
func clientStopsReading(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	writeFailed := make(chan error, 1)
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		const size = 1 << 30
		io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size))
		block := make([]byte, 64<<10)
		for written := 0; written < size; written += len(block) {
			if _, err := c.Write(block); err != nil {
				writeFailed <- err
				return
			}
		}
		writeFailed <- nil
	})
	addr := frontFor(t, f, Options{ClientTimeout: 300 * time.Millisecond}, v)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	select {
	case err := <-writeFailed:
		if err == nil {
			t.Fatal("the version wrote 1 GB to a client that read nothing")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the router still holds the version's connection for a client that stopped reading")
	}
}

// streamedResponse: each chunk of a chunked response reaches the client before the version
// sends the next.
func streamedResponse(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	next := make(chan struct{})
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		for i := range 3 {
			fmt.Fprintf(c, "%x\r\ndata: %d\n\n\r\n", len(fmt.Sprintf("data: %d\n\n", i)), i)
			select {
			case <-next:
			case <-time.After(30 * time.Second):
				return
			}
		}
		io.WriteString(c, "0\r\n\r\n")
	})
	addr := frontFor(t, f, Options{}, v)
	c := dialFront(t, addr)
	io.WriteString(c, "GET /events HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d did not arrive before the next was sent: %v", i, err)
		}
		if want := fmt.Sprintf("data: %d\n", i); line != want {
			t.Fatalf("got %q, want %q", line, want)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
}

// streamedUpload: each chunk of a chunked request body reaches the version before the client
// sends the next.
func streamedUpload(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	got := make(chan string, 3)
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	addr := frontFor(t, f, Options{}, v)
	c := dialFront(t, addr)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	for i := range 3 {
		part := fmt.Sprintf("part %d;", i)
		fmt.Fprintf(c, "%x\r\n%s\r\n", len(part), part)
		select {
		case s := <-got:
			if s != part {
				t.Fatalf("version got %q, want %q", s, part)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("chunk %d did not reach the version before the next was sent", i)
		}
	}
	io.WriteString(c, "0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("answer %v: %v", resp, err)
	}
}

// connectionCap: with MaxConns 2 and two idle keep-alive connections, a third client is still
// served: the router closes an idle connection to make room.
func connectionCap(t *testing.T, addr string, _ *scriptVersion, f conformanceFront) {
	if f.handOffAll {
		t.Skip("the net/http path closes each connection after one request: none stays idle")
	}
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("answer %v: %v", resp, err)
		}
		idle = append(idle, c)
	}
	answers, raw := exchange(t, addr, okHead, false)
	if len(answers) != 1 || answers[0].status != 200 {
		t.Fatalf("a third client at the cap got %q", raw)
	}
	closed := make(chan struct{}, len(idle))
	for _, c := range idle {
		go func() {
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed <- struct{}{}
			}
		}()
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Error("no idle connection was closed to make room")
	}
}

// webSocketUpgrade: an upgrade goes through, and then bytes flow both ways on the tunnel.
func webSocketUpgrade(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		r, err := http.ReadRequest(br)
		if err != nil || r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		io.Copy(c, br) // echo
	})
	addr := frontFor(t, f, Options{}, v)
	c := dialFront(t, addr)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %v: %v", resp, err)
	}
	if strings.Contains(strings.ToLower(resp.Header.Get("Connection")), "close") {
		t.Errorf("the 101 says Connection: %s", resp.Header.Get("Connection"))
	}
	for _, msg := range []string{"ping", "pong"} {
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("tunnel echoed %q, %v; want %q", got, err, msg)
		}
	}
}

// frontFor serves a new router with opts on front f, in front of the version at url.
func frontFor(t *testing.T, f conformanceFront, opts Options, url string) string {
	t.Helper()
	rt := New(opts)
	setRoutes(t, rt, Route{Version: "v1", URL: url, Weight: 100})
	return serveFront(t, rt, f)
}

// dialFront connects to addr, with a deadline generous enough for a loaded machine.
func dialFront(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}
