package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeaws"
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
	if got := strings.Join(names, " "); got != "01-artifacts-us-east-1.yaml 01-tooling.yaml 02-role-222233334444-eu-west-1.yaml 02-role-333344445555-us-east-1.yaml README.md" {
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

// sluice aws bootstrap --apply deploys the stacks in order through change sets, each with its
// own account's credentials (a profile per account), and refuses to ask on a stdin that is not
// a terminal without --yes.
func TestAWSBootstrapApply(t *testing.T) {
	const tooling, dev = "111122223333", "222233334444"
	fake, err := fakeaws.Start(fakeaws.Config{Accounts: []string{tooling, dev}, StackStepDelay: time.Millisecond, ChangeSetDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := t.TempDir()
	var creds strings.Builder
	for _, acct := range []string{tooling, dev} {
		k, _ := fake.Root(acct)
		fmt.Fprintf(&creds, "[acct-%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", acct, k.AccessKeyID, k.SecretAccessKey)
	}
	credFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credFile, []byte(creds.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte(`version: 1
name: orders
build: {commands: [make], artifact: [dist/]}
environments:
  - name: dev
    target: {aws: {account: "222233334444", region: eu-west-1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_ENDPOINT_URL=" + fake.URL, "AWS_SHARED_CREDENTIALS_FILE=" + credFile, "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"),
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true",
		"SLUICE_AWS_PROFILE_" + tooling + "=acct-" + tooling, "SLUICE_AWS_PROFILE_" + dev + "=acct-" + dev}
	run := func(args ...string) result {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd, stdout, stderr := sluiceCmd(ctx, dir, args...)
		cmd.Env = append(cmd.Env, env...)
		return wait(t, cmd, stdout, stderr, cmd.Run())
	}
	base := []string{"aws", "bootstrap", "--out", "stacks", "--tooling-account", tooling, "--region", "eu-west-1", "--apply"}
	if r := run(base...); r.code != 2 || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("--apply on a stdin that is not a terminal: exit %d, %s", r.code, r.stderr)
	}
	r := run(append(base, "--yes")...)
	if r.code != 0 {
		t.Fatalf("--apply --yes: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"ArtifactKey: (none) -> add AWS::KMS::Key", "EngineRole: (none) -> add AWS::IAM::Role", "DeploymentRole: (none) -> add AWS::IAM::Role"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the change sets shown do not say %q:\n%s", want, r.stderr)
		}
	}
	for stack, acct := range map[string]string{"orders-sluice-tooling": tooling, "orders-sluice-eu-west-1": dev} {
		if st, err := fake.StackStatus(acct, "eu-west-1", stack); err != nil || st != "CREATE_COMPLETE" {
			t.Errorf("stack %s in %s: %s, %v", stack, acct, st, err)
		}
	}
	var order []string
	for _, c := range fake.Calls() {
		if c.Operation == "ExecuteChangeSet" {
			order = append(order, c.Account)
		}
	}
	if strings.Join(order, " ") != tooling+" "+dev {
		t.Errorf("change sets executed in accounts %v, want the tooling account's first, then dev's", order)
	}
	// A second run finds nothing to change.
	if r := run(append(base, "--yes")...); r.code != 0 || !strings.Contains(r.stderr, "already matches") {
		t.Errorf("second --apply: exit %d\n%s", r.code, r.stderr)
	}
}
