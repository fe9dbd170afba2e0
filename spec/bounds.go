package spec

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The YAML parser's cost grows with nesting (it recurses once per level) and with the entries
// of one block mapping (quadratically: 200,000 keys take minutes and gigabytes). A sluice.yaml is
// a few hundred lines nested a dozen levels deep, so Parse measures the text with a cheap scan
// first and refuses, with a sentence that says so, anything far past that, before the parser
// sees a byte. With these bounds the parser answers in well under a second and a few hundred
// megabytes at worst.
const (
	// MaxFileSize is the largest sluice.yaml Parse reads, in bytes (1 MiB).
	MaxFileSize = 1 << 20
	// MaxLines bounds the lines that hold YAML (blank lines and comment lines do not count).
	MaxLines = 2000
	// MaxDepth bounds nesting: indentation levels, '- ' entries and '[' '{' together.
	MaxDepth = 64
	// MaxFlowItems bounds the entries of every [ ] and { } in the file together.
	MaxFlowItems = 5000
	// maxBadUTF8 bounds how many invalid UTF-8 sequences are reported one by one.
	maxBadUTF8 = 20
)

// badByte is an invalid UTF-8 sequence: where it starts and its first byte.
type badByte struct {
	at position
	b  byte
}

// scan is the result of prescan: the first bound the text breaks (if any), and where the
// text is not UTF-8.
type scan struct {
	// tooMuch is non-empty when the file must not be parsed; at is where it went too far.
	tooMuch string
	at      position
	bad     []badByte
	badMore bool // more invalid sequences than bad holds
	depth   int  // the deepest nesting seen
}

// scanner reads the text once, byte by byte, keeping only counters. It knows just enough YAML
// to find structure: indentation, '- ' and '? ' entries, block scalars (whose content it skips),
// quoted scalars, comments and flow collections. Where it is unsure it counts more, never
// less: a file it lets through may still be invalid YAML, and the parser reports that.
type scanner struct {
	data      []byte
	i         int
	line, col int // of data[i], 1-based; col counts characters as the parser does
	out       scan

	lines     int
	flowItems int
	// indents holds the columns of the open block levels, innermost last.
	indents []int
	// flow is the depth of [ and { at data[i]; flowBase is len(indents) when the outermost
	// one opened.
	flow, flowBase int
}

func prescan(data []byte) scan {
	s := &scanner{data: data, line: 1, col: 1}
	s.run()
	return s.out
}

func (s *scanner) exceeded(format string, args ...any) {
	if s.out.tooMuch == "" {
		s.out.tooMuch = fmt.Sprintf(format, args...)
		s.out.at = position{s.line, s.col}
	}
}

func (s *scanner) done() bool { return s.i >= len(s.data) || s.out.tooMuch != "" }

func (s *scanner) peek(k int) byte {
	if s.i+k < len(s.data) {
		return s.data[s.i+k]
	}
	return 0
}

// advance moves past one character, checking that it is UTF-8.
func (s *scanner) advance() {
	c := s.data[s.i]
	if c == '\n' {
		s.i++
		s.line++
		s.col = 1
		return
	}
	if c < utf8.RuneSelf {
		s.i++
		s.col++
		return
	}
	r, size := utf8.DecodeRune(s.data[s.i:])
	if r == utf8.RuneError && size <= 1 {
		if len(s.out.bad) < maxBadUTF8 {
			s.out.bad = append(s.out.bad, badByte{position{s.line, s.col}, c})
		} else {
			s.out.badMore = true
		}
		size = 1
	}
	s.i += size
	s.col++
}

// restOfLine moves to the start of the next line, checking the characters it passes.
func (s *scanner) restOfLine() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.advance()
	}
	if s.i < len(s.data) {
		s.advance()
	}
}

func (s *scanner) spaces() int {
	n := 0
	for s.i < len(s.data) && (s.data[s.i] == ' ' || s.data[s.i] == '\t') {
		s.advance()
		n++
	}
	return n
}

func isBlankOrEnd(c byte) bool { return c == 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (s *scanner) run() {
	for !s.done() {
		indent := s.spaces()
		switch c := s.peek(0); {
		case c == '\n' || c == '\r' || c == 0:
			s.restOfLine()
			continue
		case c == '#':
			s.restOfLine()
			continue
		}
		if !s.countLine() {
			return
		}
		for len(s.indents) > 0 && s.indents[len(s.indents)-1] > indent {
			s.indents = s.indents[:len(s.indents)-1]
		}
		if len(s.indents) == 0 || s.indents[len(s.indents)-1] < indent {
			s.push(indent)
		}
		s.blockLine(true)
	}
}

// countLine counts one more line of YAML and reports false when there are too many.
func (s *scanner) countLine() bool {
	s.lines++
	if s.lines > MaxLines {
		s.exceeded("more than %d lines of YAML; a sluice.yaml needs a few hundred: split what is repeated into anchors (&name) or remove it", MaxLines)
		return false
	}
	return true
}

func (s *scanner) push(col int) {
	s.indents = append(s.indents, col)
	s.checkDepth()
}

func (s *scanner) checkDepth() { s.depth(len(s.indents) + s.flow) }

// depth records a nesting depth d and reports it when it is too deep.
func (s *scanner) depth(d int) {
	s.out.depth = max(s.out.depth, d)
	if d > MaxDepth {
		s.exceeded("nested more than %d levels deep; a sluice.yaml needs about ten: flatten the lists and mappings", MaxDepth)
	}
}

// blockLine reads the rest of a line in block context. valueStart says whether a value may
// begin here (after indentation, '- ' or ': '), where '[', '{', quotes and '|' mean something.
func (s *scanner) blockLine(valueStart bool) {
	// owner is the column of the node a block scalar here belongs to: its content is indented
	// more than that.
	owner := s.top()
	for !s.done() {
		c := s.peek(0)
		switch {
		case c == '\n':
			s.advance()
			return
		case c == ' ' || c == '\t' || c == '\r':
			s.advance()
			continue
		case c == '#' && s.i > 0 && isBlankOrEnd(s.data[s.i-1]):
			s.restOfLine()
			return
		}
		if valueStart {
			switch {
			case (c == '-' || c == '?') && isBlankOrEnd(s.peek(1)):
				owner = s.col - 1
				s.advance()
				s.spaces()
				s.push(s.col - 1)
				continue
			case c == '&' || c == '!':
				s.word()
				continue
			case c == '[' || c == '{':
				s.flowBase = len(s.indents)
				s.flowText()
				valueStart = false
				continue
			case c == '"' || c == '\'':
				s.quoted(c)
				valueStart = false
				continue
			case c == '|' || c == '>':
				if s.blockScalarHeader() {
					s.skipBlockScalar(owner)
					return
				}
			}
			if valueStart && s.flow == 0 {
				// A key starts here; a block scalar after its ':' belongs to the mapping.
				owner = s.col - 1
			}
		}
		valueStart = false
		if c == ':' && isBlankOrEnd(s.peek(1)) {
			valueStart = true
		}
		s.advance()
	}
}

func (s *scanner) top() int {
	if len(s.indents) == 0 {
		return 0
	}
	return s.indents[len(s.indents)-1]
}

// word skips an anchor or tag, which ends at a blank or a flow indicator.
func (s *scanner) word() {
	for !s.done() && !isBlankOrEnd(s.peek(0)) && !strings.ContainsRune(",[]{}", rune(s.peek(0))) {
		s.advance()
	}
}

// blockScalarHeader reports whether the rest of the line is a block scalar header such as
// "|", ">-" or "|2 # comment", and if so moves to the next line.
func (s *scanner) blockScalarHeader() bool {
	j := s.i + 1
	for j < len(s.data) && (s.data[j] == '-' || s.data[j] == '+' || (s.data[j] >= '1' && s.data[j] <= '9')) {
		j++
	}
	for j < len(s.data) && (s.data[j] == ' ' || s.data[j] == '\t') {
		j++
	}
	if j < len(s.data) && s.data[j] != '\n' && s.data[j] != '\r' && s.data[j] != '#' {
		return false
	}
	s.restOfLine()
	return true
}

// skipBlockScalar passes the content of a block scalar: blank lines and lines indented more
// than the line that opened it. Each counts as a line; none opens a level.
func (s *scanner) skipBlockScalar(indent int) {
	for !s.done() {
		j, n := s.i, 0
		for j < len(s.data) && s.data[j] == ' ' {
			j++
			n++
		}
		if j < len(s.data) && s.data[j] != '\n' && s.data[j] != '\r' && n <= indent {
			return
		}
		if j >= len(s.data) {
			s.i, s.col = j, s.col+n
			return
		}
		if !s.countLine() {
			return
		}
		s.restOfLine()
	}
}

// quoted passes a quoted scalar, which may span lines.
func (s *scanner) quoted(q byte) {
	s.advance()
	for !s.done() {
		c := s.peek(0)
		switch {
		case q == '"' && c == '\\' && s.i+1 < len(s.data):
			s.advance()
		case c == q && q == '\'' && s.peek(1) == '\'':
			s.advance()
		case c == q:
			s.advance()
			return
		case c == '\n':
			if !s.countLine() {
				return
			}
		}
		s.advance()
	}
}

// flowText reads inside [ ] and { }, which may span lines, until the outermost one closes.
//
// A quote starts a quoted scalar only where a node starts (after '[', '{', ',', ':' or an
// anchor or tag); elsewhere it is part of a plain scalar, as in [it's]. Reading that quote as
// the start of a string would hide the brackets after it, and then the rest of the file.
// A '- ' has no place in a flow collection, but the parser may still read one as a nested
// list, so each counts as an entry.
func (s *scanner) flowText() {
	nodeStart := true
	for !s.done() {
		c := s.peek(0)
		switch {
		case c == '[' || c == '{':
			s.flow++
			s.flowItem()
			s.checkDepthFlow()
			s.advance()
			nodeStart = true
			continue
		case c == ']' || c == '}':
			s.advance()
			s.flow--
			if s.flow <= 0 {
				s.flow = 0
				return
			}
			nodeStart = false
			continue
		case c == ',' || c == ':' || c == '?':
			if c == ',' {
				s.flowItem()
			}
			s.advance()
			nodeStart = c != '?' || isBlankOrEnd(s.peek(0))
			continue
		case c == '-' && isBlankOrEnd(s.peek(1)):
			s.flowItem()
		case (c == '"' || c == '\'') && nodeStart:
			s.quoted(c)
			nodeStart = false
			continue
		case (c == '&' || c == '!') && nodeStart:
			s.word()
			continue
		case c == '#' && s.i > 0 && isBlankOrEnd(s.data[s.i-1]):
			for !s.done() && s.peek(0) != '\n' {
				s.advance()
			}
			continue
		case c == '\n':
			s.advance()
			if s.i < len(s.data) && !s.blankLineAhead() {
				s.countLine()
			}
			continue
		case c == ' ' || c == '\t' || c == '\r':
			s.advance()
			continue
		}
		nodeStart = false
		if !s.done() {
			s.advance()
		}
	}
}

func (s *scanner) flowItem() {
	s.flowItems++
	if s.flowItems > MaxFlowItems {
		s.exceeded("more than %d entries in [ ] and { } lists; a sluice.yaml needs far fewer: remove what is repeated", MaxFlowItems)
	}
}

func (s *scanner) checkDepthFlow() { s.depth(s.flowBase + s.flow) }

func (s *scanner) blankLineAhead() bool {
	for j := s.i; j < len(s.data); j++ {
		switch s.data[j] {
		case ' ', '\t', '\r':
		case '\n':
			return true
		default:
			return false
		}
	}
	return true
}
