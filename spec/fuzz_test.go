package spec

import (
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// FuzzParse holds Parse to its contract on any input: it never panics, a result without errors
// is a usable Route, and every diagnostic points into the file. The corpus starts from the
// testdata files and from the hostile inputs that the bounds of bounds.go refuse.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			f.Add(readFile(f, file))
		}
	}
	for _, h := range hostile() {
		f.Add([]byte(h.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		route, diags := Parse("fuzz.yaml", data)
		if !diags.HasErrors() {
			if route == nil {
				t.Fatalf("no errors but a nil Route; diagnostics:\n%s", diags.Error())
			}
			if len(route.Environments) == 0 {
				t.Fatal("no errors but no environments")
			}
		}
		for _, d := range diags {
			if d.Line < 1 || d.Col < 1 || d.Path == "" || d.Message == "" || d.File != "fuzz.yaml" {
				t.Fatalf("malformed diagnostic %+v", d)
			}
			if d.Severity != SeverityError && d.Severity != SeverityWarning {
				t.Fatalf("unknown severity in %+v", d)
			}
		}
		for i := 1; i < len(diags); i++ {
			a, b := diags[i-1], diags[i]
			if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
				t.Fatalf("diagnostics out of order: %v before %v", a, b)
			}
		}
	})
}

// FuzzPrescanCountsNesting holds the pre-scan to what the YAML parser makes of the same text:
// whatever the scan lets through, the parser's tree is no deeper than a small multiple of the
// depth the scan measured (a mapping level is two or three nodes of the tree). A scan that
// could be fooled into counting less than the parser nests would let a file through whose
// nesting has no bound.
func FuzzPrescanCountsNesting(f *testing.F) {
	for _, h := range hostile() {
		f.Add([]byte(h.data))
	}
	for _, seed := range []string{"a: [it's, [[x]]]\n", "a: ['[', [b]]\n- - - x\n", "a: |\n  - - [\nb: [&x [y]]\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := prescan(data)
		if sc.tooMuch != "" {
			return
		}
		file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
		if err != nil {
			return
		}
		for _, doc := range file.Docs {
			if d := treeDepth(doc, 0); d > 4*sc.depth+8 {
				t.Fatalf("the parser nests %d deep, the scan counted %d", d, sc.depth)
			}
		}
	})
}

// treeDepth is how deep the tree under n goes, counting the nodes that nest.
func treeDepth(n ast.Node, depth int) int {
	if depth > 4*MaxDepth+16 {
		return depth
	}
	deepest := depth
	visit := func(child ast.Node) {
		if child != nil {
			deepest = max(deepest, treeDepth(child, depth+1))
		}
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		visit(v.Body)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			visit(mv)
		}
	case *ast.MappingValueNode:
		visit(v.Key)
		visit(v.Value)
	case *ast.MappingKeyNode:
		visit(v.Value)
	case *ast.SequenceNode:
		for _, item := range v.Values {
			visit(item)
		}
	case *ast.AnchorNode:
		visit(v.Value)
	case *ast.TagNode:
		visit(v.Value)
	}
	return deepest
}
