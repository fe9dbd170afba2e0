package aws

import (
	"archive/zip"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

func TestTemplateParametersInYAMLAndJSON(t *testing.T) {
	yamlTemplate := `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ArtifactBucket: {Type: String}
  "ArtifactKey":
    Type: String
  Stage: {Type: String, Default: dev}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {Bucket: !Ref ArtifactBucket, Key: !Ref ArtifactKey}
      Environment: {Variables: {STAGE: !Sub "${Stage}"}}
`
	jsonTemplate := `{"Parameters": {"Only": {"Type": "String"}}, "Resources": {"T": {"Type": "AWS::SNS::Topic"}}}`
	for _, c := range []struct {
		text string
		want []string
	}{
		{yamlTemplate, []string{"ArtifactBucket", "ArtifactKey", "Stage"}},
		{jsonTemplate, []string{"Only"}},
		{"Resources: {T: {Type: AWS::SNS::Topic}}\n", nil},
	} {
		doc, err := readTemplate([]byte(c.text))
		if err != nil {
			t.Fatalf("%q: %v", c.text, err)
		}
		got := doc.parameters()
		if !slices.Equal(got, c.want) {
			t.Errorf("parameters %q, want %q", got, c.want)
		}
	}
	for _, bad := range []string{"", "- a\n- b\n", "Parameters: {a: [\n"} {
		if _, err := readTemplate([]byte(bad)); err == nil {
			t.Errorf("template %q: no error", bad)
		}
	}
}

// The same files give the same zip, whatever order the folder lists them in, and the
// bootstrap keeps its executable bit.
func TestZipFolderIsReproducible(t *testing.T) {
	files := fstest.MapFS{
		"bootstrap":     {Data: []byte("\x7fELF..."), Mode: 0o755},
		"static/a.txt":  {Data: []byte("a")},
		"template.yaml": {Data: []byte("Resources: {}")},
	}
	a, err := zipFolder(files, ".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := zipFolder(files, ".", "template.yaml")
	if !bytes.Equal(a, b) {
		t.Fatal("two zips of the same files differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "bootstrap" && f.Mode()&0o111 == 0 {
			t.Errorf("bootstrap lost its executable bit: %v", f.Mode())
		}
		rc, _ := f.Open()
		body, _ := io.ReadAll(rc)
		rc.Close()
		if want := files[f.Name].Data; !bytes.Equal(body, want) {
			t.Errorf("%s holds %q, want %q", f.Name, body, want)
		}
	}
	if !slices.Equal(names, []string{"bootstrap", "static/a.txt"}) {
		t.Errorf("zip holds %q, want the bootstrap and static/a.txt without the template", names)
	}
	sub, err := zipFolder(files, "static", "")
	if err != nil {
		t.Fatal(err)
	}
	zr, _ = zip.NewReader(bytes.NewReader(sub), int64(len(sub)))
	if len(zr.File) != 1 || zr.File[0].Name != "a.txt" {
		t.Errorf("zip of static/ holds %v, want a.txt at its root", zr.File)
	}
	if _, err := zipFolder(fstest.MapFS{"template.yaml": {}}, ".", "template.yaml"); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("an empty code folder: %v, want EINVALID", err)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ route, env, want string }{
		{"orders", "prod", "orders-prod"},
		{"orders", "dev@release-1.0", "orders-dev-release-1-0"},
		{"9lives", "dev", "sluice-9lives-dev"},
		{"a", strings.Repeat("x", 200), "a-" + strings.Repeat("x", 126)},
	} {
		if got := stackName(c.route, c.env); got != c.want {
			t.Errorf("stackName(%q, %q) = %q, want %q", c.route, c.env, got, c.want)
		}
	}
	if got := sessionName(deploy.Environment{Route: "orders", Name: "prod", Execution: "01JX/abc"}); got != "sluice-01JX-abc" {
		t.Errorf("session name %q", got)
	}
	if got := sessionName(deploy.Environment{Route: "orders", Name: strings.Repeat("p", 100)}); len(got) != 64 {
		t.Errorf("session name %q is %d long, want AWS's 64 at most", got, len(got))
	}
	tg := &Target{Account: "111122223333", Region: "eu-west-1"}
	if got := roleARN("orders", tg); got != "arn:aws:iam::111122223333:role/orders-eu-west-1-DeploymentRole" {
		t.Errorf("default role %q", got)
	}
	tg.Role = "Deployer"
	if got := roleARN("orders", tg); got != "arn:aws:iam::111122223333:role/Deployer" {
		t.Errorf("role by name %q", got)
	}
}

func TestChangesReadLikeADiff(t *testing.T) {
	got := changes([]ResourceChange{
		{Action: "Add", LogicalID: "Queue", Type: "AWS::SQS::Queue"},
		{Action: "Modify", LogicalID: "Fn", Type: "AWS::Lambda::Function", Replacement: "False", Details: []PropertyChange{
			{Attribute: "Properties", Path: "/Properties/Code/S3Key", Before: "sluice/a.zip", After: "sluice/b.zip"},
			{Attribute: "Tags"},
		}},
		{Action: "Remove", LogicalID: "Old", Type: "AWS::SNS::Topic"},
		{Action: "Modify", LogicalID: "Table", Type: "AWS::DynamoDB::Table", Replacement: "True"},
	})
	want := []sluice.Change{
		{Field: "Queue", From: "(none)", To: "add AWS::SQS::Queue", Replaces: true},
		{Field: "Fn.Properties.Code.S3Key", From: "sluice/a.zip", To: "sluice/b.zip", Replaces: true},
		{Field: "Fn.Tags", To: "modified by CloudFormation", Replaces: true},
		{Field: "Old", From: "AWS::SNS::Topic", To: "(removed)", Replaces: true},
		{Field: "Table", From: "AWS::DynamoDB::Table", To: "modify (replaces the resource)", Replaces: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%+v\nwant\n%+v", got, want)
	}
}

func TestUsableSaysWhatToDo(t *testing.T) {
	for status, want := range map[string]string{
		"UPDATE_IN_PROGRESS":     "wait for it",
		"UPDATE_ROLLBACK_FAILED": "continue-update-rollback",
		"ROLLBACK_COMPLETE":      "delete-stack",
		"UPDATE_COMPLETE":        "",
		"REVIEW_IN_PROGRESS":     "",
	} {
		err := usable("orders-prod", stackWith(status))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want a message with %q", status, err, want)
		}
	}
}

func TestLastDatapoint(t *testing.T) {
	if v := lastDatapoint(`{"version":"1.0","recentDatapoints":[2.0,7.5],"threshold":1.0}`); v != 7.5 {
		t.Errorf("value %v, want 7.5", v)
	}
	if v := lastDatapoint(`not json`); v != 0 {
		t.Errorf("value %v from garbage", v)
	}
}

func stackWith(status string) *cfntypes.Stack {
	return &cfntypes.Stack{StackStatus: cfntypes.StackStatus(status), StackStatusReason: ptr("reason")}
}

// A stack that sluice.yaml names is the stack of every pipeline's copy of the environment:
// tearing one copy down must not delete it.
func TestTeardownLeavesAStackTheRouteNames(t *testing.T) {
	p := &Provider{}
	env := deploy.Environment{Name: "dev@pr-7", Route: "hello-api", Config: &Target{Account: "111111111111", Region: "eu-west-1", Stack: "shared-dev"}}
	err := p.Teardown(t.Context(), env)
	if sluice.ErrorCode(err) != sluice.ECONFLICT || !strings.Contains(err.Error(), "shared-dev") {
		t.Fatalf("teardown of a named stack: %v; want a conflict naming it, nothing deleted", err)
	}
}
