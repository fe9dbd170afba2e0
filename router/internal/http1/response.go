package http1

// Response is a parsed response head. Its slices are reused by the next Parse.
type Response struct {
	Status        int
	Reason        Span
	ContentLength int64 // -1 when absent
	Chunked       bool
	KeepAlive     bool // HTTP/1.1 and no Connection: close: the connection may carry another request
	Fields        []Field
	Hop           []Span // the names the Connection headers list
}

// Parse parses a response head from a version as read by ReadHead. Anything a lenient client
// could read another way is ErrBadResponse: a status line that is not exactly
// "HTTP/1.x NNN reason" with a reason of visible characters, a header name that is not a token,
// a control character in a value, obsolete line folding, a length that can be read two ways.
func (r *Response) Parse(head []byte) error {
	*r = Response{ContentLength: -1, Fields: r.Fields[:0], Hop: r.Hop[:0]}
	first, pos, ok := lineEnd(head, 0)
	if !ok {
		return ErrBadResponse
	}
	line := first.Of(head)
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return ErrBadResponse
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrBadResponse
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return ErrBadResponse
	}
	if !isFieldText(line[min(13, len(line)):]) {
		return ErrBadResponse // a bare CR here splits the head for a lenient client
	}
	r.Status = code
	r.Reason = Span{first.Start + min(13, len(line)), first.End}
	r.KeepAlive = line[7] == '1'

	var err error
	r.Fields, r.Hop, pos, err = header(head, pos, r.Fields, r.Hop, ErrBadResponse, func(f Field) *Error {
		name, value := f.Name.Of(head), f.Value.Of(head)
		switch len(name) {
		case 14:
			if EqualFold(name, "Content-Length") {
				n, ok := nextLength(value, r.ContentLength)
				if !ok {
					return ErrBadResponse
				}
				r.ContentLength = n
			}
		case 17:
			if EqualFold(name, "Transfer-Encoding") {
				if r.Chunked || !EqualFold(value, "chunked") {
					return ErrBadResponse
				}
				r.Chunked = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if pos != len(head) || (r.Chunked && r.ContentLength >= 0) {
		return ErrBadResponse
	}
	if r.Chunked && line[7] == '0' {
		// HTTP/1.0 has no transfer codings: net/http reads such a body to the end of the
		// connection, this package would read it chunked. Refused, so nothing depends on which.
		return ErrBadResponse
	}
	if ListedToken(head, r.Hop, "close") {
		r.KeepAlive = false
	}
	return nil
}

// BodyLess reports whether a response to a request of that kind has no body whatever its head
// says: the answer to HEAD, 1xx, 204 and 304 (RFC 9112, 6.3).
func BodyLess(status int, head bool) bool {
	return head || status < 200 || status == 204 || status == 304
}
