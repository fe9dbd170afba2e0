package aws_test

import (
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/lint"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// Everything bootstrap and synth write, for every example and test route with aws
// environments, passes sluice lint: the resource specification and the security rules, with no
// finding at all (a warning would be a template users must fix).
func TestEmittedTemplatesPassLint(t *testing.T) {
	for _, file := range []string{
		filepath.Join("..", "examples", "serverless-api", "sluice.yaml"),
		filepath.Join("testdata", "aws.yaml"),
		filepath.Join("testdata", "bootstrap", "route.yaml"),
		filepath.Join("testdata", "synth", "route.yaml"),
	} {
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			route, diags := spec.Parse(file, read(t, file))
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			opts := aws.BootstrapOptions{Route: route.Name, ToolingAccount: "111122223333", ToolingRegion: "eu-west-1"}
			var envs []aws.BootstrapEnvironment
			for _, e := range route.Environments {
				if tg, ok := e.TargetConfig.(*aws.Target); ok {
					envs = append(envs, aws.BootstrapEnvironment{Name: e.Name, Target: tg})
				}
			}
			files, err := aws.Bootstrap(opts, envs)
			if err != nil {
				t.Fatal(err)
			}
			templates := map[string][]byte{}
			for _, f := range files {
				if f.Stack != "" {
					templates[f.Name] = f.Body
				}
			}
			res, err := aws.Synth(plan.Compile(route), aws.SynthOptions{ToolingAccount: opts.ToolingAccount, ToolingRegion: opts.ToolingRegion, Pipelines: route.Pipelines})
			if err != nil {
				t.Fatal(err)
			}
			templates["pipeline.yaml"] = res.Template
			for name, body := range templates {
				findings, err := lint.Check(name, body, lint.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range findings {
					t.Errorf("%s", f)
				}
			}
		})
	}
}
