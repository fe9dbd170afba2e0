package runner

import (
	"bytes"
	"io"
	"slices"
	"sync"
)

// Mask replaces each secret value in masked output.
const Mask = "***"

// minSecretLen is the shortest value worth masking: shorter ones ("1", "yes", "dev") occur in
// ordinary text, and masking them would garble logs while protecting nothing.
const minSecretLen = 4

// maskBound is how much of a line without a newline is held before it is written anyway, so
// a process that never ends its line still shows progress and memory stays bounded.
const maskBound = 16 << 10

// MaskWriter writes whole lines to an underlying writer, with secret values replaced by Mask.
// A secret split across Write calls is still masked: output is held until a newline (or
// maskBound bytes), and a tail that could be the start of a secret is held until it is known
// not to be one. Close writes whatever is held.
//
// Write never fails, so a process writing into it is never blocked by a broken log: the first
// error of the underlying writer is kept, later output is dropped, and Close returns that
// error. A MaskWriter is safe for concurrent use.
type MaskWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte  // longest first, so the longest of overlapping secrets is masked whole
	first   [256]bool // first bytes of the secrets, to skip most positions quickly
	maxLen  int
	buf     []byte // raw output not yet written
	out     []byte // scratch for the masked form
	err     error
}

// NewMaskWriter returns a MaskWriter writing to w. Empty secrets and secrets shorter than 4 bytes
// are ignored; with none left, it only buffers lines.
func NewMaskWriter(w io.Writer, secrets []string) *MaskWriter {
	m := &MaskWriter{w: w}
	for _, s := range secrets {
		if len(s) < minSecretLen || slices.ContainsFunc(m.secrets, func(b []byte) bool { return string(b) == s }) {
			continue
		}
		m.secrets = append(m.secrets, []byte(s))
		m.first[s[0]] = true
		m.maxLen = max(m.maxLen, len(s))
	}
	slices.SortStableFunc(m.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return m
}

// Write holds p until its lines are complete, then writes them masked. It always returns
// len(p), nil.
func (m *MaskWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	// Scanning only when a line ends keeps the cost linear in the output, however small the
	// writes.
	if bytes.IndexByte(p, '\n') >= 0 || len(m.buf) >= maskBound {
		m.flush(false)
	}
	return len(p), nil
}

// Err returns the first error of the underlying writer so far, without writing what is held.
func (m *MaskWriter) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close writes what is held, masked, and returns the first error of the underlying writer. It
// does not close the underlying writer; the MaskWriter stays usable.
func (m *MaskWriter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flush(true)
	return m.err
}

// flush writes the complete lines of buf, masked, or all of it when final.
func (m *MaskWriter) flush(final bool) {
	buf := m.buf
	out := m.out[:0]
	// rawCut and outCut mark the end of the last complete line in buf and in out.
	rawCut, outCut := 0, 0
	i := 0
scan:
	for i < len(buf) {
		rest := buf[i:]
		if m.first[rest[0]] {
			// A tail that may yet become a secret waits for more output, even if a shorter
			// secret matches already: the longer one must be masked whole.
			if !final && len(rest) < m.maxLen && m.startsSecret(rest) {
				break scan
			}
			for _, s := range m.secrets {
				if bytes.HasPrefix(rest, s) {
					out = append(out, Mask...)
					i += len(s)
					continue scan
				}
			}
		}
		out = append(out, buf[i])
		i++
		if buf[i-1] == '\n' {
			rawCut, outCut = i, len(out)
		}
	}
	if final || len(buf)-rawCut >= maskBound {
		rawCut, outCut = i, len(out)
	}
	if outCut > 0 && m.err == nil {
		if _, err := m.w.Write(out[:outCut]); err != nil {
			m.err = err
		}
	}
	m.buf = buf[:copy(buf, buf[rawCut:])]
	m.out = out[:0]
}

// startsSecret reports whether tail is a proper prefix of a secret.
func (m *MaskWriter) startsSecret(tail []byte) bool {
	for _, s := range m.secrets {
		if len(tail) < len(s) && bytes.HasPrefix(s, tail) {
			return true
		}
	}
	return false
}

// MaskString returns s with the secret values replaced by Mask, by the rules of MaskWriter.
func MaskString(s string, secrets []string) string {
	var b bytes.Buffer
	m := NewMaskWriter(&b, secrets)
	if len(m.secrets) == 0 {
		return s
	}
	m.Write([]byte(s))
	m.Close()
	return b.String()
}
