package template

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
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
}

func parseYAML(data []byte) (root *Node, err error) {
	// The YAML parser is not ours; a template that trips it must not take the command down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{Line: 1, Col: 1, Message: fmt.Sprintf("invalid YAML: the parser gave up (%v)", r)}
		}
	}()
	file, perr := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if perr != nil {
		var yerr yaml.Error
		if errors.As(perr, &yerr) {
			line, col := tokenPos(yerr.GetToken())
			msg := strings.ReplaceAll(yerr.GetMessage(), "\t", `\t`)
			if strings.Contains(msg, `\t`) {
				msg += "; YAML indents with spaces, not tabs"
			}
			return nil, &Error{Line: line, Col: col, Message: "invalid YAML: " + msg}
		}
		return nil, &Error{Line: 1, Col: 1, Message: "invalid YAML: " + perr.Error()}
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, directive := doc.Body.(*ast.DirectiveNode); directive {
			continue
		}
		if body != nil {
			line, col := tokenPos(doc.GetToken())
			if doc.Start != nil {
				line, col = tokenPos(doc.Start)
			}
			return nil, &Error{Line: line, Col: col, Message: "a second YAML document; a template is one document, remove this '---' and what follows"}
		}
		body = doc.Body
	}
	if body == nil {
		return nil, &Error{Line: 1, Col: 1, Message: "the template holds only comments; a template has at least Resources"}
	}
	c := &converter{tags: map[int][]int{}}
	root, err = c.convert(body, 0)
	if err != nil {
		return nil, err
	}
	c.fixColumns(root)
	return root, nil
}

// converter turns the parser's tree into Nodes.
//
// The YAML lexer counts one column too few for everything after a tag on the same line (it
// drops the space after "!Ref"), once per tag; tags records the columns it gave the tags of
// each line so fixColumns can add back one per earlier tag.
type converter struct {
	tags map[int][]int
}

func (c *converter) fixColumns(n *Node) {
	n.Col += c.shift(n.Line, n.Col)
	for _, e := range n.Entries {
		e.Key.Col += c.shift(e.Key.Line, e.Key.Col)
		c.fixColumns(e.Value)
	}
	for _, it := range n.Items {
		c.fixColumns(it)
	}
}

func (c *converter) shift(line, col int) int {
	k := 0
	for _, t := range c.tags[line] {
		if t < col {
			k++
		}
	}
	return k
}

func tokenPos(t *token.Token) (int, int) {
	if t == nil || t.Position == nil || t.Position.Line < 1 {
		return 1, 1
	}
	return t.Position.Line, max(t.Position.Column, 1)
}

func errAt(n ast.Node, format string, args ...any) error {
	line, col := tokenPos(n.GetToken())
	return &Error{Line: line, Col: col, Message: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n ast.Node, depth int) (*Node, error) {
	if n == nil {
		return &Node{Kind: Scalar, Type: Null, Value: "null"}, nil
	}
	if depth > maxDepth {
		return nil, errAt(n, "the template nests deeper than %d levels", maxDepth)
	}
	line, col := tokenPos(n.GetToken())
	out := &Node{Line: line, Col: col}
	switch v := n.(type) {
	case *ast.MappingNode:
		out.Kind = Mapping
		if v.Start != nil && v.Start.Type == token.MappingStartType { // a flow mapping: {a: b}
			out.Line, out.Col = tokenPos(v.Start)
		} else if len(v.Values) > 0 {
			out.Line, out.Col = tokenPos(v.Values[0].Key.GetToken())
		}
		for _, mv := range v.Values {
			e, err := c.convertEntry(mv, depth)
			if err != nil {
				return nil, err
			}
			out.Entries = append(out.Entries, e)
		}
	case *ast.MappingValueNode:
		out.Kind = Mapping
		out.Line, out.Col = tokenPos(v.Key.GetToken())
		e, err := c.convertEntry(v, depth)
		if err != nil {
			return nil, err
		}
		out.Entries = []Entry{e}
	case *ast.SequenceNode:
		out.Kind = Sequence
		for _, item := range v.Values {
			c, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, c)
		}
	case *ast.TagNode:
		return c.convertTag(v, depth)
	case *ast.StringNode:
		out.Value = v.Value
	case *ast.LiteralNode:
		if v.Value != nil {
			out.Value = v.Value.Value
		}
	case *ast.IntegerNode:
		out.Type, out.Value = Int, v.GetToken().Value
	case *ast.FloatNode:
		out.Type, out.Value = Float, v.GetToken().Value
	case *ast.InfinityNode, *ast.NanNode:
		out.Type, out.Value = Float, v.GetToken().Value
	case *ast.BoolNode:
		out.Type, out.Value = Bool, fmt.Sprint(v.Value)
	case *ast.NullNode:
		out.Type, out.Value = Null, "null"
	case *ast.AnchorNode:
		return nil, errAt(n, "YAML anchors (&name) are not supported by CloudFormation; write the value out")
	case *ast.AliasNode:
		return nil, errAt(n, "YAML aliases (*name) are not supported by CloudFormation; write the value out")
	case *ast.MergeKeyNode:
		return nil, errAt(n, "YAML merge keys (<<) are not supported by CloudFormation; write the keys out")
	default:
		return nil, errAt(n, "%s is not supported in a CloudFormation template", n.Type())
	}
	return out, nil
}

func (c *converter) convertEntry(mv *ast.MappingValueNode, depth int) (Entry, error) {
	keyNode := ast.Node(mv.Key)
	if _, merge := keyNode.(*ast.MergeKeyNode); merge {
		return Entry{}, errAt(keyNode, "YAML merge keys (<<) are not supported by CloudFormation; write the keys out")
	}
	key, err := c.convert(keyNode, depth+1)
	if err != nil {
		return Entry{}, err
	}
	if key.Kind != Scalar {
		return Entry{}, errAt(keyNode, "a key must be plain text, got %s", key.Kind)
	}
	key.Type = Str
	value, err := c.convert(mv.Value, depth+1)
	if err != nil {
		return Entry{}, err
	}
	// An empty value has no place of its own: it is where its key is.
	if value.Line == 0 || (value.Kind == Scalar && value.Type == Null) {
		value.Line, value.Col = key.Line, key.Col
	}
	return Entry{Key: key, Value: value}, nil
}

// convertTag rewrites a short-form function into its long form, and reads the YAML core
// schema tags (!!str, !!int, ...) as the types they name.
func (c *converter) convertTag(t *ast.TagNode, depth int) (*Node, error) {
	tag := t.Start.Value
	line, col := tokenPos(t.Start)
	c.tags[line] = append(c.tags[line], col)
	switch tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq":
		v, err := c.convert(t.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if tag == "!!str" && v.Kind == Scalar {
			v.Type = Str
		}
		return v, nil
	}
	fn, ok := shortForms[tag]
	if !ok {
		return nil, &Error{Line: line, Col: col, Message: fmt.Sprintf("unknown tag %s; CloudFormation's short forms are !Ref, !GetAtt, !Sub, !Join, !If, ...", tag)}
	}
	arg, err := c.convert(t.Value, depth+1)
	if err != nil {
		return nil, err
	}
	if arg.Line == 0 || (arg.Kind == Scalar && arg.Type == Null) {
		arg.Line, arg.Col = line, col
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
