package template_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/lint/template"
)

// FuzzParse feeds the template parser arbitrary bytes: it must never panic, must either return
// a mapping or a positioned *Error, and every node it returns must have a position.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/*/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"A: !GetAtt B.C.D\n", "A: !If [c, !Ref X, !Sub '${Y}']\n", `{"A": [1, {"B": null}]}`,
		"A: &x 1\nB: *x\n", "A:\n  - !Ref\n", "? a\n: b\n", "A: !!str 10\n", "{\"a\":1}{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := template.Parse("f", data)
		if err != nil {
			var pe *template.Error
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1 || pe.Message == "" {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		if root.Kind != template.Mapping {
			t.Fatalf("root is %v, not a mapping", root.Kind)
		}
		var walk func(n *template.Node)
		walk = func(n *template.Node) {
			if n.Line < 1 || n.Col < 1 {
				t.Fatalf("node without a position: %+v", n)
			}
			for _, e := range n.Entries {
				if e.Key.Line < 1 || e.Key.Col < 1 {
					t.Fatalf("key without a position: %+v", e.Key)
				}
				walk(e.Value)
			}
			for _, it := range n.Items {
				walk(it)
			}
		}
		walk(root)
	})
}
