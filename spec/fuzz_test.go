package spec

import (
	"path/filepath"
	"testing"
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
