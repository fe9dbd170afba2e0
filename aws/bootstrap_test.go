package aws_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/internal/golden"
	"github.com/sluicehq/sluice/spec"
)

func bootstrapRoute(t *testing.T) []aws.BootstrapFile {
	t.Helper()
	route, diags := spec.Parse("route.yaml", read(t, filepath.Join("testdata", "bootstrap", "route.yaml")))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var envs []aws.BootstrapEnvironment
	for _, e := range route.Environments {
		envs = append(envs, aws.BootstrapEnvironment{Name: e.Name, Target: e.TargetConfig.(*aws.Target)})
	}
	files, err := aws.Bootstrap(aws.BootstrapOptions{Route: route.Name, ToolingAccount: "111122223333", ToolingRegion: "eu-west-1"}, envs)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The files come in deployment order, one per stack, with a README; their text is kept as
// golden files so a change to what bootstrap grants is reviewed like code.
func TestBootstrapFiles(t *testing.T) {
	files := bootstrapRoute(t)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		golden.Check(t, filepath.Join("testdata", "bootstrap", f.Name), f.Body)
	}
	want := []string{"01-artifacts-us-east-1.yaml", "01-tooling.yaml", "02-role-222233334444-eu-west-1.yaml", "02-role-333344445555-us-east-1.yaml", "README.md"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	if !slices.IsSorted(names) {
		t.Errorf("file names %q do not sort in deployment order", names)
	}
}

// Every Allow statement of every template is least privilege: no action wildcard beyond what
// a key policy needs, no resource "*" except where AWS offers nothing narrower, PassRole only
// for the execution role, and the deployment role may delete change sets.
func TestBootstrapIsLeastPrivilege(t *testing.T) {
	files := bootstrapRoute(t)
	var allows []map[string]any
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".yaml") {
			continue
		}
		var doc map[string]any
		if err := yaml.Unmarshal(f.Body, &doc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		walkStatements(doc, func(where string, s map[string]any) {
			if s["Effect"] != "Allow" {
				return
			}
			s["where"] = f.Name + ":" + where
			allows = append(allows, s)
		})
	}
	if len(allows) < 15 {
		t.Fatalf("found %d Allow statements; the walk missed some", len(allows))
	}
	var deletesChangeSets, passRole bool
	for _, s := range allows {
		where := s["where"].(string)
		actions := strs(s["Action"])
		for _, a := range actions {
			service, name, _ := strings.Cut(a, ":")
			if a == "*" || name == "*" || service == "iam" && strings.Contains(name, "*") {
				t.Errorf("%s: action %q is a wildcard", where, a)
			}
			if a == "cloudformation:DeleteChangeSet" {
				deletesChangeSets = true
			}
			if a == "iam:PassRole" && strings.Contains(where, "DeploymentRole") {
				passRole = true
				if r := strs(s["Resource"]); len(r) != 1 || !strings.HasSuffix(r[0], "-CloudFormationExecutionRole") {
					t.Errorf("%s: iam:PassRole on %q, want only the execution role", where, r)
				}
			}
		}
		for _, r := range strs(s["Resource"]) {
			keyPolicy := strings.Contains(where, "KeyPolicy")
			cloudwatchRead := slices.Equal(actions, []string{"cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"})
			if r == "*" && !keyPolicy && !cloudwatchRead {
				t.Errorf("%s: resource * for %q", where, actions)
			}
		}
	}
	if !deletesChangeSets || !passRole {
		t.Errorf("the deployment role may delete change sets: %v; pass the execution role: %v", deletesChangeSets, passRole)
	}
	for _, f := range files {
		body := string(f.Body)
		for _, hardcoded := range []string{"AdministratorAccess", "123456789012"} {
			if strings.Contains(body, hardcoded) {
				t.Errorf("%s mentions %s", f.Name, hardcoded)
			}
		}
	}
}

// The tooling stack holds what the issue of cross-account pipelines keeps getting wrong: a key
// that rotates and lets the environment roles decrypt, a bucket that is encrypted, private and
// TLS-only, and a topic EventBridge may publish to.
func TestBootstrapToolingStack(t *testing.T) {
	files := map[string]aws.BootstrapFile{}
	for _, f := range bootstrapRoute(t) {
		files[f.Name] = f
	}
	var doc map[string]any
	if err := yaml.Unmarshal(files["01-tooling.yaml"].Body, &doc); err != nil {
		t.Fatal(err)
	}
	res := doc["Resources"].(map[string]any)
	prop := func(logical, path string) any {
		var v any = res[logical].(map[string]any)["Properties"]
		for _, k := range strings.Split(path, ".") {
			v = v.(map[string]any)[k]
		}
		return v
	}
	if prop("ArtifactKey", "EnableKeyRotation") != true {
		t.Error("the artifact key does not rotate")
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if prop("ArtifactBucket", "PublicAccessBlockConfiguration."+k) != true {
			t.Errorf("bucket %s is not set", k)
		}
	}
	if prop("ArtifactBucket", "BucketName") != "orders-artifacts" {
		t.Errorf("bucket %v, want the route's orders-artifacts", prop("ArtifactBucket", "BucketName"))
	}
	text := string(files["01-tooling.yaml"].Body)
	for _, want := range []string{"aws:SecureTransport", "events.amazonaws.com", "sns:Publish", "alias/orders-artifacts",
		"arn:aws:iam::222233334444:role/orders-eu-west-1-DeploymentRole", "arn:aws:iam::333344445555:role/orders-us-east-1-CloudFormationExecutionRole",
		// S3 answers 404 only to who may list: the engine may, on its prefix.
		"s3:ListBucket", "s3:prefix: sluice/orders/*",
		// The key names no role that does not exist yet, and lets the synthesized pipeline in.
		"aws:PrincipalArn:\n                  - arn:aws:iam::111122223333:role/orders-SluiceEngine", "orders-SluicePipeline"} {
		if !strings.Contains(text, want) {
			t.Errorf("the tooling stack does not mention %s", want)
		}
	}
	if f := files["01-artifacts-us-east-1.yaml"]; f.Region != "us-east-1" || f.Account != "111122223333" || !strings.Contains(string(f.Body), "BucketName: orders-artifacts-us-east-1") {
		t.Errorf("us-east-1's artifact stack: %s in %s, want the tooling account's bucket there:\n%s", f.Account, f.Region, f.Body)
	}
	roles := string(files["02-role-222233334444-eu-west-1.yaml"].Body)
	for _, want := range []string{"sts:ExternalId", "sluice-orders", "arn:aws:iam::111122223333:role/orders-SluiceEngine",
		"stack/orders-dev/*", "stack/orders-qa/*", "function:orders-dev-*", "lambda:InvokeFunction", "alarm:orders-qa-*"} {
		if !strings.Contains(roles, want) {
			t.Errorf("the role stack does not mention %s", want)
		}
	}
}

func TestBootstrapRefusesBadInput(t *testing.T) {
	tg := &aws.Target{Account: "222233334444", Region: "eu-west-1"}
	env := []aws.BootstrapEnvironment{{Name: "dev", Target: tg}}
	for name, c := range map[string]struct {
		opts aws.BootstrapOptions
		envs []aws.BootstrapEnvironment
		want string
	}{
		"tooling account": {aws.BootstrapOptions{Route: "r", ToolingAccount: "12", ToolingRegion: "eu-west-1"}, env, "--tooling-account"},
		"region":          {aws.BootstrapOptions{Route: "r", ToolingAccount: "111122223333", ToolingRegion: "Ireland"}, env, "--region"},
		"no environment":  {aws.BootstrapOptions{Route: "r", ToolingAccount: "111122223333", ToolingRegion: "eu-west-1"}, nil, "nothing to bootstrap"},
		"two buckets": {aws.BootstrapOptions{Route: "r", ToolingAccount: "111122223333", ToolingRegion: "eu-west-1"}, []aws.BootstrapEnvironment{
			{Name: "a", Target: &aws.Target{Account: "222233334444", Region: "eu-west-1", ArtifactBucket: "one-bucket"}},
			{Name: "b", Target: &aws.Target{Account: "222233334444", Region: "eu-west-1", ArtifactBucket: "two-bucket"}},
		}, "two artifact buckets"},
	} {
		if _, err := aws.Bootstrap(c.opts, c.envs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// walkStatements calls f with every policy statement in v.
func walkStatements(v any, f func(where string, s map[string]any)) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if st, ok := x["Statement"].([]any); ok {
				for i, s := range st {
					if sm, ok := s.(map[string]any); ok {
						f(fmt.Sprintf("%s.Statement[%d]", path, i), sm)
					}
				}
			}
			for k, child := range x {
				walk(path+"."+k, child)
			}
		case []any:
			for i, child := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), child)
			}
		}
	}
	walk("", v)
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
