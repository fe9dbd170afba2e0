// Package template reads CloudFormation templates, YAML or JSON, into a tree of nodes that each
// know their line and column, so every finding about a template can say where it is.
//
// YAML short-form intrinsic functions (!Ref X, !GetAtt A.B, !Sub ..., !If [...]) are rewritten
// into their long form ({Ref: X}, {Fn::GetAtt: [A, B]}, ...) as they are read, so the checks see
// one form only. YAML features CloudFormation refuses (anchors, aliases, merge keys, several
// documents) are refused here too, with their position.
package template

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxSize is the largest template Parse reads. CloudFormation itself takes at most 1 MB from S3.
const MaxSize = 4 << 20

// maxDepth bounds nesting; real templates nest a few tens of levels deep.
const maxDepth = 200

// Kind is what a node holds.
type Kind uint8

// The kinds of node.
const (
	Scalar Kind = iota
	Mapping
	Sequence
)

func (k Kind) String() string {
	switch k {
	case Mapping:
		return "a mapping"
	case Sequence:
		return "a list"
	}
	return "a scalar"
}

// ScalarType is what a scalar was written as.
type ScalarType uint8

// The types of scalar.
const (
	Str ScalarType = iota
	Int
	Float
	Bool
	Null
)

// Node is one value of the template.
type Node struct {
	Kind Kind
	// Type and Value are set for scalars: Value is the text (unquoted), Type what it was
	// written as (a quoted "10" is a Str, a bare 10 an Int).
	Type  ScalarType
	Value string
	// Line and Col are where the value starts, from 1; Col counts characters.
	Line, Col int
	// text says how a scalar's characters map to the file, for PositionOf.
	text textLayout
	// Entries are a mapping's keys and values in file order, duplicates included.
	Entries []Entry
	// Items are a list's elements.
	Items []*Node
}

// textLayout is where a scalar's text lies in the file: quoted (its first character one past
// the node's column), or a block scalar whose lines start at blockLine, each at blockCol.
type textLayout struct {
	quoted              bool
	blockLine, blockCol int
}

// PositionOf returns the line and column of the character at byte offset off of a scalar's
// Value: exact for plain and quoted text on one line and for literal blocks (|), the node's own
// place otherwise (folded text, escapes that change length).
func (n *Node) PositionOf(off int) (line, col int) {
	if n == nil || off < 0 || off > len(n.Value) {
		return 1, 1
	}
	before := n.Value[:off]
	last := strings.LastIndexByte(before, '\n')
	switch {
	case n.text.blockLine > 0:
		return n.text.blockLine + strings.Count(before, "\n"), n.text.blockCol + utf8.RuneCountInString(before[last+1:])
	case last >= 0:
		return n.Line, n.Col
	case n.text.quoted:
		return n.Line, n.Col + 1 + utf8.RuneCountInString(before)
	}
	return n.Line, n.Col + utf8.RuneCountInString(before)
}

// Entry is one key of a mapping and its value. Key is a scalar.
type Entry struct {
	Key   *Node
	Value *Node
}

// Get returns the value of the first entry named key, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Mapping {
		return nil
	}
	for _, e := range n.Entries {
		if e.Key.Value == key {
			return e.Value
		}
	}
	return nil
}

// Entry returns the first entry named key.
func (n *Node) Entry(key string) (Entry, bool) {
	if n == nil || n.Kind != Mapping {
		return Entry{}, false
	}
	for _, e := range n.Entries {
		if e.Key.Value == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Intrinsic returns the name and argument of an intrinsic function call: a mapping with one key
// that is Ref, Condition or starts with "Fn::". ok is false for any other node.
func (n *Node) Intrinsic() (name string, arg *Node, ok bool) {
	if n == nil || n.Kind != Mapping || len(n.Entries) != 1 {
		return "", nil, false
	}
	k := n.Entries[0].Key.Value
	if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
		return k, n.Entries[0].Value, true
	}
	return "", nil, false
}

// IsString reports whether n is a scalar written as a string.
func (n *Node) IsString() bool { return n != nil && n.Kind == Scalar && n.Type == Str }

// Describe says what n is, for messages: "a mapping", "a list", "the number 10", "true".
func (n *Node) Describe() string {
	if n == nil {
		return "nothing"
	}
	if n.Kind != Scalar {
		return n.Kind.String()
	}
	switch n.Type {
	case Int, Float:
		return "the number " + n.Value
	case Bool:
		return "the boolean " + n.Value
	case Null:
		return "an empty value"
	}
	return fmt.Sprintf("the string %q", clip(n.Value))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// Error is a template that cannot be read, and where.
type Error struct {
	File      string
	Line, Col int
	Message   string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Message) }

// Parse reads a template. name is the file name used in errors. A template whose first
// character (after white space and a byte order mark) is '{' is read as JSON, any other as YAML.
func Parse(name string, data []byte) (*Node, error) {
	if len(data) > MaxSize {
		return nil, &Error{name, 1, 1, fmt.Sprintf("the template is larger than %d bytes; CloudFormation takes at most 1 MB, split it into nested stacks", MaxSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		line, col := lineCol(data, invalidUTF8(data))
		return nil, &Error{name, line, col, "the template is not UTF-8 text; save it as UTF-8"}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &Error{name, 1, 1, "the template is empty; a template has at least Resources"}
	}
	var (
		root *Node
		err  error
	)
	if trimmed[0] == '{' {
		root, err = parseJSON(data)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		if pe, ok := err.(*Error); ok {
			pe.File = name
			return nil, pe
		}
		return nil, &Error{name, 1, 1, err.Error()}
	}
	if root == nil || root.Kind != Mapping {
		at := &Node{Line: 1, Col: 1}
		if root != nil {
			at = root
		}
		return nil, &Error{name, at.Line, at.Col, fmt.Sprintf("a template is a mapping of sections (Resources, Parameters, ...), got %s", root.Describe())}
	}
	return root, nil
}

func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// lineCol returns the line and character column of byte offset off.
func lineCol(data []byte, off int) (int, int) {
	off = min(off, len(data))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

// lines maps byte offsets to line and column quickly, for JSON where every token needs one.
type lines struct {
	data   []byte
	starts []int
}

func newLines(data []byte) *lines {
	l := &lines{data: data, starts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	return l
}

func (l *lines) at(off int) (int, int) {
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > off }) - 1
	return i + 1, 1 + utf8.RuneCount(l.data[l.starts[i]:off])
}
