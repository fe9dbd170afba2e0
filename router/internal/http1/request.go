package http1

import "bytes"

// Request is a parsed request head. Its slices are reused by the next Parse.
type Request struct {
	Method, Target Span
	Host           Span
	HasHost        bool
	ContentLength  int64 // -1 when absent
	Chunked        bool
	Close          bool // the client asked to close the connection after the answer
	HTTP10         bool // HTTP/1.0
	Upgrade        bool // asks to switch protocols (Upgrade header, or Connection: upgrade)
	Expect         bool
	Fields         []Field
	Hop            []Span // the names the Connection headers list
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Parse parses a request head as read by ReadHead. It refuses with an *Error what a careful
// server must refuse: a malformed line, an invalid or repeated Host, a body length that can be
// read two ways, a transfer coding other than chunked, a version other than HTTP/1.0 and 1.1,
// CONNECT, and heads over the limits.
func (r *Request) Parse(head []byte) error {
	*r = Request{ContentLength: -1, Fields: r.Fields[:0], Hop: r.Hop[:0]}
	first, pos, ok := lineEnd(head, 0)
	if !ok {
		return ErrMalformed
	}
	line := first.Of(head)
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrMalformed
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return ErrMalformed
	}
	r.Method = Span{first.Start, first.Start + sp1}
	r.Target = Span{first.Start + sp1 + 1, first.Start + sp2}
	for _, c := range r.Method.Of(head) {
		if !IsTokenByte(c) {
			return ErrMalformed
		}
	}
	for t, i := r.Target.Of(head), 0; i < len(t); i++ {
		switch c := t[i]; {
		case c <= ' ' || c == 0x7f || c == '#': // a target has no fragment
			return ErrMalformed
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return ErrMalformed // net/http refuses a broken escape too
			}
		}
	}
	switch proto := line[sp2+1:]; string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.HTTP10 = true
	default:
		// The HTTP/2 preface (PRI * HTTP/2.0) lands here too.
		if len(proto) == 8 && string(proto[:5]) == "HTTP/" && '0' <= proto[5] && proto[5] <= '9' && proto[6] == '.' && '0' <= proto[7] && proto[7] <= '9' {
			return ErrVersion
		}
		return ErrMalformed
	}
	if string(r.Method.Of(head)) == "CONNECT" {
		return ErrMethod
	}
	switch t := r.Target.Of(head); {
	case t[0] == '/', absoluteForm(t):
	case len(t) == 1 && t[0] == '*' && string(r.Method.Of(head)) == "OPTIONS":
	default:
		return ErrMalformed // including the authority form, which only CONNECT uses
	}

	var transferCodings int
	var err error
	r.Fields, r.Hop, pos, err = header(head, pos, r.Fields, r.Hop, ErrMalformed, func(f Field) *Error {
		name, value := f.Name.Of(head), f.Value.Of(head)
		switch len(name) {
		case 4:
			if EqualFold(name, "Host") {
				if r.HasHost {
					return ErrMalformed
				}
				if !ValidHost(value) {
					return ErrBadHost
				}
				r.Host, r.HasHost = f.Value, true
			}
		case 6:
			if EqualFold(name, "Expect") {
				r.Expect = true
			}
		case 7:
			if EqualFold(name, "Upgrade") {
				r.Upgrade = true
			}
		case 14:
			if EqualFold(name, "Content-Length") {
				n, ok := nextLength(value, r.ContentLength)
				if !ok {
					return ErrMalformed
				}
				r.ContentLength = n
			}
		case 17:
			if EqualFold(name, "Transfer-Encoding") {
				transferCodings++
				if !EqualFold(value, "chunked") {
					return ErrTransferCoding
				}
				r.Chunked = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if pos != len(head) {
		return ErrMalformed
	}
	switch {
	case transferCodings > 1:
		return ErrTransferCoding // "chunked, chunked" spread over two lines
	case r.Chunked && r.ContentLength >= 0:
		return ErrAmbiguous
	case r.Chunked && r.HTTP10:
		return ErrMalformed // HTTP/1.0 has no transfer codings (RFC 9112, 6.1)
	case !r.HasHost && !r.HTTP10:
		return ErrMalformed
	}
	if ListedToken(head, r.Hop, "close") {
		r.Close = true
	}
	if r.HTTP10 && !ListedToken(head, r.Hop, "keep-alive") {
		r.Close = true
	}
	if ListedToken(head, r.Hop, "upgrade") {
		r.Upgrade = true
	}
	return nil
}

// absoluteForm reports whether a request target is an absolute URI with an http or https
// scheme and a valid host, which a proxy must accept (RFC 9112, 3.2.2).
func absoluteForm(t []byte) bool {
	i := bytes.Index(t, []byte("://"))
	if i <= 0 || !(EqualFold(t[:i], "http") || EqualFold(t[:i], "https")) {
		return false
	}
	authority := t[i+3:]
	if end := bytes.IndexAny(authority, "/?"); end >= 0 {
		authority = authority[:end]
	}
	return len(authority) > 0 && ValidHost(authority)
}

// ValidHost reports whether v is a valid Host value: empty, or a host (a registered name, an
// IPv4 address or a bracketed IPv6 address) with an optional port of digits.
func ValidHost(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	host, port := v, []byte(nil)
	if v[0] == '[' {
		end := bytes.IndexByte(v, ']')
		if end < 0 {
			return false
		}
		for _, c := range v[1:end] {
			if !(isHex(c) || c == ':' || c == '.' || c == '%' || isAlnum(c) || c == '-' || c == '_' || c == '~') {
				return false
			}
		}
		host, port = nil, v[end+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else if i := bytes.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
	}
	for _, c := range host { // no percent-encoding: net/http refuses most of it in hosts
		switch {
		case isAlnum(c):
		case bytes.IndexByte([]byte("-._~!$&'()*+,;="), c) >= 0:
		default:
			return false
		}
	}
	if len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
