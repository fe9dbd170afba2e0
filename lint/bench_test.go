package lint_test

import (
	"testing"

	"github.com/sluicehq/sluice/lint"
	"github.com/sluicehq/sluice/lint/internal/bigtemplate"
)

// BenchmarkCheck1000 checks a generated template of 1,000 resources, every default rule on.
func BenchmarkCheck1000(b *testing.B) {
	data := bigtemplate.Generate(1000)
	if _, err := lint.Check("big.yaml", data, lint.Options{}); err != nil { // load the specification first
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		findings, err := lint.Check("big.yaml", data, lint.Options{})
		if err != nil || len(findings) != 0 {
			b.Fatalf("findings %v, err %v", findings, err)
		}
	}
}

// TestGeneratedTemplateIsClean keeps the benchmark honest: the generated template is valid and
// passes every rule, opt-in ones included, so the benchmark measures a full check.
func TestGeneratedTemplateIsClean(t *testing.T) {
	findings, err := lint.Check("big.yaml", bigtemplate.Generate(100), lint.Options{Enable: optInRules})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}
