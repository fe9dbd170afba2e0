package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// shortForms maps YAML short-form function tags to the long form's key.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!And": "Fn::And", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!Equals": "Fn::Equals",
	"!FindInMap": "Fn::FindInMap", "!ForEach": "Fn::ForEach", "!GetAZs": "Fn::GetAZs",
	"!GetAtt": "Fn::GetAtt", "!If": "Fn::If", "!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join",
	"!Length": "Fn::Length", "!Not": "Fn::Not", "!Or": "Fn::Or", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!Sub": "Fn::Sub", "!ToJsonString": "Fn::ToJsonString",
	"!Transform": "Fn::Transform",
	// Only in Rules.
	"!Contains": "Fn::Contains", "!EachMemberEquals": "Fn::EachMemberEquals", "!EachMemberIn": "Fn::EachMemberIn",
	"!RefAll": "Fn::RefAll", "!ValueOf": "Fn::ValueOf", "!ValueOfAll": "Fn::ValueOfAll",
}

var errorLine = regexp.MustCompile(`line (\d+)`)

// parseYAML reads a YAML template with go.yaml.in/yaml/v3, whose syntax tree keeps the line and
// column of every node and the tags as written.
func parseYAML(data []byte) (root *Node, err error) {
	// The YAML parser is not ours; a template that trips it must not take the command down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{Line: 1, Col: 1, Message: fmt.Sprintf("invalid YAML: the parser gave up (%v)", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Line: 1, Col: 1, Message: "the template holds only comments; a template has at least Resources"}
		}
		return nil, syntaxError(data, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, &Error{Line: documentStart(data, second), Col: 1, Message: "a second YAML document; a template is one document, remove this '---' and what follows"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Error{Line: 1, Col: 1, Message: "the template holds only comments; a template has at least Resources"}
	}
	return (&converter{data: data}).convert(doc.Content[0], 0)
}

// converter turns the parser's nodes into Nodes; data is the template, for finding where the
// lines of block scalars start.
type converter struct {
	data  []byte
	lines [][]byte
}

// blockStart returns where the text of a block scalar whose indicator (|) is on line starts:
// the first line after it that is not blank, at its indentation.
func (c *converter) blockStart(line int) (int, int) {
	if c.lines == nil {
		c.lines = bytes.Split(c.data, []byte("\n"))
	}
	for i := line; i < len(c.lines); i++ { // c.lines[line] is the line after the indicator's
		t := bytes.TrimLeft(c.lines[i], " ")
		if len(bytes.TrimSpace(t)) > 0 {
			return i + 1, len(c.lines[i]) - len(t) + 1
		}
	}
	return 0, 0
}

// documentStart returns the line of the '---' that starts doc, or its first line.
func documentStart(data []byte, doc yaml.Node) int {
	first := doc.Line
	if len(doc.Content) > 0 {
		first = doc.Content[0].Line
	}
	lines := bytes.Split(data, []byte("\n"))
	for i := min(first, len(lines)) - 1; i >= 0; i-- {
		if bytes.HasPrefix(lines[i], []byte("---")) {
			return i + 1
		}
	}
	return max(first, 1)
}

// syntaxError turns a YAML syntax error into an Error. go.yaml.in/yaml/v3 names the line where
// the enclosing block began, often well above the mistake; goccy/go-yaml's parser (which
// sluice.yaml is read with) points at the token it stopped on, so its place and words are used
// when it finds the error too.
func syntaxError(data []byte, err error) error {
	var yerr goccy.Error
	if _, gerr := goccyparser.ParseBytes(data, 0, goccyparser.AllowDuplicateMapKey()); errors.As(gerr, &yerr) {
		if t := yerr.GetToken(); t != nil && t.Position != nil && t.Position.Line > 0 {
			return &Error{Line: t.Position.Line, Col: max(t.Position.Column, 1), Message: "invalid YAML: " + tabHint(yerr.GetMessage())}
		}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := errorLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, m[0]), ": ")
	}
	return &Error{Line: max(line, 1), Col: 1, Message: "invalid YAML: " + tabHint(msg)}
}

func tabHint(msg string) string {
	msg = strings.ReplaceAll(msg, "\t", `\t`)
	if strings.Contains(msg, `\t`) || strings.Contains(msg, "tab") {
		msg += "; YAML indents with spaces, not tabs"
	}
	return msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	return &Error{Line: max(n.Line, 1), Col: max(n.Column, 1), Message: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n *yaml.Node, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, errAt(n, "the template nests deeper than %d levels", maxDepth)
	}
	if n.Anchor != "" {
		return nil, errAt(n, "YAML anchors (&%s) are not supported by CloudFormation; write the value out", n.Anchor)
	}
	out := &Node{Line: max(n.Line, 1), Col: max(n.Column, 1)}
	tag := n.Tag
	if fn, ok := shortForms[tag]; ok {
		return c.convertShortForm(n, fn, depth)
	}
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return nil, errAt(n, "unknown tag %s; CloudFormation's short forms are !Ref, !GetAtt, !Sub, !Join, !If, ...", tag)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nil, errAt(n, "YAML aliases (*%s) are not supported by CloudFormation; write the value out", n.Value)
	case yaml.MappingNode:
		out.Kind = Mapping
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				return nil, errAt(k, "YAML merge keys (<<) are not supported by CloudFormation; write the keys out")
			}
			if k.Kind != yaml.ScalarNode {
				return nil, errAt(k, "a key must be plain text, got %s", kindName(k))
			}
			key, err := c.convert(k, depth+1)
			if err != nil {
				return nil, err
			}
			key.Type = Str
			value, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			// An empty value has no place of its own: it is where its key is.
			if value.Kind == Scalar && value.Type == Null {
				value.Line, value.Col = key.Line, key.Col
			}
			out.Entries = append(out.Entries, Entry{Key: key, Value: value})
		}
	case yaml.SequenceNode:
		out.Kind = Sequence
		for _, item := range n.Content {
			c, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, c)
		}
	case yaml.ScalarNode:
		out.Value = n.Value
		switch {
		case n.Style&yaml.LiteralStyle != 0:
			out.text.blockLine, out.text.blockCol = c.blockStart(n.Line)
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
			out.text.quoted = true
		}
		switch tag {
		case "!!int":
			out.Type = Int
		case "!!float":
			out.Type = Float
		case "!!bool":
			out.Type = Bool
		case "!!null":
			out.Type, out.Value = Null, "null"
		}
	default:
		return nil, errAt(n, "this YAML is not supported in a CloudFormation template")
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "an alias"
}

// convertShortForm rewrites a short-form function (!Ref X) into its long form ({Ref: X}).
func (c *converter) convertShortForm(n *yaml.Node, fn string, depth int) (*Node, error) {
	plain := *n
	plain.Tag = ""
	switch n.Kind {
	case yaml.ScalarNode:
		plain.Tag = "!!str" // the argument of !Ref 10 is the name "10"
	case yaml.MappingNode:
		plain.Tag = "!!map"
	case yaml.SequenceNode:
		plain.Tag = "!!seq"
	}
	arg, err := c.convert(&plain, depth+1)
	if err != nil {
		return nil, err
	}
	// The parser places a tagged node at its tag. The argument starts after the tag and a
	// space ("!Ref X", "!If [a, b, c]"), or, written below it, at its first item's dash or
	// first key.
	line, col := max(n.Line, 1), max(n.Column, 1)
	after := col + len([]rune(n.Tag)) + 1
	switch {
	case n.Kind == yaml.ScalarNode && n.Value == "":
		arg.Line, arg.Col = line, col
	case n.Kind == yaml.ScalarNode:
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			arg.Col = after
		}
	case len(n.Content) == 0 || n.Content[0].Line == line:
		arg.Line, arg.Col = line, after
	case n.Kind == yaml.SequenceNode:
		arg.Line, arg.Col = n.Content[0].Line, max(n.Content[0].Column-2, 1)
	default:
		arg.Line, arg.Col = n.Content[0].Line, n.Content[0].Column
	}
	// !GetAtt Resource.Attribute is [Resource, Attribute] in the long form; the attribute may
	// hold dots itself (Endpoint.Address), the logical ID never does.
	if fn == "Fn::GetAtt" && arg.Kind == Scalar {
		if i := strings.IndexByte(arg.Value, '.'); i > 0 {
			name, attr := arg.Value[:i], arg.Value[i+1:]
			arg = &Node{Kind: Sequence, Line: arg.Line, Col: arg.Col, Items: []*Node{
				{Kind: Scalar, Value: name, Line: arg.Line, Col: arg.Col},
				{Kind: Scalar, Value: attr, Line: arg.Line, Col: arg.Col + len([]rune(name)) + 1},
			}}
		}
	}
	return &Node{Kind: Mapping, Line: line, Col: col, Entries: []Entry{{
		Key:   &Node{Kind: Scalar, Type: Str, Value: fn, Line: line, Col: col},
		Value: arg,
	}}}, nil
}
