package aws

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

// TestServerlessExample parses the bundled serverless route (examples/serverless-api) with the
// aws target registered, and checks it against its SAM template: every name sluice.yaml gives
// (function, alias, stack output, parameters, CloudWatch alarms) is one the template declares.
func TestServerlessExample(t *testing.T) {
	dir := filepath.Join("..", "examples", "serverless-api")
	src, err := os.ReadFile(filepath.Join(dir, "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	route, diags := spec.Parse("sluice.yaml", src)
	if len(diags) > 0 {
		t.Fatalf("diagnostics:\n%s", diags.Error())
	}
	template, err := os.ReadFile(filepath.Join(dir, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Tags (!Ref, !Sub) are dropped by this parse: a !Ref X reads as X, a !Sub its text.
	var tpl struct {
		Transform  string                    `yaml:"Transform"`
		Parameters map[string]map[string]any `yaml:"Parameters"`
		Resources  map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
		Outputs map[string]map[string]any `yaml:"Outputs"`
	}
	if err := yaml.Unmarshal(template, &tpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	if tpl.Transform != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform %q", tpl.Transform)
	}
	doc, err := readTemplate(template)
	if err != nil {
		t.Fatal(err)
	}
	declared := doc.parameters()
	for _, p := range []string{ParamArtifactBucket, ParamArtifactKey, ParamArtifactDigest} {
		if !slices.Contains(declared, p) {
			t.Errorf("the template does not declare %s, so Sluice would not set it", p)
		}
	}
	if !slices.Contains(route.Build.Commands, "cp template.yaml dist/template.yaml") || !slices.Contains(route.Build.Artifact, "dist/") {
		t.Errorf("the build does not put the template in the artifact: %+v", route.Build)
	}

	for _, env := range route.Environments {
		tg, ok := env.TargetConfig.(*Target)
		if env.Target != Kind || !ok {
			t.Fatalf("%s: target %s %T", env.Name, env.Target, env.TargetConfig)
		}
		if tg.Template != "dist/template.yaml" || tg.Code != "dist/" {
			t.Errorf("%s: template %q, code %q", env.Name, tg.Template, tg.Code)
		}
		fn := tpl.Resources[tg.Function]
		if fn.Type != "AWS::Serverless::Function" {
			t.Errorf("%s: function %s is a %q in the template", env.Name, tg.Function, fn.Type)
		}
		for _, k := range []string{"AutoPublishAlias", "DeploymentPreference"} {
			if _, ok := fn.Properties[k]; ok {
				t.Errorf("%s: the function has %s; Sluice shifts the alias itself", env.Name, k)
			}
		}
		if code, _ := fn.Properties["CodeUri"].(map[string]any); code["Bucket"] != ParamArtifactBucket || code["Key"] != ParamArtifactKey {
			t.Errorf("%s: CodeUri %v does not point at the artifact's object", env.Name, fn.Properties["CodeUri"])
		}
		aliases := 0
		for _, r := range tpl.Resources {
			if r.Type == "AWS::Lambda::Alias" && r.Properties["Name"] == tg.Alias && r.Properties["FunctionName"] == tg.Function {
				aliases++
			}
		}
		if aliases != 1 {
			t.Errorf("%s: %d AWS::Lambda::Alias named %q on %s in the template, want 1", env.Name, aliases, tg.Alias, tg.Function)
		}
		if _, ok := tpl.Outputs[tg.EndpointOutput]; !ok {
			t.Errorf("%s: endpoint_output %s is not an output of the template", env.Name, tg.EndpointOutput)
		}
		for p := range tg.Parameters {
			if !slices.Contains(declared, p) {
				t.Errorf("%s: parameter %s is not declared by the template", env.Name, p)
			}
		}
		stack := stackName(route.Name, env.Name)
		for _, alarm := range tg.Alarms {
			found := false
			for _, r := range tpl.Resources {
				name, _ := r.Properties["AlarmName"].(string)
				found = found || r.Type == "AWS::CloudWatch::Alarm" && strings.ReplaceAll(name, "${AWS::StackName}", stack) == alarm
			}
			if !found {
				t.Errorf("%s: cloudwatch alarm %s is not one the template creates in stack %s", env.Name, alarm, stack)
			}
		}
	}

	prod := route.Environments[len(route.Environments)-1]
	s := prod.Deploy.Strategy
	if prod.Name != "prod" || !prod.Approval.Required || s.Type != sluice.Linear || s.Percent != 10 ||
		prod.Deploy.Hooks.PreTraffic == "" || prod.Deploy.Hooks.PostTraffic == "" || len(prod.Deploy.Alarms) == 0 ||
		prod.Deploy.Alarms[0].Metric != sluice.MetricErrorRate || len(prod.TargetConfig.(*Target).Alarms) == 0 {
		t.Errorf("prod does not approve, shift linearly by 10%%, hook and watch alarms: %+v", prod)
	}
	dev := route.Environments[0]
	if dev.Name != "dev" || len(dev.Tests) == 0 || dev.Approval.Required {
		t.Errorf("dev does not test without approval: %+v", dev)
	}
	if tg := prod.TargetConfig.(*Target); tg.Account == dev.TargetConfig.(*Target).Account {
		t.Errorf("dev and prod share account %s", tg.Account)
	}
}
