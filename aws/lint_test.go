package aws_test

import (
	"testing"

	"github.com/sluicehq/sluice/lint"
)

// Everything bootstrap and synth write passes sluice lint: the resource specification and the
// security rules, with no finding at all (a warning would be a template users must fix).
func TestEmittedTemplatesPassLint(t *testing.T) {
	templates := map[string][]byte{"pipeline.yaml": synthRoute(t).Template}
	for _, f := range bootstrapRoute(t) {
		if f.Name != "README.md" {
			templates[f.Name] = f.Body
		}
	}
	for name, body := range templates {
		findings, err := lint.Check(name, body, lint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range findings {
			t.Errorf("%s", f)
		}
	}
}
