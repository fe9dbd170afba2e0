package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lie is one way a version's response can say one thing about its length and do another.
type lie byte

const (
	lieNone         lie = iota // exactly what its Content-Length says
	lieLonger                  // more bytes than its Content-Length: a whole response extra
	lieHeadBody                // a body after the answer to HEAD
	lie204Body                 // bytes after a 204
	lie304Body                 // bytes after a 304
	lieChunkedExtra            // bytes after the last chunk
	lieCloseDelim              // no length: ends when the connection closes
	lieShorter                 // fewer bytes than its Content-Length, then the connection closes
	lies
)

const stolenAnswer = "HTTP/1.1 200 OK\r\nX-For: /stolen\r\nContent-Length: 6\r\n\r\nstolen"

// lyingVersion answers each request it reads with the next lie of its script, and reports the
// path in X-For.
type lyingVersion struct {
	mu     sync.Mutex
	script []lie
}

func (v *lyingVersion) next() lie {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.script) == 0 {
		return lieNone
	}
	l := v.script[0]
	v.script = v.script[1:]
	return l
}

func (v *lyingVersion) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r.Body)
		p := r.URL.Path
		body := "body of " + p
		var out string
		closeAfter := false
		switch v.next() {
		case lieNone:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nContent-Length: %d\r\n\r\n%s", p, len(body), body)
		case lieLonger:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nContent-Length: %d\r\n\r\n%s%s", p, len(body), body, stolenAnswer)
		case lieHeadBody:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nContent-Length: %d\r\n\r\n%s%s", p, len(body), body, stolenAnswer)
		case lie204Body:
			out = fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-For: %s\r\n\r\n%s", p, stolenAnswer)
		case lie304Body:
			out = fmt.Sprintf("HTTP/1.1 304 Not Modified\r\nX-For: %s\r\n\r\n%s", p, stolenAnswer)
		case lieChunkedExtra:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s", p, len(body), body, stolenAnswer)
		case lieCloseDelim:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\n\r\n%s", p, body)
			closeAfter = true
		case lieShorter:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-For: %s\r\nContent-Length: %d\r\n\r\n%s", p, len(body)+10, body)
			closeAfter = true
		}
		if _, err := io.WriteString(c, out); err != nil || closeAfter {
			return
		}
	}
}

// FuzzPoolLies drives the fast path's connection pool with a version whose responses lie about
// their length, in any order, to clients one after another on new connections. Whatever the
// lies, a client gets its own answer (perhaps cut short), a 5xx or a closed connection: never
// bytes meant for another request.
func FuzzPoolLies(f *testing.F) {
	for _, seed := range []string{"\x00\x01\x00", "\x02\x00\x03\x00\x04\x00", "\x05\x05\x00\x06\x07\x00", "\x01\x01\x01\x01"} {
		f.Add([]byte(seed))
	}
	v := &lyingVersion{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go v.serve(c)
		}
	}()
	rt := New(Options{})
	if err := rt.SetRoutes([]Route{{Version: "v1", URL: "http://" + ln.Addr().String(), Weight: 100}}); err != nil {
		f.Fatal(err)
	}
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer front.Close()
	go rt.ServeFast(front)
	addr := front.Addr().String()

	var round int
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16 {
			data = data[:16]
		}
		script := make([]lie, len(data))
		for i, b := range data {
			script[i] = lie(b) % lies
		}
		v.mu.Lock()
		v.script = script
		v.mu.Unlock()
		round++
		for i, l := range script {
			path := fmt.Sprintf("/r%d-%d", round, i)
			method := http.MethodGet
			if l == lieHeadBody {
				method = http.MethodHead
			}
			checkOwnAnswer(t, addr, method, path)
		}
		// Once the lies are over, the pool must give clean answers again.
		checkOwnAnswer(t, addr, http.MethodGet, fmt.Sprintf("/r%d-after", round))
	})
}

// checkOwnAnswer sends one request on a new connection and fails if the answer is another
// request's.
func checkOwnAnswer(t *testing.T, addr, method, path string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", method, path)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return // a closed connection is a fair answer to a lying version
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		return
	}
	if got := resp.Header.Get("X-For"); got != path || strings.Contains(string(body), "stolen") {
		t.Fatalf("%s %s got the answer for %s: %d %q", method, path, got, resp.StatusCode, body)
	}
}
