package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// parseJSON reads a JSON template with encoding/json's tokenizer, placing each token at the
// first byte after the previous one that is not white space or punctuation.
func parseJSON(data []byte) (*Node, error) {
	p := &jsonParser{data: data, lines: newLines(data), dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		line, col := p.lines.at(p.start())
		return nil, &Error{Line: line, Col: col, Message: "invalid JSON: text after the end of the template; remove it"}
	}
	return root, nil
}

type jsonParser struct {
	data  []byte
	lines *lines
	dec   *json.Decoder
}

// start is where the next token begins.
func (p *jsonParser) start() int {
	i := int(p.dec.InputOffset())
	for i < len(p.data) {
		switch p.data[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
			continue
		}
		break
	}
	return i
}

func (p *jsonParser) fail(off int, err error) error {
	line, col := p.lines.at(max(0, min(off, len(p.data))))
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Line: line, Col: col, Message: "invalid JSON: the template ends too early; a closing } or ] is missing"}
	}
	return &Error{Line: line, Col: col, Message: fmt.Sprintf("invalid JSON: %v", err)}
}

func (p *jsonParser) value(depth int) (*Node, error) {
	off := p.start()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.fail(off, err)
	}
	line, col := p.lines.at(off)
	if depth > maxDepth {
		return nil, &Error{Line: line, Col: col, Message: fmt.Sprintf("the template nests deeper than %d levels", maxDepth)}
	}
	n := &Node{Line: line, Col: col}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.Kind = Mapping
			for p.dec.More() {
				koff := p.start()
				ktok, err := p.dec.Token()
				if err != nil {
					return nil, p.fail(koff, err)
				}
				kl, kc := p.lines.at(koff)
				key, _ := ktok.(string) // the decoder refuses a key that is not a string
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Entries = append(n.Entries, Entry{Key: &Node{Kind: Scalar, Type: Str, Value: key, Line: kl, Col: kc}, Value: v})
			}
		case '[':
			n.Kind = Sequence
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Items = append(n.Items, v)
			}
		}
		coff := p.start()
		if _, err := p.dec.Token(); err != nil {
			return nil, p.fail(coff, err)
		}
	case string:
		n.Value, n.text.quoted = t, true
	case json.Number:
		n.Value, n.Type = string(t), Int
		if bytes.ContainsAny([]byte(t), ".eE") {
			n.Type = Float
		}
	case bool:
		n.Value, n.Type = fmt.Sprint(t), Bool
	case nil:
		n.Value, n.Type = "null", Null
	}
	return n, nil
}
