package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// This file holds the typed accessors over the YAML syntax tree. Each reports what it expected
// and what it found, at the node's position, and returns ok=false so the caller skips the value
// and goes on walking: one wrong type never hides the next problem.

// position is a 1-based line and column in the file.
type position struct{ line, col int }

// field is one key of a mapping with its (alias-resolved) value. path is the key's full path.
type field struct {
	key    string
	path   string
	keyPos position
	value  ast.Node
}

// pos is where field's value is, or its key when the value is empty.
func (f field) pos() position {
	if p := posOf(f.value); p.line > 0 {
		return p
	}
	return f.keyPos
}

// item is one element of a list.
type item struct {
	path  string
	value ast.Node
}

// maxMergeDepth bounds merge keys that merge mappings that merge mappings: real files need one
// or two levels, and a bound stops an anchor that merges itself.
const maxMergeDepth = 8

// reader walks one document and collects diagnostics and the positions of the keys it saw.
type reader struct {
	file    string
	diags   Diagnostics
	anchors map[string][]anchorDef
	// keyAt holds where each path's key (or list element) is, so that checks made after the
	// walk, and reports of missing keys, can point into the file.
	keyAt map[string]position
	// broken holds the paths whose alias could not be resolved, so the empty value it leaves
	// is not reported a second time as the wrong type.
	broken map[string]bool
	root   position
	// badUTF8 holds where the file is not UTF-8, from prescan; badReported marks those a
	// diagnostic with a path has named already.
	badUTF8     []badByte
	badReported map[position]bool
	// work counts the values the walk has visited, aliases expanded; see spend.
	work       int
	overworked bool
	// targets are the kinds of target environments may name.
	targets *Targets
}

type anchorDef struct {
	offset int
	value  ast.Node
}

func newReader(file string) *reader {
	return &reader{
		file:    file,
		anchors: make(map[string][]anchorDef),
		keyAt:   make(map[string]position),
		broken:  make(map[string]bool),
		root:    position{1, 1},

		badReported: make(map[position]bool),
		targets:     defaultTargets,
	}
}

func (r *reader) report(sev Severity, at position, path, format string, args ...any) {
	if r.overworked {
		// What the walk found after it stopped expanding aliases is an artefact of stopping.
		return
	}
	if path == "" {
		path = RootPath
	}
	if at.line < 1 {
		at = r.root
	}
	r.diags = append(r.diags, Diagnostic{
		File: r.file, Line: at.line, Col: at.col, Severity: sev, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

func (r *reader) errorf(at position, path, format string, args ...any) {
	r.report(SeverityError, at, path, format, args...)
}

func (r *reader) warnf(at position, path, format string, args ...any) {
	r.report(SeverityWarning, at, path, format, args...)
}

// at returns where path is, or where its nearest recorded ancestor is: a missing key is
// reported at the mapping that should hold it.
func (r *reader) at(path string) position {
	for path != "" {
		if p, ok := r.keyAt[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return r.root
}

// maxWork bounds the values the walk visits. Without aliases a file that passes prescan has
// at most MaxLines+MaxFlowItems values; aliases and merge keys can name one mapping many times
// over, and mappings that merge such mappings multiply that (a "billion laughs").
const maxWork = 200000

// spend counts n more values visited at at, and reports false, once with an error, when the
// walk has done more than maxWork.
func (r *reader) spend(n int, at position) bool {
	r.work += n
	if r.work <= maxWork {
		return true
	}
	if !r.overworked {
		r.errorf(at, "", "aliases and merge keys (<<) expand to more than %d values here; a sluice.yaml needs far fewer: use each anchor a few times, not in anchors that are themselves repeated", maxWork)
		r.overworked = true
	}
	return false
}

// badText reports s, the text of node n at path, when it holds bytes that were not UTF-8 in the
// file (the YAML parser turned them into U+FFFD). It points at the first such byte.
func (r *reader) badText(n ast.Node, path, s string) bool {
	if len(r.badUTF8) == 0 || !strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	start := posOf(n)
	for i, b := range r.badUTF8 {
		if b.at.line > start.line || (b.at.line == start.line && b.at.col >= start.col) {
			r.errorf(b.at, path, "%s", badUTF8Message(b.b))
			// The value holds the next few bad bytes too, one U+FFFD each: one diagnostic names them.
			for _, rest := range r.badUTF8[i:min(len(r.badUTF8), i+strings.Count(s, string(utf8.RuneError)))] {
				r.badReported[rest.at] = true
			}
			return true
		}
	}
	return false
}

func badUTF8Message(b byte) string {
	return fmt.Sprintf("invalid UTF-8 (byte 0x%02x); a sluice.yaml is UTF-8 text: save it as UTF-8 or write the character again", b)
}

// reportBadUTF8 reports the bytes that are not UTF-8 and that no value claimed: in comments,
// in keys Sluice ignores, or in a file the parser could not read.
func (r *reader) reportBadUTF8(more bool) {
	for _, b := range r.badUTF8 {
		if !r.badReported[b.at] {
			r.errorf(b.at, "", "%s", badUTF8Message(b.b))
		}
	}
	if more {
		last := r.badUTF8[len(r.badUTF8)-1]
		r.errorf(last.at, "", "more than %d places are not UTF-8; the file is probably in another encoding: save it as UTF-8", maxBadUTF8)
	}
}

// missing reports a required key that is absent.
func (r *reader) missing(path, format string, args ...any) {
	r.errorf(r.at(parentPath(path)), path, "missing; "+format, args...)
}

func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// collectAnchors records every anchor of the document so aliases can be resolved. It is a full
// walk of the tree, independent of what the schema expects.
func (r *reader) collectAnchors(n ast.Node) {
	switch n := n.(type) {
	case *ast.AnchorNode:
		if name, ok := n.Name.(*ast.StringNode); ok && n.Start != nil && n.Start.Position != nil {
			r.anchors[name.Value] = append(r.anchors[name.Value], anchorDef{n.Start.Position.Offset, n.Value})
		}
		r.collectAnchors(n.Value)
	case *ast.MappingNode:
		for _, v := range n.Values {
			r.collectAnchors(v)
		}
	case *ast.MappingValueNode:
		r.collectAnchors(n.Key)
		r.collectAnchors(n.Value)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			r.collectAnchors(v)
		}
	case *ast.TagNode:
		r.collectAnchors(n.Value)
	case *ast.MappingKeyNode:
		r.collectAnchors(n.Value)
	}
}

// resolve strips anchors and tags and follows aliases to the node they name. An alias to an
// undefined anchor is reported and resolves to nil.
func (r *reader) resolve(n ast.Node, path string) ast.Node {
	// Each step either removes a wrapper or follows an alias to an earlier anchor, so a bound
	// only matters for pathological input.
	for range 64 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.TagNode:
			if v.Start != nil && v.Start.Value == "!!str" {
				if s, ok := v.Value.(ast.ScalarNode); ok && s.GetToken() != nil {
					if _, isNull := s.(*ast.NullNode); !isNull {
						return ast.String(s.GetToken())
					}
				}
			}
			n = v.Value
		case *ast.AliasNode:
			name, _ := v.Value.(*ast.StringNode)
			target := r.anchorBefore(name, v.Start)
			if target == nil {
				label := ""
				if name != nil {
					label = name.Value
				}
				r.errorf(posOf(v), path, "alias *%s names no anchor defined before it; define &%s first", label, label)
				r.broken[path] = true
				return nil
			}
			n = target
		default:
			return n
		}
	}
	r.errorf(posOf(n), path, "aliases refer to each other without end; use plain values")
	return nil
}

// anchorBefore finds the latest definition of name that precedes the alias, as YAML requires.
func (r *reader) anchorBefore(name *ast.StringNode, alias *token.Token) ast.Node {
	if name == nil {
		return nil
	}
	offset := math.MaxInt
	if alias != nil && alias.Position != nil {
		offset = alias.Position.Offset
	}
	var found ast.Node
	for _, def := range r.anchors[name.Value] {
		if def.offset < offset {
			found = def.value
		}
	}
	return found
}

// posOf returns where n starts: for a block mapping, its first key rather than its first ':'.
func posOf(n ast.Node) position {
	switch v := n.(type) {
	case nil:
		return position{}
	case *ast.MappingNode:
		if v == nil {
			return position{}
		}
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0] != nil {
			return posOf(v.Values[0].Key)
		}
		return tokenPos(v.Start)
	case *ast.MappingValueNode:
		if v == nil {
			return position{}
		}
		return posOf(v.Key)
	case *ast.DocumentNode:
		if v == nil || v.Body == nil {
			return position{}
		}
		return posOf(v.Body)
	}
	return tokenPos(n.GetToken())
}

func tokenPos(tk *token.Token) position {
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

// kindOf names n's type as a person would: "a list", "an integer".
func kindOf(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "the integer " + v.Token.Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + strconv.FormatBool(v.Value)
	}
	return "a " + n.Type().String()
}

func (r *reader) typeError(n ast.Node, at position, path, want string) {
	if n == nil && r.broken[path] {
		return // the broken alias that made n nil is reported already
	}
	if p := posOf(n); p.line > 0 {
		at = p
	}
	r.errorf(at, path, "expected %s, got %s", want, kindOf(n))
}

// entries returns the key/value pairs of a mapping, with merge keys (<<) expanded and later
// duplicates reported. n must already be resolved.
func (r *reader) entries(n ast.Node, path string) ([]field, bool) {
	var own []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		own = v.Values
	case *ast.MappingValueNode:
		own = []*ast.MappingValueNode{v}
	default:
		return nil, false
	}
	if !r.spend(len(own), posOf(n)) {
		return nil, true
	}
	var out []field
	seen := make(map[string]position)
	var merged []field
	for _, mv := range own {
		if mv == nil {
			continue
		}
		if _, isMerge := mv.Key.(*ast.MergeKeyNode); isMerge {
			merged = append(merged, r.merge(mv, path, 1)...)
			continue
		}
		key, ok := r.keyText(mv.Key, path)
		if !ok {
			continue
		}
		f := field{key: key, path: joinPath(path, key), keyPos: posOf(mv.Key), value: mv.Value}
		if first, dup := seen[key]; dup {
			r.errorf(f.keyPos, f.path, "key appears twice (first on line %d); keep one", first.line)
			continue
		}
		seen[key] = f.keyPos
		out = append(out, f)
	}
	// Keys written in the mapping itself win over merged ones, as YAML merge keys specify.
	for _, f := range merged {
		if _, dup := seen[f.key]; !dup {
			seen[f.key] = f.keyPos
			out = append(out, f)
		}
	}
	return out, true
}

// merge expands one "<<: *anchor" (or a list of them) into its fields, earlier mappings first.
func (r *reader) merge(mv *ast.MappingValueNode, path string, depth int) []field {
	at := posOf(mv.Key)
	if depth > maxMergeDepth {
		r.errorf(at, path, "merge keys (<<) nest more than %d deep, or an anchor merges itself; flatten them", maxMergeDepth)
		return nil
	}
	value := r.resolve(mv.Value, path)
	sources := []ast.Node{value}
	if seq, ok := value.(*ast.SequenceNode); ok {
		sources = sources[:0]
		for _, v := range seq.Values {
			sources = append(sources, r.resolve(v, path))
		}
	}
	var out []field
	seen := make(map[string]bool)
	for _, src := range sources {
		var own []*ast.MappingValueNode
		switch v := src.(type) {
		case *ast.MappingNode:
			own = v.Values
		case *ast.MappingValueNode:
			own = []*ast.MappingValueNode{v}
		default:
			r.typeError(src, at, path, "a mapping or a list of mappings after <<")
			continue
		}
		if !r.spend(len(own), at) {
			return out
		}
		var nested []field
		for _, inner := range own {
			if inner == nil {
				continue
			}
			if _, isMerge := inner.Key.(*ast.MergeKeyNode); isMerge {
				nested = append(nested, r.merge(inner, path, depth+1)...)
				continue
			}
			key, ok := r.keyText(inner.Key, path)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, field{key: key, path: joinPath(path, key), keyPos: posOf(inner.Key), value: inner.Value})
		}
		for _, f := range nested {
			if !seen[f.key] {
				seen[f.key] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func (r *reader) keyText(k ast.MapKeyNode, path string) (string, bool) {
	switch v := r.resolve(k, path).(type) {
	case *ast.StringNode:
		if r.badText(v, path, v.Value) {
			return "", false
		}
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	case nil:
		return "", false
	default:
		r.errorf(posOf(k), path, "a key must be a plain word, not %s", kindOf(v))
		return "", false
	}
}

// fields reads a mapping whose keys are known, reporting unknown keys with a suggestion. The
// values it returns are resolved, and their keys' positions recorded for later checks.
func (r *reader) fields(f field, known []string) (map[string]field, bool) {
	n := r.resolve(f.value, f.path)
	entries, ok := r.entries(n, f.path)
	if !ok {
		r.typeError(n, f.pos(), f.path, "a mapping with keys "+strings.Join(known, ", "))
		return nil, false
	}
	out := make(map[string]field, len(entries))
	for _, e := range entries {
		if !slices.Contains(known, e.key) {
			if f.path == "" && strings.HasPrefix(e.key, extensionPrefix) {
				continue
			}
			r.errorf(e.keyPos, e.path, "unknown key %q%s", e.key, didYouMean(e.key, known))
			continue
		}
		r.keyAt[e.path] = e.keyPos
		e.value = r.resolve(e.value, e.path)
		out[e.key] = e
	}
	return out, true
}

// extensionPrefix marks top-level keys Sluice ignores, so a file can hold anchors to reuse.
const extensionPrefix = "x-"

// list reads a sequence; want describes it for the type error ("a list of strings").
func (r *reader) list(f field, want string) ([]item, bool) {
	seq, ok := f.value.(*ast.SequenceNode)
	if !ok {
		r.typeError(f.value, f.pos(), f.path, want)
		return nil, false
	}
	if !r.spend(len(seq.Values), f.pos()) {
		return nil, true
	}
	items := make([]item, 0, len(seq.Values))
	for i, v := range seq.Values {
		p := indexPath(f.path, i)
		resolved := r.resolve(v, p)
		if at := posOf(resolved); at.line > 0 {
			r.keyAt[p] = at
		} else if at := posOf(v); at.line > 0 {
			r.keyAt[p] = at
		}
		items = append(items, item{path: p, value: resolved})
	}
	return items, true
}

// str reads a string. Numbers and booleans are refused rather than converted, so that
// "0" and 0 never mean different things in different places.
func (r *reader) str(f field) (string, bool) {
	switch v := f.value.(type) {
	case *ast.StringNode:
		if r.badText(v, f.path, v.Value) {
			return "", false
		}
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		if r.badText(v, f.path, v.Value.Value) {
			return "", false
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		r.errorf(f.pos(), f.path, "expected a string, got %s; quote it: %q", kindOf(v), v.GetToken().Value)
		return "", false
	}
	r.typeError(f.value, f.pos(), f.path, "a string")
	return "", false
}

// command reads a string that is run by a shell and so must say something.
func (r *reader) command(f field) (string, bool) {
	s, ok := r.str(f)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		r.errorf(f.pos(), f.path, "empty command; write the shell command to run")
		return "", false
	}
	return s, true
}

// strItem is one string of a list, with where it is.
type strItem struct {
	s    string
	path string
	pos  position
}

// strItems reads a list of strings, reporting each element that is not one and leaving it out.
func (r *reader) strItems(f field, want string) ([]strItem, bool) {
	items, ok := r.list(f, want)
	if !ok {
		return nil, false
	}
	out := make([]strItem, 0, len(items))
	for _, it := range items {
		at := r.keyAt[it.path]
		if s, ok := r.str(field{path: it.path, keyPos: at, value: it.value}); ok {
			out = append(out, strItem{s: s, path: it.path, pos: at})
		}
	}
	return out, true
}

func isMapping(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return true
	}
	return false
}

func isString(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return true
	}
	return false
}

func (r *reader) boolean(f field) (bool, bool) {
	if v, ok := f.value.(*ast.BoolNode); ok {
		return v.Value, true
	}
	if s, ok := f.value.(*ast.StringNode); ok {
		r.errorf(f.pos(), f.path, "expected true or false, got %q", s.Value)
		return false, false
	}
	r.typeError(f.value, f.pos(), f.path, "true or false")
	return false, false
}

func (r *reader) integer(f field) (int, bool) {
	v, ok := f.value.(*ast.IntegerNode)
	if !ok {
		if s, isString := f.value.(*ast.StringNode); isString {
			r.errorf(f.pos(), f.path, "expected an integer, got the string %q", s.Value)
			return 0, false
		}
		r.typeError(f.value, f.pos(), f.path, "an integer")
		return 0, false
	}
	switch n := v.Value.(type) {
	case int64:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n), true
		}
	case uint64:
		if n <= math.MaxInt32 {
			return int(n), true
		}
	}
	r.errorf(f.pos(), f.path, "%s is too large", v.Token.Value)
	return 0, false
}

func (r *reader) number(f field) (float64, bool) {
	switch v := f.value.(type) {
	case *ast.FloatNode:
		return v.Value, true
	case *ast.IntegerNode:
		switch n := v.Value.(type) {
		case int64:
			return float64(n), true
		case uint64:
			return float64(n), true
		}
	case *ast.InfinityNode, *ast.NanNode:
		r.errorf(f.pos(), f.path, "expected a finite number, got %s", v.GetToken().Value)
		return 0, false
	case *ast.StringNode:
		r.errorf(f.pos(), f.path, "expected a number, got the string %q", v.Value)
		return 0, false
	}
	r.typeError(f.value, f.pos(), f.path, "a number")
	return 0, false
}

// duration reads a positive duration such as 30s or 10m.
func (r *reader) duration(f field) (time.Duration, bool) {
	switch v := f.value.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		r.errorf(f.pos(), f.path, "expected a duration such as 30s or 10m, got %s; add a unit: %ss", kindOf(v), v.GetToken().Value)
		return 0, false
	case *ast.StringNode:
		d, err := time.ParseDuration(strings.TrimSpace(v.Value))
		if err != nil {
			hint := "use units h, m, s or ms, e.g. 90s, 10m, 1h30m"
			if strings.HasSuffix(strings.TrimSpace(v.Value), "d") {
				hint = "days are not a unit; use hours, e.g. 168h for 7 days"
			}
			r.errorf(f.pos(), f.path, "%q is not a duration; %s", v.Value, hint)
			return 0, false
		}
		if d <= 0 {
			r.errorf(f.pos(), f.path, "must be longer than zero, got %s", v.Value)
			return 0, false
		}
		return d, true
	}
	r.typeError(f.value, f.pos(), f.path, "a duration such as 30s or 10m")
	return 0, false
}

// envMap reads NAME: value pairs for a process environment.
func (r *reader) envMap(f field) map[string]string {
	entries, ok := r.entries(f.value, f.path)
	if !ok {
		r.typeError(f.value, f.pos(), f.path, `a mapping of NAME: "value"`)
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		r.keyAt[e.path] = e.keyPos
		if !validVarName(e.key) {
			r.errorf(e.keyPos, e.path, "%q is not a valid environment variable name; use letters, digits and '_', not starting with a digit", e.key)
			continue
		}
		if strings.HasPrefix(e.key, "SLUICE_") {
			r.warnf(e.keyPos, e.path, "names starting with SLUICE_ are set by Sluice itself and may be overwritten; pick another name")
		}
		e.value = r.resolve(e.value, e.path)
		if s, ok := r.str(e); ok {
			out[e.key] = s
		}
	}
	return out
}
