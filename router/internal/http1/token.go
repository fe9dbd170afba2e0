package http1

import "bytes"

// IsTokenByte reports whether c may appear in a token: a method or a header name.
func IsTokenByte(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isToken reports whether b is a non-empty token: a header name.
func isToken(b []byte) bool {
	for _, c := range b {
		if !IsTokenByte(c) {
			return false
		}
	}
	return len(b) > 0
}

// isFieldText reports whether b holds no control character but tab: what a field value, a
// reason phrase or a chunk extension may hold. A bare CR or LF there splits a message for a
// lenient reader.
func isFieldText(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// EqualFold reports whether b and s are equal ignoring ASCII case.
func EqualFold[S ~string | ~[]byte](b []byte, s S) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// NextToken splits the first element off a comma-separated header value: the element without
// surrounding white space, and the rest after its comma.
func NextToken(v []byte) (token, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return bytes.TrimSpace(v[:i]), v[i+1:]
	}
	return bytes.TrimSpace(v), nil
}

// ParseDecimal parses a Content-Length: 1 to 18 digits, nothing else.
func ParseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// nextLength reads one more Content-Length value of a message whose length so far is cur (-1
// for none): a repeated length must be the same number.
func nextLength(value []byte, cur int64) (int64, bool) {
	n, ok := ParseDecimal(value)
	return n, ok && (cur < 0 || n == cur)
}

// IsHopByHop reports whether a header only concerns one connection, so a proxy must not pass it
// on (RFC 9110, 7.6.1), or is one that frames the body, which a proxy writes itself.
func IsHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return EqualFold(name, "Te")
	case 7:
		return EqualFold(name, "Upgrade") || EqualFold(name, "Trailer")
	case 10:
		return EqualFold(name, "Connection") || EqualFold(name, "Keep-Alive")
	case 14:
		return EqualFold(name, "Content-Length")
	case 16:
		return EqualFold(name, "Proxy-Connection")
	case 17:
		return EqualFold(name, "Transfer-Encoding")
	case 18:
		return EqualFold(name, "Proxy-Authenticate")
	case 19:
		return EqualFold(name, "Proxy-Authorization")
	}
	return false
}
