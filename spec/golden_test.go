package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

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
			golden(t, strings.TrimSuffix(file, ".yaml")+".diag", diagText(diags))
			js, err := json.MarshalIndent(route, "", "  ")
			if err != nil {
				t.Fatalf("marshal route: %v", err)
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".json", append(js, '\n'))
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
			golden(t, strings.TrimSuffix(file, ".yaml")+".diag", diagText(diags))
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

// golden compares got with the file at path, or rewrites the file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./spec -update to create it", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./spec -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
