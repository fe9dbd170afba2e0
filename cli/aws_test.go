package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sluice aws bootstrap writes the stacks of the route's accounts in deployment order, and says
// what is missing when a required flag is.
func TestAWSBootstrap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte(`version: 1
name: orders
build: {commands: [make], artifact: [dist/]}
environments:
  - name: dev
    target: {aws: {account: "222233334444", region: eu-west-1, function: ApiFunction, artifact_bucket: orders-artifacts, artifact_kms_key: alias/orders-artifacts}}
  - name: prod
    target: {aws: {account: "333344445555", region: us-east-1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sluiceRun(t, dir, "aws", "bootstrap", "--out", "stacks", "--tooling-account", "111122223333", "--region", "eu-west-1", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		Files []struct{ Path, Account, Stack string } `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	var names []string
	for _, f := range out.Files {
		names = append(names, filepath.Base(f.Path))
		if _, err := os.Stat(filepath.Join(dir, f.Path)); err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
	}
	if got := strings.Join(names, " "); got != "01-tooling.yaml 02-role-222233334444-eu-west-1.yaml 02-role-333344445555-us-east-1.yaml README.md" {
		t.Errorf("files %s", got)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "stacks", "README.md"))
	if !strings.Contains(string(readme), "aws cloudformation deploy --region us-east-1 --stack-name orders-sluice-us-east-1") {
		t.Errorf("README does not say how to deploy the prod account's stack:\n%s", readme)
	}

	r = sluiceRun(t, dir, "aws", "bootstrap", "--out", "stacks", "--region", "eu-west-1")
	if r.code != 2 || !strings.Contains(r.stderr, "missing --tooling-account") {
		t.Errorf("without --tooling-account: exit %d, %s", r.code, r.stderr)
	}
	r = sluiceRun(t, dir, "aws", "bootstrap", "--out", "stacks", "--tooling-account", "1", "--region", "eu-west-1")
	if r.code != 2 || !strings.Contains(r.stderr, "12 digits") {
		t.Errorf("with a bad account: exit %d, %s", r.code, r.stderr)
	}
}

// sluice aws synth writes the pipeline and says what CodePipeline cannot express.
func TestAWSSynth(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte(`version: 1
name: orders
build: {commands: [make], artifact: [dist/]}
environments:
  - name: dev
    target: {aws: {account: "222233334444", region: eu-west-1, function: ApiFunction, artifact_bucket: orders-artifacts, artifact_kms_key: alias/orders-artifacts}}
    deploy: {strategy: Canary10Percent5Minutes}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sluiceRun(t, dir, "aws", "synth", "--out", "pipe", "--tooling-account", "111122223333", "--region", "eu-west-1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: environment dev: the Canary10Percent5Minutes traffic shift is Sluice's own") {
		t.Errorf("no warning about the canary: %s", r.stderr)
	}
	body, err := os.ReadFile(filepath.Join(dir, "pipe", "pipeline.yaml"))
	if err != nil || !strings.Contains(string(body), "PipelineType: V2") {
		t.Errorf("pipeline.yaml: %v\n%s", err, body)
	}
	notes, _ := os.ReadFile(filepath.Join(dir, "pipe", "NOTES.txt"))
	if !strings.Contains(string(notes), "Canary10Percent5Minutes") {
		t.Errorf("NOTES.txt: %s", notes)
	}
}
