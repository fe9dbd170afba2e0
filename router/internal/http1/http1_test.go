package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// requestEnd reads one request from br with this package, body included, and reports whether
// it was accepted. br's reader position is then where the request ends.
func requestEnd(br *bufio.Reader, req *Request) (accepted bool) {
	head, err := ReadHead(br, nil)
	if err != nil || req.Parse(head) != nil {
		return false
	}
	discard := bufio.NewWriter(io.Discard)
	switch {
	case req.Chunked:
		err = CopyChunked(discard, br, TrailerAllowed)
	case req.ContentLength > 0:
		err = CopyN(discard, br, req.ContentLength)
	}
	return err == nil
}

// offset is how many bytes of data r and br have consumed.
func offset(data []byte, r *bytes.Reader, br *bufio.Reader) int {
	return len(data) - r.Len() - br.Buffered()
}

// FuzzRequestFraming is differential: the same bytes, read as a stream of requests by this
// package and by net/http's ReadRequest. Every request this package accepts, net/http must
// accept too, with the same method and target, ending at the same byte. (This package may
// refuse more: it is the stricter of the two.) A disagreement on where a request ends is how
// requests are smuggled past a proxy.
func FuzzRequestFraming(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhelloGET / HTTP/1.1\r\nHost: y\r\n\r\n",
		"PUT /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\nX-Sluice-Version: v2\n\n",
		"GET http://x/ HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: a, b, close\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r1, r2 := bytes.NewReader(data), bytes.NewReader(data)
		br1, br2 := bufio.NewReaderSize(r1, 4096), bufio.NewReaderSize(r2, 4096)
		var req Request
		for n := 0; n < 8; n++ {
			if !requestEnd(br1, &req) {
				return
			}
			theirs, err := http.ReadRequest(br2)
			if err != nil {
				t.Fatalf("request %d accepted here, refused by net/http (%v):\n%q", n, err, data)
			}
			_, err = io.Copy(io.Discard, theirs.Body)
			if err != nil {
				t.Fatalf("request %d: net/http could not read the body this package read (%v):\n%q", n, err, data)
			}
			if a, b := offset(data, r1, br1), offset(data, r2, br2); a != b {
				t.Fatalf("request %d ends at byte %d here and at %d for net/http:\n%q", n, a, b, data)
			}
			if req.HasBody() != (theirs.ContentLength != 0) {
				t.Fatalf("request %d: body here %v, net/http's length %d:\n%q", n, req.HasBody(), theirs.ContentLength, data)
			}
		}
	})
}

// FuzzResponseFraming is differential like FuzzRequestFraming, for responses from a version to
// a GET or a HEAD: where this package accepts a response, net/http reads it to the same end.
func FuzzResponseFraming(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\rX: y\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		r1, r2 := bytes.NewReader(data), bytes.NewReader(data)
		br1, br2 := bufio.NewReaderSize(r1, 4096), bufio.NewReaderSize(r2, 4096)
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		var resp Response
		discard := bufio.NewWriter(io.Discard)
		for n := 0; n < 8; n++ {
			h, err := ReadHead(br1, nil)
			if err != nil || resp.Parse(h) != nil {
				return
			}
			closeDelimited := false
			switch {
			case BodyLess(resp.Status, head):
			case resp.Chunked:
				err = CopyChunked(discard, br1, TrailerAllowed)
			case resp.ContentLength >= 0:
				err = CopyN(discard, br1, resp.ContentLength)
			default:
				closeDelimited = true
				err = CopyAll(discard, br1)
			}
			if err != nil {
				return
			}
			theirs, err := http.ReadResponse(br2, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("response %d accepted here, refused by net/http (%v):\n%q", n, err, data)
			}
			if theirs.StatusCode != resp.Status {
				t.Fatalf("response %d: status %d here, %d for net/http:\n%q", n, resp.Status, theirs.StatusCode, data)
			}
			if _, err := io.Copy(io.Discard, theirs.Body); err != nil {
				t.Fatalf("response %d: net/http could not read the body this package read (%v):\n%q", n, err, data)
			}
			if a, b := offset(data, r1, br1), offset(data, r2, br2); a != b {
				t.Fatalf("response %d ends at byte %d here and at %d for net/http:\n%q", n, a, b, data)
			}
			if closeDelimited {
				return
			}
		}
	})
}

// FuzzCopyChunked feeds arbitrary bodies to the chunked copier: it must never panic, and what it
// passes on must be a well-formed chunked body that copies to itself.
func FuzzCopyChunked(f *testing.F) {
	for _, seed := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n",
		"ffffffffffffffff\r\n",
		"0\r\nbad trailer\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := CopyChunked(w, bufio.NewReaderSize(bytes.NewReader(data), 16), TrailerAllowed); err != nil {
			return
		}
		w.Flush()
		var again bytes.Buffer
		w2 := bufio.NewWriter(&again)
		if err := CopyChunked(w2, bufio.NewReader(bytes.NewReader(out.Bytes())), TrailerAllowed); err != nil {
			t.Fatalf("copy of %q is not well-formed: %q: %v", data, out.Bytes(), err)
		}
		w2.Flush()
		if !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatalf("copying %q twice changed it: %q then %q", data, out.Bytes(), again.Bytes())
		}
	})
}

func TestParseRequestRefusals(t *testing.T) {
	tests := []struct {
		name, head string
		want       *Error
	}{
		{"valid", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrAmbiguous},
		{"chunked then length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ErrAmbiguous},
		{"length and chunked with Expect", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrAmbiguous},
		{"other coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrTransferCoding},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n b\r\n\r\n", ErrMalformed},
		{"invalid host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadHost},
		{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadHost},
		{"host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadHost},
		{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", nil},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", ErrVersion},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", ErrVersion},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", ErrMethod},
		{"odd target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", ErrMalformed},
		{"asterisk for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", nil},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", ErrMalformed},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("a: b\r\n", MaxFields) + "\r\n", ErrTooManyFields},
		{"too many Connection tokens", "GET / HTTP/1.1\r\nHost: x\r\nConnection: " + strings.Repeat("a,", MaxConnectionTokens+1) + "\r\n\r\n", ErrTooManyTokens},
		{"empty Connection tokens are free", "GET / HTTP/1.1\r\nHost: x\r\nConnection: " + strings.Repeat(",", 1000) + "close\r\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := req.Parse([]byte(tt.head))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestListed(t *testing.T) {
	head := []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: X-A, close\r\nConnection: x-b\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n")
	var req Request
	if err := req.Parse(head); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"x-a": true, "X-B": true, "X-C": false, "close": true, "Host": false} {
		if got := Listed(head, req.Hop, []byte(name)); got != want {
			t.Errorf("Listed(%s) = %v, want %v", name, got, want)
		}
	}
	if !req.Close {
		t.Error("Connection: close not seen")
	}
}
