package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// ErrWrite marks a copy error on the writing side, so a caller knows which peer failed.
var ErrWrite = errors.New("write")

// ErrBadChunk is a chunked body that is not well-formed.
var ErrBadChunk = errors.New("malformed chunked body")

// wait flushes dst before src would block, so what arrived so far reaches the other side at
// once: a stream (server-sent events, a chunked upload) is passed on as it comes, never held
// until a buffer fills.
func wait(dst *bufio.Writer, src *bufio.Reader) error {
	if src.Buffered() > 0 {
		return nil
	}
	if err := dst.Flush(); err != nil {
		return errors.Join(ErrWrite, err)
	}
	if _, err := src.Peek(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// CopyN copies n bytes from src to dst.
func CopyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if err := wait(dst, src); err != nil {
			return err
		}
		k := int(min(int64(src.Buffered()), n))
		p, _ := src.Peek(k)
		if _, err := dst.Write(p); err != nil {
			return errors.Join(ErrWrite, err)
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// CopyAll copies src to dst until src ends: a close-delimited body.
func CopyAll(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		if err := wait(dst, src); err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		p, _ := src.Peek(src.Buffered())
		if _, err := dst.Write(p); err != nil {
			return errors.Join(ErrWrite, err)
		}
		src.Discard(len(p))
	}
}

// CopyChunked passes a chunked body from src to dst, chunk by chunk, with the fields of its
// trailer section that keep allows (none when keep is nil). Chunk extensions are dropped and
// sizes rewritten, so what reaches dst is well-formed.
func CopyChunked(dst *bufio.Writer, src *bufio.Reader, keep func(name []byte) bool) error {
	var num [20]byte
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return ErrBadChunk
		}
		if _, err := dst.Write(append(strconv.AppendInt(num[:0], size, 16), '\r', '\n')); err != nil {
			return errors.Join(ErrWrite, err)
		}
		if size == 0 {
			break
		}
		if err := CopyN(dst, src, size); err != nil {
			return err
		}
		line, err = readLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return ErrBadChunk
		}
		if _, err := dst.WriteString("\r\n"); err != nil {
			return errors.Join(ErrWrite, err)
		}
	}
	for total := 0; ; {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		total += len(line)
		if total > MaxHead {
			return ErrBadChunk
		}
		if len(line) > 0 {
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !isToken(line[:colon]) || !isFieldText(line[colon+1:]) {
				return ErrBadChunk
			}
			if keep == nil || !keep(line[:colon]) {
				continue
			}
			if _, err := dst.Write(line); err != nil {
				return errors.Join(ErrWrite, err)
			}
		}
		if _, err := dst.WriteString("\r\n"); err != nil {
			return errors.Join(ErrWrite, err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readLine reads one CRLF-terminated line without its line ending, flushing dst first if it has to wait for
// it; lines longer than src's buffer are malformed.
func readLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if b, _ := src.Peek(src.Buffered()); bytes.IndexByte(b, '\n') < 0 {
		if err := dst.Flush(); err != nil {
			return nil, errors.Join(ErrWrite, err)
		}
	}
	line, err := src.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, ErrBadChunk
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// Chunked framing lines end in CRLF: a bare LF is read differently by different parsers
	// (net/http refuses it), which is how bodies are smuggled.
	if n := len(line); n < 2 || line[n-2] != '\r' {
		return nil, ErrBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize reads a chunk-size line: hex digits, then optional white space and chunk
// extensions, which may not hold control characters.
func parseChunkSize(line []byte) (int64, bool) {
	if !isFieldText(line) {
		return 0, false
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// TrailerAllowed reports whether a field may travel in a trailer section: not one that frames
// the message, routes it, authenticates it or describes its content (RFC 9110, section 6.5.1),
// which a recipient that merges trailers into the header would otherwise take from the end of
// a body. The list is net/http's own.
func TrailerAllowed(name []byte) bool {
	for _, f := range notInTrailers {
		if EqualFold(name, f) {
			return false
		}
	}
	return true
}

var notInTrailers = []string{
	"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
	"Content-Range", "Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards", "Pragma",
	"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range", "Realm", "Te",
	"Trailer", "Transfer-Encoding", "Www-Authenticate",
}
