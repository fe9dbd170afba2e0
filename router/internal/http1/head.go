package http1

import (
	"bufio"
	"bytes"
	"slices"
)

const (
	// MaxHead is the longest request or response head, request line and empty line included.
	// net/http allows 1 MB and nginx 4×8 KB; a longer head is refused with a 431.
	MaxHead = 64 << 10
	// MaxFields is the most header lines a head may have, as Apache's LimitRequestFields (100)
	// does; nginx and net/http count none, which is how 21,700 empty lines in a head cost a
	// connection megabytes of parsed fields.
	MaxFields = 128
	// MaxConnectionTokens is the most names the Connection headers of one message may list.
	MaxConnectionTokens = 32
	// MaxInformational is the most 1xx responses a version may send before its answer.
	MaxInformational = 8
)

// Error is why a message is refused, with the status a server answers a request with.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return e.Reason }

// The ways a request is refused. Responses from a version are refused with ErrBadResponse.
var (
	ErrMalformed      = &Error{400, "malformed request"}
	ErrAmbiguous      = &Error{400, "request body length is ambiguous: it has both Content-Length and Transfer-Encoding"}
	ErrBadHost        = &Error{400, "invalid Host header"}
	ErrHeadTooLarge   = &Error{431, "request head too large"}
	ErrTooManyFields  = &Error{431, "too many header fields"}
	ErrTooManyTokens  = &Error{400, "Connection header lists too many names"}
	ErrVersion        = &Error{505, "HTTP version not supported: use HTTP/1.1"}
	ErrMethod         = &Error{405, "method not allowed: the router does not tunnel CONNECT"}
	ErrTransferCoding = &Error{501, "transfer coding not implemented: only chunked is"}
	ErrBadResponse    = &Error{502, "malformed response from the version"}
)

// Span is a range of bytes in a head.
type Span struct{ Start, End int }

// Of returns the bytes of s in b.
func (s Span) Of(b []byte) []byte { return b[s.Start:s.End] }

// Field is one header line: its name, its value without surrounding white space, and the whole
// line without its line ending.
type Field struct {
	Name, Value, Line Span
}

// ReadHead appends one head, up to and including its empty line, to head. A head longer than
// MaxHead is ErrHeadTooLarge; a connection that ends first returns the error of br.
func ReadHead(br *bufio.Reader, head []byte) ([]byte, error) { return readHead(br, head, MaxHead) }

// readHead is ReadHead with a limit of its own.
func readHead(br *bufio.Reader, head []byte, limit int) ([]byte, error) {
	lineStart := len(head)
	start := len(head)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(head)+len(chunk) > cap(head) {
			// Double at least: append's growth of large slices by a quarter made a 63 KB head
			// cost nearly five times its size in copies.
			head = slices.Grow(head, max(len(chunk), cap(head)))
		}
		head = append(head, chunk...)
		if len(head)-start > limit {
			return head, ErrHeadTooLarge
		}
		switch err {
		case nil:
			line := head[lineStart:]
			if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
				return head, nil
			}
			lineStart = len(head)
		case bufio.ErrBufferFull:
		default:
			return head, err
		}
	}
}

// ReadRequestHead is ReadHead for a request: empty lines before the request line are skipped,
// as RFC 9112 (section 2.2) asks of a server and nginx does, and count against MaxHead.
func ReadRequestHead(br *bufio.Reader, head []byte) ([]byte, error) {
	for skipped := 0; ; {
		b, err := br.Peek(1)
		if err != nil {
			return head, err
		}
		n := 0
		switch b[0] {
		case '\n':
			n = 1
		case '\r':
			if b, err = br.Peek(2); err != nil {
				return head, err
			}
			if b[1] == '\n' {
				n = 2
			}
		}
		if n == 0 {
			return readHead(br, head, MaxHead-skipped)
		}
		if skipped += n; skipped > MaxHead {
			return head, ErrHeadTooLarge
		}
		br.Discard(n)
	}
}

// HeadBuffered reports whether the whole of the next request head is already in br's buffer.
func HeadBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	b = bytes.TrimLeft(b, "\r\n") // empty lines before it
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// lineEnd returns the line of head starting at from, without its line ending (LF or CRLF), and
// where the next line starts.
func lineEnd(head []byte, from int) (Span, int, bool) {
	i := bytes.IndexByte(head[from:], '\n')
	if i < 0 {
		return Span{}, 0, false
	}
	end := from + i
	next := end + 1
	if end > from && head[end-1] == '\r' {
		end--
	}
	return Span{from, end}, next, true
}

// header is the shared reading of header lines for requests and responses: it validates each
// line, appends it to fields and collects the names listed by Connection headers in hop. It
// returns the offset after the empty line.
func header(head []byte, pos int, fields []Field, hop []Span, bad *Error, visit func(f Field) *Error) ([]Field, []Span, int, error) {
	for {
		s, next, ok := lineEnd(head, pos)
		if !ok {
			return fields, hop, pos, bad
		}
		pos = next
		if s.Start == s.End {
			return fields, hop, pos, nil
		}
		if len(fields) == MaxFields {
			if bad == ErrBadResponse {
				return fields, hop, pos, bad
			}
			return fields, hop, pos, ErrTooManyFields
		}
		l := s.Of(head)
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !isToken(l[:colon]) {
			return fields, hop, pos, bad // also obsolete line folding, which starts with white space
		}
		vs, ve := s.Start+colon+1, s.End
		for vs < ve && (head[vs] == ' ' || head[vs] == '\t') {
			vs++
		}
		for ve > vs && (head[ve-1] == ' ' || head[ve-1] == '\t') {
			ve--
		}
		if !isFieldText(head[vs:ve]) {
			return fields, hop, pos, bad
		}
		f := Field{Name: Span{s.Start, s.Start + colon}, Value: Span{vs, ve}, Line: s}
		fields = append(fields, f)
		if EqualFold(f.Name.Of(head), "Connection") {
			v := f.Value.Of(head)
			for i := vs; len(v) > 0; {
				var part []byte
				part, v = NextToken(v)
				if len(part) > 0 {
					if len(hop) == MaxConnectionTokens {
						if bad == ErrBadResponse {
							return fields, hop, pos, bad
						}
						return fields, hop, pos, ErrTooManyTokens
					}
					start := i + bytes.Index(head[i:ve], part)
					hop = append(hop, Span{start, start + len(part)})
					i = start + len(part)
				}
			}
		}
		if err := visit(f); err != nil {
			return fields, hop, pos, err
		}
	}
}

// Listed reports whether name is one of the Connection tokens hop of head, which makes the
// header of that name hop-by-hop. It costs at most MaxConnectionTokens comparisons.
func Listed(head []byte, hop []Span, name []byte) bool {
	for _, t := range hop {
		if t.End-t.Start == len(name) && EqualFold(t.Of(head), name) {
			return true
		}
	}
	return false
}

// ListedToken reports whether the Connection tokens hop of head include token.
func ListedToken(head []byte, hop []Span, token string) bool {
	for _, t := range hop {
		if EqualFold(t.Of(head), token) {
			return true
		}
	}
	return false
}
