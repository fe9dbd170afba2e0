package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/golden"
)

// TestGoldenValid parses every testdata/valid file: none may have errors, its warnings must
// match NAME.diag and the parsed, defaulted Route must match NAME.json.
func TestGoldenValid(t *testing.T) {
	files := testdataFiles(t, "valid")
	if len(files) < 6 {
		t.Fatalf("want at least 6 valid examples, have %d", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			route, diags := Parse(filepath.Base(file), readFile(t, file))
			if diags.HasErrors() {
				t.Fatalf("valid file has errors:\n%s", diags.Error())
			}
			if route == nil {
				t.Fatal("no errors but a nil Route")
			}
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".diag", diagText(diags))
			js, err := json.MarshalIndent(route, "", "  ")
			if err != nil {
				t.Fatalf("marshal route: %v", err)
			}
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".json", append(js, '\n'))
		})
	}
}

// TestGoldenInvalid parses every testdata/invalid file: each must have errors, no Route, and
// exactly the diagnostics of NAME.diag.
func TestGoldenInvalid(t *testing.T) {
	for _, file := range testdataFiles(t, "invalid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			route, diags := Parse(filepath.Base(file), readFile(t, file))
			if !diags.HasErrors() {
				t.Fatalf("invalid file has no errors; diagnostics:\n%s", diags.Error())
			}
			if route != nil {
				t.Error("errors but a non-nil Route")
			}
			golden.Check(t, strings.TrimSuffix(file, ".yaml")+".diag", diagText(diags))
		})
	}
}

func testdataFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/%s/*.yaml", dir)
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func diagText(diags Diagnostics) []byte {
	var b bytes.Buffer
	for _, d := range diags {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}
