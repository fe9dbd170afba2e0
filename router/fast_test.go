package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/router/internal/http1"
)

// fastFront serves rt with ServeFast on 127.0.0.1 and returns its address and a keep-alive
// client for it. Cleanup closes the listener and checks ServeFast returned nil.
func fastFront(t *testing.T, rt *Router) (string, *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- rt.ServeFast(ln) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ln.Close()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("ServeFast returned %v, want nil after the listener closed", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ServeFast did not return after the listener closed")
		}
	})
	return ln.Addr().String(), client
}

// raw sends data on a new connection and returns everything the server sends until it closes.
func raw(t *testing.T, addr, data string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, data); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer to %q: %v", data, err)
	}
	return string(out)
}

// trackedUpstream starts a version answering name that reports its connections' states.
func trackedUpstream(t *testing.T, name string, state func(http.ConnState)) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", name)
		io.WriteString(w, name)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) { state(s) }
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestFastWeightedSplit(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"canary 10", []int{90, 10}},
		{"three versions", []int{20, 30, 50}},
		{"one version with weight 0", []int{0, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := New(Options{})
			var routes []Route
			for i, w := range tt.weights {
				name := fmt.Sprintf("v%d", i)
				routes = append(routes, Route{Version: name, URL: upstream(t, name, nil).URL, Weight: w})
			}
			setRoutes(t, rt, routes...)
			addr, client := fastFront(t, rt)

			// One client in sequence: every cycle of 100 requests hits each version exactly its
			// weight's number of times.
			const n = 500
			counts := map[string]int{}
			for range n {
				status, version, body := get(t, client, "http://"+addr+"/", nil)
				if status != http.StatusOK || body != version {
					t.Fatalf("status %d body %q from %q", status, body, version)
				}
				counts[version]++
			}
			for i, w := range tt.weights {
				if got, want := counts[fmt.Sprintf("v%d", i)], n*w/100; got != want {
					t.Errorf("v%d got %d requests, want %d", i, got, want)
				}
			}
		})
	}
}

func TestFastKeepAlive(t *testing.T) {
	var upstreamConns atomic.Int64
	up := trackedUpstream(t, "v1", func(s http.ConnState) {
		if s == http.StateNew {
			upstreamConns.Add(1)
		}
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up, Weight: 100})
	addr, _ := fastFront(t, rt)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 20 {
		fmt.Fprintf(c, "GET /n/%d HTTP/1.1\r\nHost: example.test\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one connection: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "v1" || resp.Close {
			t.Fatalf("request %d: status %d body %q close %v", i, resp.StatusCode, body, resp.Close)
		}
	}
	if n := upstreamConns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d connections to the version, want 1", n)
	}
}

func TestFastBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MB
	// The version answers the length and hash of the body it got, then, when asked, a large or
	// streamed (chunked) body of its own.
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Got", fmt.Sprintf("%d %s %v", len(body), sum(body), r.TransferEncoding))
		switch r.URL.Query().Get("answer") {
		case "big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		case "chunked":
			for i := 0; i < len(big); i += 100_000 {
				w.Write(big[i:min(i+100_000, len(big))])
				w.(http.Flusher).Flush()
			}
		case "trailer":
			w.Header().Set("Trailer", "X-Sum")
			w.Write(big[:1000])
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", sum(big[:1000]))
		}
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, client := fastFront(t, rt)

	tests := []struct {
		name      string
		body      []byte
		chunked   bool // send the body without a length
		answer    string
		wantBody  []byte
		wantChunk bool
	}{
		{"no body", nil, false, "", nil, false},
		{"small body", []byte("hello"), false, "", nil, false},
		{"1 MB request", big, false, "", nil, false},
		{"chunked request", big[:70_000], true, "", nil, false},
		{"1 MB chunked request", big, true, "", nil, false},
		{"1 MB response", nil, false, "big", big, false},
		{"chunked response", nil, false, "chunked", big, true},
		{"1 MB both ways, chunked", big, true, "chunked", big, true},
		{"trailers", nil, false, "trailer", big[:1000], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: the client sends it chunked
			}
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/?answer="+tt.answer, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			wantTE := "[]"
			if tt.chunked {
				wantTE = "[chunked]"
			}
			if want := fmt.Sprintf("%d %s %s", len(tt.body), sum(tt.body), wantTE); resp.Header.Get("X-Got") != want {
				t.Errorf("version got %q, want %q", resp.Header.Get("X-Got"), want)
			}
			if !bytes.Equal(got, tt.wantBody) {
				t.Errorf("client got %d bytes (%s), want %d (%s)", len(got), sum(got), len(tt.wantBody), sum(tt.wantBody))
			}
			if chunked := len(resp.TransferEncoding) > 0; chunked != tt.wantChunk {
				t.Errorf("response chunked = %v, want %v", chunked, tt.wantChunk)
			}
			if tt.answer == "trailer" && resp.Trailer.Get("X-Sum") != sum(big[:1000]) {
				t.Errorf("trailer X-Sum = %q, want the body's hash", resp.Trailer.Get("X-Sum"))
			}
		})
	}
}

func TestFastNoBody(t *testing.T) {
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, _ := fastFront(t, rt)

	tests := []struct {
		name, method, path string
		status             int
		contentLength      string
	}{
		{"HEAD", http.MethodHead, "/", 200, "5"},
		{"204", http.MethodGet, "/204", 204, ""},
		{"304", http.MethodGet, "/304", 304, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			// The bodyless answer, then a GET on the same connection: if the router sent any body
			// bytes, the second response would not parse.
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", tt.method, tt.path)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Length") != tt.contentLength {
				t.Errorf("status %d Content-Length %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Length"), tt.status, tt.contentLength)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("next request on the connection: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if string(body) != "hello" {
				t.Errorf("next request got %q, want hello", body)
			}
		})
	}
}

func TestFastRetry(t *testing.T) {
	t.Run("version refuses the connection", func(t *testing.T) {
		rt := New(Options{})
		setRoutes(t, rt,
			Route{Version: "gone", URL: closedPort(t), Weight: 50},
			Route{Version: "live", URL: upstream(t, "live", nil).URL, Weight: 50})
		addr, client := fastFront(t, rt)
		for range 20 {
			if status, version, _ := get(t, client, "http://"+addr+"/", nil); status != 200 || version != "live" {
				t.Fatalf("status %d from %q, want 200 from live", status, version)
			}
		}
		if w := rt.Window("gone", time.Minute); w.Requests != 0 {
			t.Errorf("gone counted %d requests, want 0: retried requests count where they ended", w.Requests)
		}
		if n := rt.InFlight("gone") + rt.InFlight("live"); n != 0 {
			t.Errorf("%d requests still counted in flight", n)
		}
	})
	t.Run("version closed the pooled connection", func(t *testing.T) {
		up := upstream(t, "v1", nil)
		rt := New(Options{})
		setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
		addr, client := fastFront(t, rt)
		for i := range 10 {
			if status, _, _ := get(t, client, "http://"+addr+"/", nil); status != 200 {
				t.Fatalf("request %d: status %d", i, status)
			}
			up.CloseClientConnections() // the router's pooled connection is now dead
		}
	})
	t.Run("POST after the version closed an old pooled connection", func(t *testing.T) {
		up := upstream(t, "v1", nil)
		rt := New(Options{})
		setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
		addr, client := fastFront(t, rt)
		for i := range 2 {
			resp, err := client.Post("http://"+addr+"/", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("POST %d: status %d", i, resp.StatusCode)
			}
			up.CloseClientConnections()
			// A POST cannot be retried: it must not go out on a connection idle this long.
			time.Sleep(fastFreshIdle + 100*time.Millisecond)
		}
	})
	t.Run("version closes every connection after answering", func(t *testing.T) {
		// A version that does not say "Connection: close" but hangs up after each response: the
		// router only finds out when it reuses the connection.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}()
			}
		}()
		rt := New(Options{})
		setRoutes(t, rt, Route{Version: "v1", URL: "http://" + ln.Addr().String(), Weight: 100})
		addr, client := fastFront(t, rt)
		for i := range 20 {
			if status, _, body := get(t, client, "http://"+addr+"/", nil); status != 200 || body != "ok" {
				t.Fatalf("request %d: status %d body %q", i, status, body)
			}
		}
	})
	t.Run("no live version", func(t *testing.T) {
		rt := New(Options{})
		addr, client := fastFront(t, rt)
		if status, _, _ := get(t, client, "http://"+addr+"/", nil); status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", status)
		}
	})
	t.Run("only version down", func(t *testing.T) {
		rt := New(Options{})
		setRoutes(t, rt, Route{Version: "gone", URL: closedPort(t), Weight: 100})
		addr, client := fastFront(t, rt)
		if status, _, _ := get(t, client, "http://"+addr+"/", nil); status != http.StatusBadGateway {
			t.Errorf("status %d, want 502", status)
		}
		if w := rt.Window("gone", time.Minute); w.Requests != 1 || w.Errors != 1 {
			t.Errorf("window %+v, want 1 request, 1 error", w)
		}
	})
}

func TestFastMalformed(t *testing.T) {
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: upstream(t, "v1", nil).URL, Weight: 100})
	addr, _ := fastFront(t, rt)
	tests := []struct{ name, request string }{
		{"garbage", "hello\r\n\r\n"},
		{"no target", "GET HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"bad protocol", "GET / HTTQ/1.1\r\nHost: x\r\n\r\n"},
		{"no host", "GET / HTTP/1.1\r\n\r\n"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"space in header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n"},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
		{"line folding", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
		{"bad content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
		{"two content lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"},
		{"control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := raw(t, addr, tt.request)
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("answer %q, want a 400 and the connection closed", got)
			}
		})
	}
	if w := rt.Window("v1", time.Minute); w.Errors != 0 {
		t.Errorf("malformed requests counted %d errors against the version", w.Errors)
	}
}

func TestFastHeaders(t *testing.T) {
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Drop-Me")
		w.Header().Set("X-Drop-Me", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprintf(w, "host=%s xff=%s xfh=%s xfp=%s fwd=%q drop=%q keep=%s ua=%q",
			r.Host, r.Header.Values("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"), r.Header.Get("X-Hop"),
			r.Header.Get("X-Keep"), r.UserAgent())
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, _ := fastFront(t, rt)
	got := raw(t, addr, "GET /x HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"Forwarded: for=6.6.6.6\r\nConnection: X-Hop, close\r\nX-Hop: secret\r\nX-Keep: yes\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("answer %q: %v", got, err)
	}
	body, _ := io.ReadAll(resp.Body)
	want := `host=app.example xff=[127.0.0.1] xfh=app.example xfp=http fwd="" drop="" keep=yes ua=""`
	if string(body) != want {
		t.Errorf("version saw\n%s\nwant\n%s", body, want)
	}
	for _, h := range []string{"X-Drop-Me", "Keep-Alive"} {
		if resp.Header.Get(h) != "" {
			t.Errorf("hop-by-hop response header %s reached the client", h)
		}
	}
	if !resp.Close {
		t.Error("the client asked for Connection: close; the answer should say so")
	}
}

func TestFastHandOff(t *testing.T) {
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.Proto, len(body))
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, client := fastFront(t, rt)

	t.Run("HTTP/1.0", func(t *testing.T) {
		got := raw(t, addr, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.0 200") || !strings.HasSuffix(got, "GET HTTP/1.1 0") {
			t.Errorf("answer %q", got)
		}
	})
	t.Run("Expect 100-continue", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/", strings.NewReader("12345"))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "PUT HTTP/1.1 5" {
			t.Errorf("body %q", body)
		}
	})
	t.Run("huge head is refused, not handed off", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	if w := rt.Window("v1", time.Minute); w.Requests != 2 {
		t.Errorf("window counted %d requests, want 2: handed-off requests count too", w.Requests)
	}
}

func TestFastSticky(t *testing.T) {
	rt := New(Options{Sticky: true})
	setRoutes(t, rt,
		Route{Version: "old", URL: upstream(t, "old", nil).URL, Weight: 50},
		Route{Version: "new", URL: upstream(t, "new", nil).URL, Weight: 50})
	addr, client := fastFront(t, rt)
	jar, _ := cookiejar.New(nil)
	client.Jar = jar
	_, first, _ := get(t, client, "http://"+addr+"/", nil)
	for range 20 {
		if _, v, _ := get(t, client, "http://"+addr+"/", nil); v != first {
			t.Fatalf("sticky client moved from %s to %s", first, v)
		}
	}
	// The header wins over the cookie while its version is routed.
	other := map[string]string{"old": "new", "new": "old"}[first]
	if _, v, _ := get(t, client, "http://"+addr+"/", http.Header{VersionHeader: {other}}); v != other {
		t.Errorf("X-Sluice-Version %s reached %s", other, v)
	}
}

func TestFastMetrics(t *testing.T) {
	type result struct {
		version string
		status  int
	}
	var mu sync.Mutex
	var results []result
	rt := New(Options{OnResult: func(v string, status int, _ time.Duration) {
		mu.Lock()
		results = append(results, result{v, status})
		mu.Unlock()
	}})
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, client := fastFront(t, rt)
	for _, code := range []int{200, 404, 500, 503, 200} {
		if status, _, _ := get(t, client, fmt.Sprintf("http://%s/%d", addr, code), nil); status != code {
			t.Fatalf("status %d, want %d", status, code)
		}
	}
	w := rt.Window("v1", time.Minute)
	if w.Requests != 5 || w.Errors != 2 {
		t.Errorf("window %d requests %d errors, want 5 and 2", w.Requests, w.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []result{{"v1", 200}, {"v1", 404}, {"v1", 500}, {"v1", 503}, {"v1", 200}}
	if fmt.Sprint(results) != fmt.Sprint(want) {
		t.Errorf("OnResult got %v, want %v", results, want)
	}
	var buf bytes.Buffer
	if err := rt.WriteMetrics(&buf, "test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `version="v1"`) {
		t.Errorf("metrics do not mention v1:\n%s", buf.String())
	}
}

func TestFastDrain(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := upstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "slow", URL: slow.URL, Weight: 100})
	addr, client := fastFront(t, rt)

	answered := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			answered <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- string(body)
	}()
	<-entered
	setRoutes(t, rt, Route{Version: "next", URL: upstream(t, "next", nil).URL, Weight: 100})
	if n := rt.InFlight("slow"); n != 1 {
		t.Fatalf("InFlight(slow) = %d, want 1", n)
	}
	drained := make(chan error, 1)
	go func() { drained <- rt.Drain(context.Background(), "slow") }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := <-answered; got != "slow" {
		t.Errorf("in-flight request got %q, want it to finish on slow", got)
	}
}

func TestFastRemovedVersionConnsClosed(t *testing.T) {
	var open atomic.Int64
	up := trackedUpstream(t, "v1", func(s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up, Weight: 100})
	addr, client := fastFront(t, rt)
	if status, _, _ := get(t, client, "http://"+addr+"/", nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if n := open.Load(); n != 1 {
		t.Fatalf("%d connections open to the version, want 1 pooled", n)
	}
	setRoutes(t, rt, Route{Version: "v2", URL: upstream(t, "v2", nil).URL, Weight: 100})
	deadline := time.Now().Add(10 * time.Second)
	for open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pooled connection to a removed version stayed open")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFastSetRoutesUnderLoad shifts traffic back and forth while clients send requests: with
// every version up, no request may fail.
func TestFastSetRoutesUnderLoad(t *testing.T) {
	a := upstream(t, "a", nil).URL
	b := upstream(t, "b", nil).URL
	rt := New(Options{})
	splits := [][]Route{
		{{Version: "a", URL: a, Weight: 100}},
		{{Version: "a", URL: a, Weight: 50}, {Version: "b", URL: b, Weight: 50}},
		{{Version: "b", URL: b, Weight: 100}},
		{{Version: "a", URL: a, Weight: 10}, {Version: "b", URL: b, Weight: 90}},
	}
	setRoutes(t, rt, splits[0]...)
	addr, client := fastFront(t, rt)

	var failed atomic.Int64
	var errs sync.Map
	stop := make(chan struct{})
	var shifts sync.WaitGroup
	shifts.Add(1)
	go func() {
		defer shifts.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := rt.SetRoutes(splits[i%len(splits)]); err != nil {
				errs.Store("SetRoutes", err)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var clients sync.WaitGroup
	for c := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := range 300 {
				resp, err := client.Get(fmt.Sprintf("http://%s/%d/%d", addr, c, i))
				if err != nil {
					failed.Add(1)
					errs.Store(err.Error(), err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (string(body) != "a" && string(body) != "b") {
					failed.Add(1)
					errs.Store(fmt.Sprintf("status %d body %q", resp.StatusCode, body), nil)
				}
			}
		}()
	}
	clients.Wait()
	close(stop)
	shifts.Wait()
	if n := failed.Load(); n != 0 {
		errs.Range(func(k, _ any) bool { t.Errorf("failure: %v", k); return true })
		t.Fatalf("%d of 1200 requests failed while routes changed", n)
	}
	if n := rt.InFlight("a") + rt.InFlight("b"); n != 0 {
		t.Errorf("%d requests still counted in flight", n)
	}
}

// BenchmarkServeFast is BenchmarkRouter served by ServeFast instead of net/http.
func BenchmarkServeFast(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	rt := New(Options{})
	if err := rt.SetRoutes([]Route{{Version: "a", URL: up.URL, Weight: 90}, {Version: "b", URL: up.URL, Weight: 10}}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go rt.ServeFast(ln)
	benchmarkGet(b, "http://"+ln.Addr().String()+"/")
}

// BenchmarkFastConn measures the fast path's own work per request on one client connection,
// with a raw client, so its allocations are the router's and the upstream's only.
func BenchmarkFastConn(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	rt := New(Options{})
	if err := rt.SetRoutes([]Route{{Version: "a", URL: up.URL, Weight: 100}}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go rt.ServeFast(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: app.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	var head []byte
	var resp http1.Response
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		head, err := http1.ReadHead(br, head[:0])
		if err != nil {
			b.Fatal(err)
		}
		if err := resp.Parse(head); err != nil || resp.Status != 200 {
			b.Fatalf("status %d: %v", resp.Status, err)
		}
		if _, err := br.Discard(int(resp.ContentLength)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFastShutdown closes the listener with one request in flight and one idle connection: the
// request finishes, the idle connection closes, and then ServeFast returns nil.
func TestFastShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "v1")
	})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- rt.ServeFast(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)

	slow := make(chan string, 1)
	go func() {
		// Not raw: t.Fatal must not run on this goroutine.
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			slow <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		got, err := io.ReadAll(c)
		if err != nil {
			slow <- err.Error()
			return
		}
		slow <- string(got)
	}()
	<-entered
	ln.Close()
	if _, err := br.ReadByte(); err == nil {
		t.Error("the idle connection got bytes instead of being closed")
	}
	select {
	case err := <-served:
		t.Fatalf("ServeFast returned %v with a request in flight", err)
	default:
	}
	close(release)
	if got := <-slow; !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.HasSuffix(got, "v1") {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("ServeFast returned %v, want nil", err)
	}
}

// A client still sending a head the router refused gets the refusal, not a reset: the router
// closes the way nginx does, shutting its side and reading what keeps coming for a moment, so
// a client that writes its whole request before reading (as net/http's does) sees the answer.
func TestRefusalSurvivesAClientStillSending(t *testing.T) {
	up := upstream(t, "v1", func(w http.ResponseWriter, r *http.Request) {})
	rt := New(Options{})
	setRoutes(t, rt, Route{Version: "v1", URL: up.URL, Weight: 100})
	addr, _ := fastFront(t, rt)
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		// More than the kernel buffers hold on the way: the write completes only if the router
		// reads past the point where it refused the head.
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 6<<20)
		if _, err := c.Write([]byte(head)); err != nil {
			c.Close()
			t.Fatalf("attempt %d: writing the request failed, as it does against a server that resets: %v", i, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("attempt %d: the refusal was lost: %v", i, err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("attempt %d: status %d, want 431", i, resp.StatusCode)
		}
	}
}

// countingConn counts the read deadlines set on it.
type countingConn struct {
	net.Conn
	deadlines []time.Time
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return c.Conn.SetReadDeadline(t)
}

// A run of requests waited for with the same timeout arms the timer once; a different wait, or
// a read with a timeout of its own, arms its own deadline.
func TestTimedConnArmsDeadlinesOnlyWhenTheyMove(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	cc := &countingConn{Conn: a}
	clock := newCoarseClock()
	start := time.Now()
	clock.set(start)
	c := newTimedConn(cc, clock, 0, 0)

	c.readWithin(fastIdleTimeout)
	c.readWithin(fastIdleTimeout)
	clock.set(start.Add(fastIdleTimeout / 128)) // within the slack: still the same deadline
	c.readWithin(fastIdleTimeout)
	if len(cc.deadlines) != 1 || !cc.deadlines[0].Equal(start.Add(fastIdleTimeout)) {
		t.Fatalf("three idle waits set deadlines %v, want one, at %v", cc.deadlines, start.Add(fastIdleTimeout))
	}
	clock.set(start.Add(fastIdleTimeout / 32)) // beyond it: moved
	c.readWithin(fastIdleTimeout)
	if len(cc.deadlines) != 2 {
		t.Fatalf("an idle wait a 32nd of the timeout later set %d deadlines, want 2", len(cc.deadlines))
	}
	c.readWithin(10 * time.Second)
	if len(cc.deadlines) != 3 || !cc.deadlines[2].Equal(start.Add(fastIdleTimeout/32+10*time.Second)) {
		t.Fatalf("a head's deadline after an idle wait: %v", cc.deadlines)
	}

	// A timed read arms its own deadline, whatever the caller armed before.
	c.readTimeout = 30 * time.Second
	b.Close() // the pipe's read returns at once, at its end
	cc.deadlines = nil
	c.Read(make([]byte, 1))
	if len(cc.deadlines) != 1 || !cc.deadlines[0].Equal(start.Add(fastIdleTimeout/32+30*time.Second)) {
		t.Fatalf("a timed read after the caller's deadline set %v, want one deadline 30s on", cc.deadlines)
	}
	c.readWithin(fastIdleTimeout)
	if len(cc.deadlines) != 2 {
		t.Fatalf("an idle wait after a timed read set %d deadlines, want 2", len(cc.deadlines))
	}
}

// The coarse clock serves durations long enough for its lag not to matter, the system clock
// the others.
func TestCoarseClockServesOnlyLongDurations(t *testing.T) {
	clock := newCoarseClock()
	past := time.Now().Add(-time.Hour)
	clock.set(past)
	if got := clock.now(fastIdleTimeout); !got.Equal(past) {
		t.Fatalf("now for %v: %v, want the coarse %v", fastIdleTimeout, got, past)
	}
	if got := clock.now(300 * time.Millisecond); got.Sub(past) < 59*time.Minute {
		t.Fatalf("now for 300ms: %v, want the system clock's", got)
	}
	var none *coarseClock
	if got := none.now(fastIdleTimeout); got.Sub(past) < 59*time.Minute {
		t.Fatalf("now without a coarse clock: %v, want the system clock's", got)
	}
}
