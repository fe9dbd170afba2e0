package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// More of the conformance table: variations of each class of hostile request and faulty
// version, as a client trying them from outside would send them, so what holds for the first
// spelling of a trick holds for the next. Run with the rest of the table, on both paths.

func attackCases(t *testing.T) []conformanceCase {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
	post := func(header, body string) string {
		return "POST /p HTTP/1.1\r\nHost: a\r\n" + header + "\r\n" + body
	}
	get := func(header string) string {
		return "GET /g HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + header + "\r\n"
	}
	closing := "Connection: close\r\n"
	stolen := "HTTP/1.1 200 OK\r\nX-For: /stolen\r\nContent-Length: 6\r\n\r\nstolen"
	short := Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond}
	respond := func(raw string) func(r *http.Request, body []byte) string {
		return scripted(map[string]string{"/ok": raw})
	}
	cases := []conformanceCase{
		// Content-Length and Transfer-Encoding, in other spellings.
		{name: "CL and TE: Chunked", send: post("Content-Length: 4\r\nTransfer-Encoding: Chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: tab before chunked", send: post("Content-Length: 4\r\nTransfer-Encoding:\tchunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: lower-case names", send: post("content-length: 4\r\ntransfer-encoding: chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: chunked, identity", send: post("Content-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: identity", send: post("Content-Length: 4\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: xchunked", send: post("Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: empty coding", send: post("Content-Length: 4\r\nTransfer-Encoding: \r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: chunked with a NUL", send: post("Content-Length: 4\r\nTransfer-Encoding: chunked\x00\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE: tab before the colon", send: post("Content-Length: 4\r\nTransfer-Encoding\t: chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "TE chunked and a trailing comma", send: post("Transfer-Encoding: chunked,\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "TE quoted chunked", send: post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},

		// Content-Length spellings.
		{name: "two equal lengths", send: post("Content-Length: 5\r\nContent-Length: 5\r\n"+closing, "hello"), want: []int{200}, has: []string{"body=5"}},
		{name: "length with leading zeros", send: post("Content-Length: 0005\r\n"+closing, "hello"), want: []int{200}, has: []string{"body=5"}},
		{name: "length as a list", send: post("Content-Length: 5, 5\r\n", "hello"), want: []int{400}},
		{name: "negative length", send: post("Content-Length: -5\r\n", "hello"), want: []int{400}},
		{name: "hex length", send: post("Content-Length: 0x5\r\n", "hello"), want: []int{400}},
		{name: "empty length", send: post("Content-Length: \r\n", "hello"), want: []int{400}},
		{name: "length with a space inside", send: post("Content-Length: 5 5\r\n", "hello"), want: []int{400}},
		{name: "length over 2^63", send: post("Content-Length: 99999999999999999999\r\n", "hello"), want: []int{400}},
		{name: "length zero and a request in the body", send: post("Content-Length: 0\r\n", "GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), want: []int{200, 200}, has: []string{"body=0"}},

		// Chunked framing.
		{name: "chunk extensions with a quoted semicolon", send: post("Transfer-Encoding: chunked\r\n"+closing, "5;a=b;c=\"d;e\"\r\nhello\r\n0\r\n\r\n"), want: []int{200}, has: []string{"body=5"}},
		{name: "chunk extension ending in a bare LF", send: post("Transfer-Encoding: chunked\r\n", "5;a\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunk-size ending in a bare LF", send: post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunk data ending in a bare LF", send: post("Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "last chunk ending in bare LFs", send: post("Transfer-Encoding: chunked\r\n", "0\n\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunk longer than its size", send: post("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunk size overflowing 64 bits", send: post("Transfer-Encoding: chunked\r\n", "10000000000000005\r\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "negative chunk size", send: post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "chunk size with 0x", send: post("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "white space before a chunk size", send: post("Transfer-Encoding: chunked\r\n", " 5\r\nhello\r\n0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "folded trailer", send: post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"+smuggled), want: []int{400}, wantNet: []int{200}, neverAsked: []string{"/smuggled"}},
		{name: "trailer ending in a bare LF", send: post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX: a\n\r\n"+smuggled), want: []int{400}, wantNet: []int{200}, neverAsked: []string{"/smuggled"}},

		// Ambiguity with what hands a request to net/http: refused all the same.
		{name: "two lengths with Expect", send: post("Expect: 100-continue\r\nContent-Length: 4\r\nContent-Length: 40\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "gzip, chunked with Upgrade", send: post("Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{501}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE with Connection: Upgrade alone", send: post("Connection: Upgrade\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "CL and TE with Upgrade: h2c", send: post("Upgrade: h2c\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "bare LF chunk with Upgrade", send: post("Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n", "0\n\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "TE in HTTP/1.0 with keep-alive", send: "POST /p HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},

		// Pipelining after a request net/http served: the connection closes after it.
		{name: "pipelined after an absolute-form target", send: "GET http://a/p HTTP/1.1\r\nHost: a\r\n\r\n" + smuggled, want: []int{200}, neverAsked: []string{"/smuggled"}},
		{name: "pipelined after HTTP/1.0 keep-alive", send: "POST /p HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi" + smuggled, want: []int{200}, neverAsked: []string{"/smuggled"}},
		{name: "pipelined after Upgrade not taken", send: post("Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n", "hi"+smuggled), want: []int{200}, neverAsked: []string{"/smuggled"}},
		{name: "pipelined after Expect", send: post("Expect: 100-continue\r\nContent-Length: 2\r\n", "hi"+smuggled), want: []int{200}, neverAsked: []string{"/smuggled"}},
		{name: "pipelined after a refusal", send: post("Content-Length: 1\r\nContent-Length: 2\r\n", "ab") + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},
		{name: "fifty pipelined requests", send: strings.Repeat("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 50) + okHead, want: slices.Repeat([]int{200}, 51)},

		// OPTIONS * is forwarded like any request, the version seeing the asterisk, and what
		// follows it on the connection is judged like any request (on the net/http path, the
		// connection closes after it).
		{name: "OPTIONS * then a pipelined request", send: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" + okHead, want: []int{200, 200}, wantNet: []int{200}, has: []string{"OPTIONS * host=a"}},
		{name: "OPTIONS * then CL and TE", send: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" + post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled), want: []int{200, 400}, wantNet: []int{200}, neverAsked: []string{"/p", "/smuggled"}},
		{name: "OPTIONS * then the HTTP/2 preface", send: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: []int{200, 505}, wantNet: []int{200}, lacks: []string{"PRI *"}},
		{name: "OPTIONS * then CONNECT", send: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", want: []int{200, 405}, wantNet: []int{200}, lacks: []string{"CONNECT a:443"}},
		{name: "OPTIONS * then 300 header lines", send: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET /many HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", 300) + "\r\n", want: []int{200, 431}, wantNet: []int{200}, neverAsked: []string{"/many"}},
		{name: "OPTIONS with a path is not OPTIONS *", send: "OPTIONS /* HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}, has: []string{"OPTIONS /* host=a"}},
		{name: "GET *", send: "GET * HTTP/1.1\r\nHost: a\r\n\r\n" + smuggled, want: []int{400}, neverAsked: []string{"/smuggled"}},

		// Empty lines before a request line are skipped (RFC 9112, section 2.2), as nginx does:
		// old clients send a CRLF after a POST body.
		{name: "empty line before a request", send: "\r\n" + okHead, want: []int{200}},
		{name: "empty lines and a bare LF before a request", send: "\r\n\n\r\n" + okHead, want: []int{200}},
		{name: "CRLF after a body, before the next request", send: post("Content-Length: 2\r\n", "hi") + "\r\n" + okHead, want: []int{200, 200}, wantNet: []int{200}},
		{name: "64 KB of empty lines", send: strings.Repeat("\r\n", 33<<10) + okHead, want: []int{431}},
		{name: "a CR alone before a request", send: "\r" + okHead, want: []int{400}},

		// Limits, at and beyond the edge.
		{name: "128 header lines", send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + strings.Repeat("X-A: 1\r\n", 126) + "\r\n", want: []int{200}},
		{name: "129 header lines", send: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + strings.Repeat("X-A: 1\r\n", 127) + "\r\n", want: []int{431}},
		{name: "Connection naming 32 headers", send: get("Connection: " + strings.Repeat("x,", 30) + "close\r\n"), want: []int{200}},
		{name: "Connection naming 33 headers", send: get("Connection: " + strings.Repeat("x,", 31) + "close\r\n"), want: []int{400}},
		{name: "forty Connection lines", send: get(strings.Repeat("Connection: a\r\n", 40)), want: []int{400}},
		{name: "Connection of 60,000 commas", send: get("Connection: " + strings.Repeat(",", 60000) + "close\r\n"), want: []int{200}},
		{name: "target of 60 KB", send: "GET /" + strings.Repeat("u", 60<<10) + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}},
		{name: "target over 64 KB", send: "GET /" + strings.Repeat("u", 70<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{431}},
		{name: "Connection lists Content-Length", send: post("Connection: Content-Length, close\r\nContent-Length: 5\r\n", "hello"), want: []int{200}, has: []string{"body=5"}},
		{name: "Connection lists Transfer-Encoding", send: post("Connection: Transfer-Encoding, close\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), want: []int{200}, has: []string{"body=5"}},
		{name: "Connection lists credentials", send: get("Connection: close, Authorization, Cookie\r\nAuthorization: secret\r\nCookie: c=secret\r\n"), want: []int{200}, lacks: []string{"secret"}},

		// Control bytes and odd request lines.
		{name: "NUL in a header name", send: get("X\x00A: 1\r\n"), want: []int{400}},
		{name: "NUL in a header value", send: get("X-A: 1\x00\r\n"), want: []int{400}},
		{name: "CR in a header name", send: get("X\rA: 1\r\n"), want: []int{400}},
		{name: "NUL in the target", send: "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "DEL in the target", send: "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "bare LF line endings", send: "GET /lf HTTP/1.1\nHost: a\nConnection: close\n\n", want: []int{200}, has: []string{"X-For: /lf"}},
		{name: "two spaces in the request line", send: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "space after the version", send: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "tab in the request line", send: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "lower-case protocol", send: "GET / http/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "HTTP/1.2", send: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", want: []int{505}},
		{name: "HTTP/0.9", send: "GET /\r\n\r\n", want: []int{400}},
		{name: "HTTP/2 preface and a frame", send: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00", want: []int{505}},
		{name: "CONNECT to a path", send: "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{405}},
		{name: "authority form with GET", send: "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},

		// Hosts.
		{name: "Host with a six-digit port", send: "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", want: []int{400}},
		{name: "Host with an open bracket", send: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", want: []int{400}},
		{name: "Host with userinfo", send: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", want: []int{400}},
		{name: "Host with a backslash", send: "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", want: []int{400}},
		{name: "Host with a percent escape", send: "GET / HTTP/1.1\r\nHost: a%20b\r\n\r\n", want: []int{400}},
		{name: "Host as a list", send: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", want: []int{400}},
		{name: "two Hosts in different case", send: "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", want: []int{400}},
		{name: "Host with an IPv6 address and port", send: "GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n", want: []int{200}, has: []string{"host=[::1]:80"}},
		{name: "absolute target with userinfo", send: "GET http://u:p@a/h HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "absolute target of another scheme", send: "GET ftp://a/h HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "absolute target with an empty host", send: "GET http:///h HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "absolute target with a bad port", send: "GET http://a:xx/h HTTP/1.1\r\nHost: a\r\n\r\n", want: []int{400}},
		{name: "absolute target without a Host header", send: "GET http://a/h HTTP/1.1\r\nConnection: close\r\n\r\n", want: []int{400}},

		// Expect.
		{name: "unknown expectation", send: post("Expect: something\r\nContent-Length: 2\r\n"+closing, "hi"), want: []int{417}},
		{name: "Expect 100-continue with a chunked body", send: post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"+closing, "2\r\nhi\r\n0\r\n\r\n"), want: []int{200}, has: []string{"body=2"}},
		{name: "Expect 100-continue and a malformed chunk", send: post("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "zz\r\n"+smuggled), want: []int{400}, neverAsked: []string{"/smuggled"}},

		// Faulty versions, more spellings.
		// Trailers: a request's are dropped (nginx and net/http drop them too); a response's
		// pass, but for fields that may not travel in a trailer, which a client merging
		// trailers into the header would take from the end of the body.
		{name: "request trailers are dropped", version: func(r *http.Request, body []byte) string {
			if r.URL.Path != "/p" {
				return echoAnswer(r, body)
			}
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Trailers: %d\r\n\r\n", len(r.Trailer))
		}, send: post("Transfer-Encoding: chunked\r\nConnection: close\r\n", "5\r\nhello\r\n0\r\nX-Ok: 1\r\nHost: evil\r\nContent-Length: 99\r\n\r\n"), want: []int{200}, has: []string{"X-Trailers: 0"}},
		{name: "forbidden response trailers are dropped", version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 7\r\nContent-Length: 99\r\nSet-Cookie-Not: 1\r\nHost: evil\r\nTransfer-Encoding: gzip\r\nWWW-Authenticate: Basic\r\n\r\n"), send: okHead, want: []int{200}, has: []string{"X-Sum: 7"}, lacks: []string{"Content-Length: 99", "evil", "gzip", "Basic"}},
		{name: "NUL in a response header value", version: respond("HTTP/1.1 200 OK\r\nX-A: 1\x00\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "bare CR in a response header value", version: respond("HTTP/1.1 200 OK\r\nX-A: 1\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}, lacks: []string{"evil"}},
		{name: "response header name with no colon", version: respond("HTTP/1.1 200 OK\r\nXA\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{502}},
		{name: "empty response header name", version: respond("HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{502}},
		{name: "lower-case status line", version: respond("http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "HTTP/2 status line", version: respond("HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "two-digit status", version: respond("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "four-digit status", version: respond("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "garbage for a response", version: respond("CLOSE:garbage\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "half a response head", version: respond("CLOSE:HTTP/1.1 200 OK\r\nContent-Le"), send: okHead, want: []int{502}},
		{name: "no response at all", version: respond("CLOSE:"), send: okHead, want: []int{502}},
		{name: "status line without a reason", version: respond("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{200}},
		{name: "response length as a list", version: respond("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok" + stolen), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "signed response length", version: respond("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok" + stolen), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "response coded gzip, chunked", version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + stolen), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "response chunked twice", version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + stolen), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "response coded identity", version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{502}},
		{name: "1xx with a body", version: respond("HTTP/1.1 100 Continue\r\nContent-Length: 6\r\n\r\nstolenHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "1xx then the connection closes", version: respond("CLOSE:HTTP/1.1 103 Early Hints\r\n\r\n"), send: okHead, want: []int{502}},
		{name: "eight 1xx", version: respond(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 8) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{200}},
		{name: "100 Continue unasked", version: respond("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), send: okHead, want: []int{200}},
		{name: "101 without Upgrade", version: respond("HTTP/1.1 101 Switching Protocols\r\n\r\n" + stolen), send: okHead, want: []int{502}, lacks: []string{"stolen"}},
		{name: "HEAD answered chunked", version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nstolen\r\n0\r\n\r\n"), head: true,
			send: "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}, lacks: []string{"stolen"}},
		{name: "HEAD answered with no length", version: respond("HTTP/1.1 200 OK\r\n\r\n"), head: true,
			send: "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want: []int{200}},
		{name: "204 with a length and a body", version: respond("HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nstolen" + stolen), send: okHead, want: []int{204}, lacks: []string{"stolen"}},
		{name: "304 with a length and a body", version: respond("HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\nstolen"), send: okHead, want: []int{304}, lacks: []string{"stolen"}},
		{name: "Connection: close with bytes after", version: respond("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok" + stolen), send: okHead, want: []int{200}, lacks: []string{"stolen"}},
		{name: "response Connection naming its length", version: respond("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok" + stolen), send: okHead, want: []int{200}, lacks: []string{"stolen"}},
		{name: "HTTP/1.0 response with keep-alive", version: respond("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok" + stolen), send: okHead, want: []int{200}, lacks: []string{"stolen"}},
		{name: "response with 200 header lines", version: respond("HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", 200) + "Content-Length: 2\r\n\r\nok"), send: okHead, want: []int{502}, wantNet: []int{200}},

		// Time limits, more places for a body to stall.
		{name: "version stalls in its head", options: short, version: respond("HTTP/1.1 200 OK\r\nContent-Le"), send: okHead, want: []int{504}},
		{name: "version stalls after a 1xx", options: short, version: respond("HTTP/1.1 103 Early Hints\r\n\r\n"), send: okHead, want: []int{504}},
		{name: "version stalls in a chunk", options: short, version: respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"), send: okHead, want: []int{200}, wantNet: []int{200}},
		{name: "stall in a chunk-size line", options: short, send: post("Transfer-Encoding: chunked\r\n", "5"), want: []int{408}},
		{name: "stall in chunk data", options: short, send: post("Transfer-Encoding: chunked\r\n", "5\r\nhe"), want: []int{408}},
		{name: "stall with Expect", options: Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 5 * time.Second}, send: post("Expect: 100-continue\r\nContent-Length: 10\r\n", "hello"), want: []int{408}},
		{name: "stall with an absolute target", options: short, send: "POST http://a/p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", want: []int{408}},
		{name: "stall in HTTP/1.0", options: short, send: "POST /p HTTP/1.0\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", want: []int{408}},

		// Steps.
		{name: "early answer to Expect closes", run: earlyAnswerToExpect},
		{name: "unread body after a 503 closes", run: unreadBodyAfterRefusal},
		{name: "a refused upload still sending gets its answer", run: refusedUploadStillSending},
		{name: "a version refusing a large upload early is heard", run: versionRefusesUpload},
		{name: "a version refusing an upload it never reads is heard", run: versionRefusesUnreadUpload},
		{name: "a broken upload after the version's 103 is the client's 400", run: brokenUploadAfterEarlyHints},
		{name: "idle WebSocket closes", run: idleTunnel},
		{name: "busy WebSocket outlives the timeouts", run: busyTunnel},
	}
	return cases
}

// earlyAnswerToExpect: a client sends a head with Expect: 100-continue and waits; the version
// answers at once (a 401, as for a login it refuses) without asking for the body. The client
// gets the 401, and then the connection must close: nothing is coming, and the router said
// Connection: close.
func earlyAnswerToExpect(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
		io.Copy(io.Discard, br)
	})
	addr := frontFor(t, f, Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond}, v)
	answerThenClose(t, addr, "POST /login HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", http.StatusUnauthorized)
}

// unreadBodyAfterRefusal: a request net/http serves (an absolute-form target) declares a body
// and sends none, and no version is live: the client gets its 503, and then the connection
// must close, whether or not the body ever comes.
func unreadBodyAfterRefusal(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	rt := New(Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond})
	addr := serveFront(t, rt, f)
	answerThenClose(t, addr, "POST http://a/p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", http.StatusServiceUnavailable)
}

// answerThenClose sends head, which declares a body it never sends, and checks that the answer
// is want (after any 1xx) and that the connection then closes: the router must not wait
// without limit for a body nobody will read.
func answerThenClose(t *testing.T, addr, head string, want int) {
	c := dialFront(t, addr)
	io.WriteString(c, head)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode < 200 {
		resp, err = http.ReadResponse(br, nil) // a 100 Continue, if the router asked for the body
	}
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("answered %d, want %d", resp.StatusCode, want)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after its answer, the connection stays open (read: %v): the router waits without limit for a body it will not use", err)
	}
}

// idleTunnel: a WebSocket goes through, and then neither side sends anything. As for any other
// wait on a client or a version, the router gives up on the silent tunnel and closes both ends
// (nginx applies proxy_read_timeout to tunnels too).
func idleTunnel(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	closed := make(chan struct{})
	c, br, _ := openTunnel(t, f, Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond}, func(c net.Conn, br *bufio.Reader) {
		io.Copy(io.Discard, br)
		close(closed)
	})
	deadline := time.Now().Add(10 * time.Second)
	c.SetReadDeadline(deadline)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("a silent tunnel stays open past the client and upstream timeouts (read: %v)", err)
	}
	select {
	case <-closed:
	case <-time.After(time.Until(deadline)):
		t.Error("the version's end of a silent tunnel stays open")
	}
}

// busyTunnel: a WebSocket whose bytes keep moving, one way only for a while, stays open well
// past the client and upstream timeouts: the limit is on silence, not on the tunnel's age.
func busyTunnel(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	c, br, _ := openTunnel(t, f, Options{ClientTimeout: 300 * time.Millisecond, UpstreamTimeout: 300 * time.Millisecond}, func(c net.Conn, br *bufio.Reader) {
		// Answer each question ('q') with an 'a'; say nothing to the others.
		for {
			b, err := br.ReadByte()
			if err != nil {
				return
			}
			if b == 'q' {
				c.Write([]byte{'a'})
			}
		}
	})
	// 1.2 s of traffic, four times the timeouts: questions answered, then statements only.
	for i := 0; i < 12; i++ {
		time.Sleep(100 * time.Millisecond)
		if i < 6 {
			io.WriteString(c, "q")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, err := br.ReadByte(); err != nil || b != 'a' {
				t.Fatalf("question %d: read %q, %v: the tunnel closed while in use", i, b, err)
			}
			continue
		}
		if _, err := io.WriteString(c, "s"); err != nil {
			t.Fatalf("statement %d: %v: the tunnel closed while in use", i, err)
		}
	}
	io.WriteString(c, "q")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := br.ReadByte(); err != nil || b != 'a' {
		t.Fatalf("last question: read %q, %v: the tunnel closed while the client kept talking", b, err)
	}
}

// refusedUploadStillSending: a client streams a large chunked upload whose framing breaks early
// and goes on sending, as a client that writes its whole request before reading does. It must
// read the router's 400, not a reset that destroyed it.
func refusedUploadStillSending(t *testing.T, addr string, _ *scriptVersion, f conformanceFront) {
	c := dialFront(t, addr)
	go func() {
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n")
		junk := bytes.Repeat([]byte("0123456789abcdef"), 4<<10)
		for i := 0; i < 128; i++ { // 8 MiB, far more than the sockets buffer
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a broken upload that kept coming: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("answered %d, want 400", resp.StatusCode)
	}
	// The router ends its side with a FIN and reads on for a while: a close with the upload's
	// bytes unread would have sent a reset instead, which over a real network can overtake the
	// answer.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v, want the end of the connection, not a reset", err)
	}
}

// versionRefusesUpload: a version answers a large upload at once, without reading it (a 401 for
// a missing token, a 413 of its own), and closes, as net/http servers do when more than 256 KB
// of a body would be left unread; writing the rest of the body to it then fails. The client
// must get the version's answer, as nginx and the net/http path give it: a 502 would tell the
// user the version is broken when it refused the request.
func versionRefusesUpload(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		// Then it closes as net/http's server does: its side first, and the whole connection
		// half a second later, with the upload's bytes unread (a reset).
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(500 * time.Millisecond)
	})
	addr := frontFor(t, f, Options{}, v)
	resp, body := uploadThrough(t, addr)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("answered %d %q, want the version's 401: the version answered before the upload ended", resp.StatusCode, body)
	}
}

// versionRefusesUnreadUpload: a version answers an upload at once (413) and then neither reads
// the body nor closes. Its answer is complete; nginx and the net/http path pass it on at once.
// Holding the client until the upstream timeout and then answering 504 blames the version for
// not answering, after it did.
func versionRefusesUnreadUpload(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		<-done // reads nothing more, and keeps the connection open
	})
	addr := frontFor(t, f, Options{UpstreamTimeout: 2 * time.Second}, v)
	resp, body := uploadThrough(t, addr)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("answered %d %q, want the version's 413, which it sent before reading the upload", resp.StatusCode, body)
	}
}

// uploadThrough sends a 32 MB upload to addr, far more than the sockets buffer, and returns
// the answer, read while the upload is still being written.
func uploadThrough(t *testing.T, addr string) (*http.Response, []byte) {
	t.Helper()
	c := dialFront(t, addr)
	const size = 32 << 20
	go func() {
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an upload the version refused: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestLargeHeadMemory: what a request head costs the router in memory must stay near its size.
// Heads up to 64 KB are accepted, and a client can open thousands of connections that each send
// one at once: were each 63 KB head to cost several times its size while it is read, 3,000 such
// connections would leave the router with hundreds of megabytes of heap (the runtime keeps it
// long after the garbage is collected), where nginx, which stops at 32 KB, stays under 30 MB.
func TestLargeHeadMemory(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's own allocations make the counts mean nothing")
	}
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		for {
			for { // skip the request head: this version allocates nothing per request
				line, err := br.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if len(line) == 2 {
					break
				}
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	addr := frontFor(t, conformanceFronts[0], Options{}, v)
	var b strings.Builder
	b.WriteString("GET /large HTTP/1.1\r\nHost: a\r\n")
	for i := 0; i < 125; i++ {
		fmt.Fprintf(&b, "X-H%03d: %s\r\n", i, strings.Repeat("v", 490))
	}
	b.WriteString("\r\n")
	head := []byte(b.String())

	// Each head goes on a new connection, as a client with thousands of connections sends them,
	// one at a time, read whole before the next is sent. What a request costs besides its head
	// (a small head's allocations, more under the race detector) is taken off.
	perRequest := func(head []byte) float64 {
		const n = 100
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dialFront(t, addr)
			defer conns[i].Close()
		}
		buf := make([]byte, 256)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, c := range conns {
			if _, err := c.Write(head); err != nil {
				t.Fatal(err)
			}
			for got := 0; !bytes.HasSuffix(buf[:got], []byte("\r\n\r\nok")); {
				k, err := c.Read(buf[got:])
				if err != nil {
					t.Fatalf("no answer to a %d-byte head: %v", len(head), err)
				}
				got += k
			}
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	small := perRequest([]byte("GET /small HTTP/1.1\r\nHost: a\r\n\r\n"))
	large := perRequest(head) - small
	if large > 3*float64(len(head)) {
		t.Errorf("a %d-byte request head makes the router allocate %.0f KiB more than a small one (%.1f times its size): heads must not be grown in small steps", len(head), large/1024, large/float64(len(head)))
	}
}

// brokenUploadAfterEarlyHints: a version sends 103 Early Hints as soon as a chunked upload
// starts, and reads on; then the client's chunked framing breaks. The 103 is not an answer: the
// client gets the 400 for its broken body at once, not a 504 from waiting on the version.
func brokenUploadAfterEarlyHints(t *testing.T, _ string, _ *scriptVersion, f conformanceFront) {
	v := startRawVersion(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
		io.Copy(io.Discard, br)
	})
	addr := frontFor(t, f, Options{UpstreamTimeout: 5 * time.Second}, v)
	c := dialFront(t, addr)
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	time.Sleep(200 * time.Millisecond) // the 103 comes while the body is still on its way
	io.WriteString(c, "zz\r\n")
	c.SetReadDeadline(time.Now().Add(4 * time.Second)) // less than the upstream timeout
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a broken upload within 4 s: %v", err)
		}
		if resp.StatusCode < 200 {
			continue // a 1xx passed on is fine
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("answered %d, want 400 for the broken chunked body", resp.StatusCode)
		}
		return
	}
}
