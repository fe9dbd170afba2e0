package aws_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/internal/golden"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

func synthRoute(t *testing.T) *aws.SynthResult {
	t.Helper()
	route, diags := spec.Parse("route.yaml", read(t, filepath.Join("testdata", "synth", "route.yaml")))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	res, err := aws.Synth(plan.Compile(route), aws.SynthOptions{ToolingAccount: "111122223333", ToolingRegion: "eu-west-1", Pipelines: route.Pipelines})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The pipeline is kept as a golden file, so a change to it is reviewed like code; the notes
// say what has no CodePipeline equivalent.
func TestSynthGolden(t *testing.T) {
	res := synthRoute(t)
	golden.Check(t, filepath.Join("testdata", "synth", "pipeline.yaml"), res.Template)
	golden.Check(t, filepath.Join("testdata", "synth", "notes.txt"), []byte(strings.Join(res.Notes, "\n")+"\n"))
}

func TestSynthPipeline(t *testing.T) {
	res := synthRoute(t)
	var doc struct {
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(res.Template, &doc); err != nil {
		t.Fatal(err)
	}
	pipe := doc.Resources["Pipeline"].Properties
	if pipe["PipelineType"] != "V2" || pipe["ExecutionMode"] != "QUEUED" {
		t.Errorf("pipeline type %v, mode %v; want V2, QUEUED", pipe["PipelineType"], pipe["ExecutionMode"])
	}
	var stages []string
	for _, s := range pipe["Stages"].([]any) {
		stages = append(stages, s.(map[string]any)["Name"].(string))
	}
	if got := strings.Join(stages, " "); got != "Source Build Checks dev prod" {
		t.Errorf("stages %s, want Source Build Checks dev prod (the local environment left out)", got)
	}
	prod := pipe["Stages"].([]any)[4].(map[string]any)
	var actions []string
	for _, a := range prod["Actions"].([]any) {
		am := a.(map[string]any)
		actions = append(actions, am["Name"].(string))
		if am["Name"] == "CreateChangeSet" {
			if am["RoleArn"] != "arn:aws:iam::333344445555:role/orders-us-east-1-DeploymentRole" || am["Region"] != "us-east-1" {
				t.Errorf("prod's change set is made with role %v in %v", am["RoleArn"], am["Region"])
			}
			cfg := am["Configuration"].(map[string]any)
			if cfg["ActionMode"] != "CHANGE_SET_REPLACE" || cfg["TemplatePath"] != "BuildOutput::template.yaml" {
				t.Errorf("change set configuration %v", cfg)
			}
		}
	}
	if got := strings.Join(actions, " "); got != "CreateChangeSet Approve ExecuteChangeSet" {
		t.Errorf("prod actions %s", got)
	}
	cond, _ := prod["OnSuccess"].(map[string]any)
	if cond == nil || !strings.Contains(string(res.Template), "AlarmName: orders-prod-5xx") || prod["OnFailure"].(map[string]any)["Result"] != "ROLLBACK" {
		t.Errorf("prod's alarm is not a stage condition that rolls back: %v", prod)
	}
	text := string(res.Template)
	trigger := pipe["Triggers"].([]any)[0].(map[string]any)["GitConfiguration"].(map[string]any)["Push"].([]any)[0].(map[string]any)
	if inc := trigger["Branches"].(map[string]any)["Includes"].([]any); len(inc) != 1 || inc[0] != "main" {
		t.Errorf("push trigger on %v, want main", inc)
	}
	for _, want := range []string{"exported-variables", "#{DeployDev.ApiUrl}", "CodePipeline Pipeline Execution State Change", "InputTemplate"} {
		if !strings.Contains(text, want) {
			t.Errorf("the pipeline does not contain %q", want)
		}
	}
	// Branch and pull-request pipelines: their own CodePipelines with trigger filters and only
	// their environments.
	release := doc.Resources["BranchPipeline1"].Properties
	if release["Name"] != "orders-release" {
		t.Errorf("release pipeline named %v", release["Name"])
	}
	relTrigger := release["Triggers"].([]any)[0].(map[string]any)["GitConfiguration"].(map[string]any)["Push"].([]any)[0].(map[string]any)
	if inc := relTrigger["Branches"].(map[string]any)["Includes"].([]any); len(inc) != 1 || inc[0] != "release/*" {
		t.Errorf("release trigger %v, want release/*", inc)
	}
	var relStages []string
	for _, st := range release["Stages"].([]any) {
		relStages = append(relStages, st.(map[string]any)["Name"].(string))
	}
	if got := strings.Join(relStages, " "); got != "Source Build Checks dev" {
		t.Errorf("release stages %s, want Source Build Checks dev", got)
	}
	pr := doc.Resources["PullRequestPipeline"].Properties
	prTrigger := pr["Triggers"].([]any)[0].(map[string]any)["GitConfiguration"].(map[string]any)["PullRequest"].([]any)[0].(map[string]any)
	if ev := prTrigger["Events"].([]any); len(ev) != 2 || ev[0] != "OPEN" || ev[1] != "UPDATED" {
		t.Errorf("pull request events %v", ev)
	}
	if n := len(pr["Stages"].([]any)); n != 3 {
		t.Errorf("the pull-request pipeline has %d stages, want Source, Build and Checks", n)
	}
	// A test action's variables are what CodeBuild reads: a JSON array of plain objects.
	dev := pipe["Stages"].([]any)[3].(map[string]any)
	var vars []map[string]string
	for _, a := range dev["Actions"].([]any) {
		if cfg := a.(map[string]any)["Configuration"].(map[string]any); cfg["EnvironmentVariables"] != nil {
			if err := json.Unmarshal([]byte(cfg["EnvironmentVariables"].(string)), &vars); err != nil {
				t.Fatalf("EnvironmentVariables %v: %v", cfg["EnvironmentVariables"], err)
			}
		}
	}
	if len(vars) == 0 || vars[len(vars)-1]["name"] != "SLUICE_ENDPOINT" || vars[len(vars)-1]["value"] != "#{DeployDev.ApiUrl}" || vars[len(vars)-1]["type"] != "PLAINTEXT" {
		t.Errorf("dev's test variables %v, want SLUICE_ENDPOINT from the stack output", vars)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"local-dev", "Linear10PercentEvery1Minute", "(errors)", "alice", "hooks", "ephemeral", "release/*"} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note about %s in:\n%s", want, notes)
		}
	}
}
