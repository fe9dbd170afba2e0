package lint_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/lint"
)

// FuzzCheck feeds Check arbitrary templates: it must never panic, and every finding must point
// into the file.
func FuzzCheck(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Resources: {A: {Type: AWS::S3::Bucket, Properties: {Tags: [{Key: !Ref X}]}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		findings, err := lint.Check("fuzz.yaml", data, lint.Options{Enable: optInRules})
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range findings {
			if fd.Line < 1 || fd.Col < 1 || fd.Rule == "" || fd.Message == "" {
				t.Fatalf("finding without a place, rule or message: %+v", fd)
			}
		}
	})
}
