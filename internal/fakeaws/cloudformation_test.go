package fakeaws_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sluicehq/sluice/internal/fakeaws"
)

const samTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ArtifactKey:
    Type: String
  Stage:
    Type: String
    Default: dev
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-api"
      Runtime: provided.al2023
      Handler: bootstrap
      MemorySize: 128
      CodeUri:
        Bucket: artifacts
        Key: !Ref ArtifactKey
      AutoPublishAlias: live
      Environment:
        Variables:
          STAGE: !Ref Stage
      Events:
        Http:
          Type: HttpApi
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub "${AWS::StackName}-5xx"
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - Name: FunctionName
          Value: !Ref Api
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
Outputs:
  ApiUrl:
    Description: the HTTP API's endpoint
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
  FunctionArn:
    Value: !GetAtt Api.Arn
`

func params(kv ...string) []cftypes.Parameter {
	var out []cftypes.Parameter
	for i := 0; i < len(kv); i += 2 {
		out = append(out, cftypes.Parameter{ParameterKey: aws.String(kv[i]), ParameterValue: aws.String(kv[i+1])})
	}
	return out
}

// waitFor polls until cond holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func changeSetStatus(t *testing.T, cf *cloudformation.Client, stack, name string) *cloudformation.DescribeChangeSetOutput {
	t.Helper()
	var out *cloudformation.DescribeChangeSetOutput
	waitFor(t, "change set "+name, func() (bool, error) {
		var err error
		out, err = cf.DescribeChangeSet(ctx(t), &cloudformation.DescribeChangeSetInput{
			StackName: aws.String(stack), ChangeSetName: aws.String(name), IncludePropertyValues: aws.Bool(true)})
		if err != nil {
			return false, err
		}
		return out.Status == cftypes.ChangeSetStatusCreateComplete || out.Status == cftypes.ChangeSetStatusFailed, nil
	})
	return out
}

func stackDone(t *testing.T, cf *cloudformation.Client, stack string) cftypes.Stack {
	t.Helper()
	var st cftypes.Stack
	waitFor(t, "stack "+stack, func() (bool, error) {
		out, err := cf.DescribeStacks(ctx(t), &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
		if err != nil {
			return false, err
		}
		st = out.Stacks[0]
		return !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS"), nil
	})
	return st
}

// stackEvents returns a stack's newest events, the first page DescribeStackEvents gives.
func stackEvents(t *testing.T, cf *cloudformation.Client, stack string) []cftypes.StackEvent {
	t.Helper()
	out, err := cf.DescribeStackEvents(ctx(t), &cloudformation.DescribeStackEventsInput{StackName: aws.String(stack)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StackEvents
}

func createChangeSet(t *testing.T, cf *cloudformation.Client, stack, name string, typ cftypes.ChangeSetType, body string, p []cftypes.Parameter) {
	t.Helper()
	_, err := cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{
		StackName: aws.String(stack), ChangeSetName: aws.String(name), ChangeSetType: typ,
		TemplateBody: aws.String(body), Parameters: p,
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam, cftypes.CapabilityCapabilityAutoExpand},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestChangeSetLifecycle creates a SAM stack through a change set, then updates it: the
// update's change set lists the modified properties with their values, executing it moves the
// function's alias, and the outputs resolve.
func TestChangeSetLifecycle(t *testing.T) {
	s := start(t)
	cfg := roleConfig(t, s, devAcct, "exec-1")
	cf := cloudformation.NewFromConfig(cfg)

	createChangeSet(t, cf, "app-dev", "create-1", cftypes.ChangeSetTypeCreate, samTemplate, params("ArtifactKey", "sha256-aaa.zip"))
	cs := changeSetStatus(t, cf, "app-dev", "create-1")
	if cs.Status != cftypes.ChangeSetStatusCreateComplete || cs.ExecutionStatus != cftypes.ExecutionStatusAvailable {
		t.Fatalf("change set %s/%s: %s", cs.Status, cs.ExecutionStatus, aws.ToString(cs.StatusReason))
	}
	var added []string
	for _, c := range cs.Changes {
		if c.ResourceChange.Action != cftypes.ChangeActionAdd {
			t.Errorf("create change set: %s %s", c.ResourceChange.Action, *c.ResourceChange.LogicalResourceId)
		}
		added = append(added, *c.ResourceChange.LogicalResourceId)
	}
	if strings.Join(added, ",") != "Api,Errors" {
		t.Fatalf("added %v", added)
	}
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-dev"), ChangeSetName: aws.String("create-1")}); err != nil {
		t.Fatal(err)
	}
	st := stackDone(t, cf, "app-dev")
	if st.StackStatus != cftypes.StackStatusCreateComplete {
		t.Fatalf("stack %s: %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[*o.OutputKey] = *o.OutputValue
	}
	if u := outputs["ApiUrl"]; !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, ".execute-api.eu-west-1.amazonaws.com/") || strings.Contains(u, "${") {
		t.Errorf("ApiUrl output %q", u)
	}
	if a := outputs["FunctionArn"]; a != "arn:aws:lambda:eu-west-1:"+devAcct+":function:app-dev-api" {
		t.Errorf("FunctionArn output %q", a)
	}

	// The stack made the function and its alias, on version 1.
	lc := lambda.NewFromConfig(cfg)
	alias, err := lc.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("app-dev-api"), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	if *alias.FunctionVersion != "1" {
		t.Fatalf("alias on version %s", *alias.FunctionVersion)
	}

	// An update that changes the code's key and a parameter.
	createChangeSet(t, cf, "app-dev", "update-1", cftypes.ChangeSetTypeUpdate, samTemplate, params("ArtifactKey", "sha256-bbb.zip", "Stage", "qa"))
	cs = changeSetStatus(t, cf, "app-dev", "update-1")
	if len(cs.Changes) != 1 {
		t.Fatalf("update changes: %+v", cs.Changes)
	}
	rc := cs.Changes[0].ResourceChange
	if rc.Action != cftypes.ChangeActionModify || *rc.LogicalResourceId != "Api" || *rc.PhysicalResourceId != "app-dev-api" || rc.Replacement != cftypes.ReplacementFalse {
		t.Fatalf("update change %s %s %s %s", rc.Action, aws.ToString(rc.LogicalResourceId), aws.ToString(rc.PhysicalResourceId), rc.Replacement)
	}
	details := map[string]cftypes.ResourceChangeDetail{}
	for _, d := range rc.Details {
		details[*d.Target.Name] = d
	}
	code, env := details["CodeUri"], details["Environment"]
	if code.Target == nil || env.Target == nil || len(details) != 2 {
		t.Fatalf("details %v", details)
	}
	if !strings.Contains(aws.ToString(code.Target.BeforeValue), "sha256-aaa.zip") || !strings.Contains(aws.ToString(code.Target.AfterValue), "sha256-bbb.zip") ||
		code.Target.AttributeChangeType != cftypes.AttributeChangeTypeModify || code.Target.RequiresRecreation != cftypes.RequiresRecreationNever {
		t.Fatalf("CodeUri detail %+v", *code.Target)
	}
	if !strings.Contains(aws.ToString(rc.AfterContext), `"STAGE":"qa"`) {
		t.Fatalf("after context %s", aws.ToString(rc.AfterContext))
	}

	// Another change set on the same stack, then executing the first: the other goes away.
	createChangeSet(t, cf, "app-dev", "update-2", cftypes.ChangeSetTypeUpdate, samTemplate, params("ArtifactKey", "sha256-ccc.zip"))
	changeSetStatus(t, cf, "app-dev", "update-2")
	list, err := cf.ListChangeSets(ctx(t), &cloudformation.ListChangeSetsInput{StackName: aws.String("app-dev")})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range list.Summaries {
		listed = append(listed, *c.ChangeSetName+":"+string(c.ExecutionStatus))
	}
	if strings.Join(listed, " ") != "create-1:EXECUTE_COMPLETE update-1:AVAILABLE update-2:AVAILABLE" {
		t.Fatalf("listed %v", listed)
	}
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-dev"), ChangeSetName: aws.String("update-1")}); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "app-dev"); st.StackStatus != cftypes.StackStatusUpdateComplete {
		t.Fatalf("stack %s", st.StackStatus)
	}
	_, err = cf.DescribeChangeSet(ctx(t), &cloudformation.DescribeChangeSetInput{StackName: aws.String("app-dev"), ChangeSetName: aws.String("update-2")})
	var notFound *cftypes.ChangeSetNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("the other change set after execution: %v", err)
	}
	alias, err = lc.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("app-dev-api"), Name: aws.String("live")})
	if err != nil || *alias.FunctionVersion != "2" {
		t.Fatalf("alias after update: %v %v", alias, err)
	}

	// The same template and parameters again: no changes, and the change set says so.
	createChangeSet(t, cf, "app-dev", "same", cftypes.ChangeSetTypeUpdate, samTemplate, params("ArtifactKey", "sha256-bbb.zip", "Stage", "qa"))
	cs = changeSetStatus(t, cf, "app-dev", "same")
	if cs.Status != cftypes.ChangeSetStatusFailed || !strings.Contains(aws.ToString(cs.StatusReason), "didn't contain changes") {
		t.Fatalf("no-change change set: %s %s", cs.Status, aws.ToString(cs.StatusReason))
	}
	_, err = cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-dev"), ChangeSetName: aws.String("same")})
	var badStatus *cftypes.InvalidChangeSetStatusException
	if !errors.As(err, &badStatus) {
		t.Fatalf("executing a failed change set: %v", err)
	}
	if _, err := cf.DeleteChangeSet(ctx(t), &cloudformation.DeleteChangeSetInput{StackName: aws.String("app-dev"), ChangeSetName: aws.String("same")}); err != nil {
		t.Fatal(err)
	}

	// The stack's events, newest first, tell the story.
	events, err := cf.DescribeStackEvents(ctx(t), &cloudformation.DescribeStackEventsInput{StackName: aws.String("app-dev")})
	if err != nil {
		t.Fatal(err)
	}
	first, last := events.StackEvents[len(events.StackEvents)-1], events.StackEvents[0]
	if first.ResourceStatus != "REVIEW_IN_PROGRESS" || last.ResourceStatus != cftypes.ResourceStatusUpdateComplete || *last.LogicalResourceId != "app-dev" {
		t.Fatalf("events from %s to %s", first.ResourceStatus, last.ResourceStatus)
	}

	// Account isolation: prod's role sees no such stack.
	_, err = cloudformation.NewFromConfig(roleConfig(t, s, prodAcc, "exec-1")).DescribeStacks(ctx(t), &cloudformation.DescribeStacksInput{StackName: aws.String("app-dev")})
	wantCode(t, err, "ValidationError")

	// Deleting the stack deletes its function.
	if _, err := cf.DeleteStack(ctx(t), &cloudformation.DeleteStackInput{StackName: aws.String("app-dev")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stack deleted", func() (bool, error) {
		_, err := cf.DescribeStacks(ctx(t), &cloudformation.DescribeStacksInput{StackName: aws.String("app-dev")})
		return err != nil, nil
	})
	_, err = lc.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("app-dev-api")})
	wantCode(t, err, "ResourceNotFoundException")
}

// TestFailedUpdateRollsBack: a resource failing during an update rolls the stack back, with
// the failing resource and its reason in the events; a failing rollback ends
// UPDATE_ROLLBACK_FAILED, from which no change set can be made.
func TestFailedUpdateRollsBack(t *testing.T) {
	s := start(t)
	cf := cloudformation.NewFromConfig(roleConfig(t, s, prodAcc, "exec-9"))
	createChangeSet(t, cf, "app-prod", "c1", cftypes.ChangeSetTypeCreate, samTemplate, params("ArtifactKey", "k1"))
	changeSetStatus(t, cf, "app-prod", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-prod"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	stackDone(t, cf, "app-prod")

	if err := s.FailResource(prodAcc, region, "app-prod", "Api", "Resource handler returned message: \"Code storage limit exceeded\""); err != nil {
		t.Fatal(err)
	}
	createChangeSet(t, cf, "app-prod", "u1", cftypes.ChangeSetTypeUpdate, samTemplate, params("ArtifactKey", "k2"))
	changeSetStatus(t, cf, "app-prod", "u1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-prod"), ChangeSetName: aws.String("u1")}); err != nil {
		t.Fatal(err)
	}
	st := stackDone(t, cf, "app-prod")
	if st.StackStatus != cftypes.StackStatusUpdateRollbackComplete {
		t.Fatalf("stack %s", st.StackStatus)
	}
	events := stackEvents(t, cf, "app-prod")
	var failure *cftypes.StackEvent
	for i, e := range events {
		if e.ResourceStatus == cftypes.ResourceStatusUpdateFailed {
			failure = &events[i]
			break
		}
	}
	if failure == nil || *failure.LogicalResourceId != "Api" || !strings.Contains(*failure.ResourceStatusReason, "Code storage limit") {
		t.Fatalf("failure event %+v", failure)
	}
	// The parameter the failed update asked for is not kept.
	if p := st.Parameters; len(p) == 0 || *p[0].ParameterValue != "k1" {
		t.Fatalf("parameters after rollback %+v", p)
	}

	s.FailResource(prodAcc, region, "app-prod", "Api", "Internal failure")
	s.FailRollback(prodAcc, region, "app-prod", "Resource handler returned message: \"Access denied\"")
	createChangeSet(t, cf, "app-prod", "u2", cftypes.ChangeSetTypeUpdate, samTemplate, params("ArtifactKey", "k3"))
	changeSetStatus(t, cf, "app-prod", "u2")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-prod"), ChangeSetName: aws.String("u2")}); err != nil {
		t.Fatal(err)
	}
	st = stackDone(t, cf, "app-prod")
	if st.StackStatus != cftypes.StackStatusUpdateRollbackFailed || !strings.Contains(aws.ToString(st.StackStatusReason), "[Api]") {
		t.Fatalf("stack %s: %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	_, err := cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{
		StackName: aws.String("app-prod"), ChangeSetName: aws.String("u3"), TemplateBody: aws.String(samTemplate),
		Parameters: params("ArtifactKey", "k4"), Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam}})
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "UPDATE_ROLLBACK_FAILED state and can not be updated") {
		t.Fatalf("error %v", err)
	}
}

// TestRollbackFails: when undoing a failed update fails too, the stack ends
// UPDATE_ROLLBACK_FAILED.
func TestRollbackFails(t *testing.T) {
	s := start(t)
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	two := `Resources:
  A: {Type: AWS::SNS::Topic, Properties: {DisplayName: one}}
  B: {Type: AWS::SNS::Topic, Properties: {DisplayName: one}, DependsOn: A}
`
	createChangeSet(t, cf, "topics", "c1", cftypes.ChangeSetTypeCreate, two, nil)
	changeSetStatus(t, cf, "topics", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("topics"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "topics"); st.StackStatus != cftypes.StackStatusCreateComplete {
		t.Fatalf("create: %s", st.StackStatus)
	}
	s.FailResource(tooling, region, "topics", "B", "B is broken")
	s.FailRollback(tooling, region, "topics", "A cannot go back")
	createChangeSet(t, cf, "topics", "u1", cftypes.ChangeSetTypeUpdate, strings.ReplaceAll(two, "one", "two"), nil)
	changeSetStatus(t, cf, "topics", "u1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("topics"), ChangeSetName: aws.String("u1")}); err != nil {
		t.Fatal(err)
	}
	st := stackDone(t, cf, "topics")
	if st.StackStatus != cftypes.StackStatusUpdateRollbackFailed {
		t.Fatalf("stack %s", st.StackStatus)
	}
}

func TestCloudFormationRefusals(t *testing.T) {
	s := start(t)
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	for name, tc := range map[string]struct {
		in   cloudformation.CreateChangeSetInput
		code string
		want string
	}{
		"update of a missing stack": {cloudformation.CreateChangeSetInput{StackName: aws.String("nope"), ChangeSetName: aws.String("c"), TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic}}")}, "ValidationError", "does not exist"},
		"bad YAML":                  {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Resources: [")}, "ValidationError", "Template format error"},
		"no resources":              {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Outputs: {}\nResources: {}")}, "ValidationError", "At least one Resources member"},
		"unresolved reference":      {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic, Properties: {DisplayName: !Ref Nope}}}")}, "ValidationError", "Unresolved resource dependencies [Nope]"},
		"SAM without the transform": {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Resources: {A: {Type: AWS::Serverless::Function}}")}, "ValidationError", "Unrecognized resource types"},
		"missing parameter":         {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String(samTemplate), Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam}}, "ValidationError", "Parameters: [ArtifactKey] must have values"},
		"unknown parameter":         {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String(samTemplate), Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam}, Parameters: params("ArtifactKey", "k", "Nope", "x")}, "ValidationError", "Parameters: [Nope] do not exist"},
		"IAM not acknowledged":      {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String(samTemplate), Parameters: params("ArtifactKey", "k")}, "InsufficientCapabilitiesException", "CAPABILITY_IAM"},
		"bad change set name":       {cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("1-bad"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic}}")}, "ValidationError", "changeSetName"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cf.CreateChangeSet(ctx(t), &tc.in)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to say %q", err, tc.want)
			}
		})
	}
	var capErr *cftypes.InsufficientCapabilitiesException
	_, err := cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String(samTemplate), Parameters: params("ArtifactKey", "k")})
	if !errors.As(err, &capErr) {
		t.Fatalf("want the typed InsufficientCapabilitiesException, got %T", err)
	}

	// An execution role must exist in the stack's account.
	_, err = cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate,
		TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic}}"), RoleARN: aws.String("arn:aws:iam::" + tooling + ":role/nope")})
	wantCode(t, err, "ValidationError")
	s.AddRole(fakeaws.Role{Account: tooling, Name: "cfn-exec"})
	_, err = cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("r"), ChangeSetName: aws.String("c"), ChangeSetType: cftypes.ChangeSetTypeCreate,
		TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic}}"), RoleARN: aws.String("arn:aws:iam::" + tooling + ":role/cfn-exec")})
	if err != nil {
		t.Fatal(err)
	}
	changeSetStatus(t, cf, "r", "c")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("r"), ChangeSetName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "r"); aws.ToString(st.RoleARN) != "arn:aws:iam::"+tooling+":role/cfn-exec" {
		t.Fatalf("stack role %q", aws.ToString(st.RoleARN))
	}

	// A CREATE change set on a stack that exists is refused with AlreadyExistsException.
	createChangeSet(t, cf, "s", "c1", cftypes.ChangeSetTypeCreate, "Resources: {A: {Type: AWS::SNS::Topic}}", nil)
	changeSetStatus(t, cf, "s", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	stackDone(t, cf, "s")
	_, err = cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c2"), ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String("Resources: {A: {Type: AWS::SNS::Topic}}")})
	var exists *cftypes.AlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("CREATE on an existing stack: %v", err)
	}
	// A stack stuck in progress cannot take a change set.
	s.SetStackStatus(tooling, region, "s", "UPDATE_IN_PROGRESS", "")
	_, err = cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c3"), TemplateBody: aws.String("Resources: {B: {Type: AWS::SNS::Topic}}")})
	wantCode(t, err, "ValidationError")
}

func TestTemplateJSON(t *testing.T) {
	s := start(t, func(c *fakeaws.Config) { c.StackStepDelay = time.Millisecond })
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	body := `{"Mappings": {"Regions": {"eu-west-1": {"Size": "large"}}},
	 "Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "x"}, "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": "arn:aws:iam::111111111111:role/r"}}},
	 "Outputs": {"Name": {"Value": {"Ref": "Fn"}}, "Joined": {"Value": {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, "x"]]}},
	   "Size": {"Value": {"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Size"]}}}}`
	createChangeSet(t, cf, "json", "c1", cftypes.ChangeSetTypeCreate, body, nil)
	changeSetStatus(t, cf, "json", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("json"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	st := stackDone(t, cf, "json")
	got := map[string]string{}
	for _, o := range st.Outputs {
		got[*o.OutputKey] = *o.OutputValue
	}
	if !strings.HasPrefix(got["Name"], "json-Fn-") || got["Joined"] != "eu-west-1-x" || got["Size"] != "large" {
		t.Fatalf("outputs %v", got)
	}
	if _, err := lambda.NewFromConfig(rootConfig(t, s, tooling)).GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String(got["Name"])}); err != nil {
		t.Fatal(err)
	}
}

// TestStuckStackRefusesExecution: a change set made while the stack was healthy cannot be
// executed once the stack is stuck in UPDATE_ROLLBACK_FAILED.
func TestStuckStackRefusesExecution(t *testing.T) {
	s := start(t)
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	createChangeSet(t, cf, "s", "c1", cftypes.ChangeSetTypeCreate, "Resources: {A: {Type: AWS::SNS::Topic}}", nil)
	changeSetStatus(t, cf, "s", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	stackDone(t, cf, "s")
	createChangeSet(t, cf, "s", "c2", cftypes.ChangeSetTypeUpdate, "Resources: {A: {Type: AWS::SNS::Topic, Properties: {DisplayName: x}}}", nil)
	changeSetStatus(t, cf, "s", "c2")
	if err := s.SetStackStatus(tooling, region, "s", "UPDATE_ROLLBACK_FAILED", "stuck"); err != nil {
		t.Fatal(err)
	}
	_, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("s"), ChangeSetName: aws.String("c2")})
	var badStatus *cftypes.InvalidChangeSetStatusException
	if !errors.As(err, &badStatus) {
		t.Fatalf("executing on a stuck stack: %v", err)
	}
}

// TestStackEventPages: DescribeStackEvents pages by 100, newest first, and the pages join
// into the whole history.
func TestStackEventPages(t *testing.T) {
	s := start(t, func(c *fakeaws.Config) { c.StackStepDelay = time.Millisecond })
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	var body strings.Builder
	body.WriteString("Resources:\n")
	for i := range 60 {
		fmt.Fprintf(&body, "  T%d: {Type: AWS::SNS::Topic}\n", i)
	}
	createChangeSet(t, cf, "many", "c1", cftypes.ChangeSetTypeCreate, body.String(), nil)
	changeSetStatus(t, cf, "many", "c1")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("many"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	stackDone(t, cf, "many")
	var all []cftypes.StackEvent
	pages := 0
	p := cloudformation.NewDescribeStackEventsPaginator(cf, &cloudformation.DescribeStackEventsInput{StackName: aws.String("many")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, page.StackEvents...)
	}
	// REVIEW_IN_PROGRESS, CREATE_IN_PROGRESS, two events per topic, CREATE_COMPLETE.
	if want := 3 + 2*60; len(all) != want || pages != 2 {
		t.Fatalf("%d events in %d pages, want %d in 2", len(all), pages, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Timestamp.After(*all[i-1].Timestamp) {
			t.Fatalf("event %d is newer than event %d", i, i-1)
		}
	}
	if all[0].ResourceStatus != cftypes.ResourceStatusCreateComplete || *all[0].LogicalResourceId != "many" {
		t.Fatalf("newest event %s %s", *all[0].LogicalResourceId, all[0].ResourceStatus)
	}
}

// TestConditions: a resource whose condition is false is not in the change set, Fn::If picks
// by the parameters, and changing the parameter adds the resource and modifies the property.
func TestConditions(t *testing.T) {
	s := start(t, func(c *fakeaws.Config) { c.StackStepDelay = time.Millisecond })
	cf := cloudformation.NewFromConfig(rootConfig(t, s, tooling))
	body := `Parameters:
  Stage: {Type: String, AllowedValues: [dev, prod]}
  Memory: {Type: Number, Default: 128}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  InIreland: !Equals [!Ref "AWS::Region", eu-west-1]
  ProdInIreland: !And [!Condition IsProd, !Condition InIreland]
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !If [IsProd, production, !Ref Stage]
      KmsMasterKeyId: !If [ProdInIreland, alias/prod, !Ref "AWS::NoValue"]
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Condition: IsProd
    Properties: {AlarmName: prod-errors, Namespace: AWS/Lambda, MetricName: Errors, Threshold: 1}
Outputs:
  AlarmName:
    Condition: IsProd
    Value: !Ref Alarm
`
	createChangeSet(t, cf, "cond", "c1", cftypes.ChangeSetTypeCreate, body, params("Stage", "dev"))
	cs := changeSetStatus(t, cf, "cond", "c1")
	if len(cs.Changes) != 1 || *cs.Changes[0].ResourceChange.LogicalResourceId != "Topic" ||
		strings.Contains(aws.ToString(cs.Changes[0].ResourceChange.AfterContext), "KmsMasterKeyId") ||
		!strings.Contains(aws.ToString(cs.Changes[0].ResourceChange.AfterContext), `"DisplayName":"dev"`) {
		t.Fatalf("dev changes %+v", cs.Changes)
	}
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("cond"), ChangeSetName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "cond"); len(st.Outputs) != 0 {
		t.Fatalf("outputs of dev %+v", st.Outputs)
	}

	_, err := cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("cond"), ChangeSetName: aws.String("c2"),
		UsePreviousTemplate: aws.Bool(true), Parameters: params("Stage", "prod")})
	if err != nil {
		t.Fatal(err)
	}
	cs = changeSetStatus(t, cf, "cond", "c2")
	var got []string
	for _, c := range cs.Changes {
		rc := c.ResourceChange
		entry := string(rc.Action) + " " + *rc.LogicalResourceId
		for _, d := range rc.Details {
			entry += " " + *d.Target.Name + "=" + aws.ToString(d.Target.AfterValue)
		}
		got = append(got, entry)
	}
	if want := "Add Alarm|Modify Topic DisplayName=production KmsMasterKeyId=alias/prod"; strings.Join(got, "|") != want {
		t.Fatalf("prod changes %q, want %q", strings.Join(got, "|"), want)
	}

	for name, tc := range map[string]struct {
		body string
		p    []cftypes.Parameter
		want string
	}{
		"unknown mapping":         {"Resources: {A: {Type: AWS::SNS::Topic, Properties: {DisplayName: !FindInMap [Nope, a, b]}}}", nil, "Mapping named 'Nope' is not present"},
		"unknown condition":       {"Resources: {A: {Type: AWS::SNS::Topic, Condition: Nope}}", nil, "Unresolved condition dependencies [Nope]"},
		"resource in a condition": {"Conditions: {C: !Equals [!Ref A, x]}\nResources: {A: {Type: AWS::SNS::Topic, Condition: C}}", nil, "Cannot reference resources in the Conditions block"},
		"not a number":            {"Parameters: {N: {Type: Number}}\nResources: {A: {Type: AWS::SNS::Topic}}", params("N", "ten"), "must be a number"},
		"unknown parameter type":  {"Parameters: {N: {Type: Text}}\nResources: {A: {Type: AWS::SNS::Topic}}", nil, "Unrecognized parameter type: Text"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cf.CreateChangeSet(ctx(t), &cloudformation.CreateChangeSetInput{StackName: aws.String("bad"), ChangeSetName: aws.String("c"),
				ChangeSetType: cftypes.ChangeSetTypeCreate, TemplateBody: aws.String(tc.body), Parameters: tc.p})
			wantCode(t, err, "ValidationError")
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to say %q", err, tc.want)
			}
		})
	}
}

// TestDeploymentPreference: a SAM function with a DeploymentPreference moves its alias through
// a CodeDeploy deployment that the stack waits for; stopping the deployment fails the update
// and the stack rolls back with the alias on the old version; a deployment that succeeds
// completes the update.
func TestDeploymentPreference(t *testing.T) {
	s := start(t, func(c *fakeaws.Config) { c.StackStepDelay = 5 * time.Millisecond })
	cfg := roleConfig(t, s, prodAcc, "exec-8")
	cf, cd, lc := cloudformation.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	body := strings.Replace(samTemplate, "      AutoPublishAlias: live\n",
		"      AutoPublishAlias: live\n      DeploymentPreference:\n        Type: Linear10PercentEvery1Minute\n", 1)
	deploy := func(name, key string) {
		typ := cftypes.ChangeSetTypeUpdate
		if name == "c1" {
			typ = cftypes.ChangeSetTypeCreate
		}
		createChangeSet(t, cf, "app-prod", name, typ, body, params("ArtifactKey", key))
		changeSetStatus(t, cf, "app-prod", name)
		if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("app-prod"), ChangeSetName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	deploy("c1", "k1")
	if st := stackDone(t, cf, "app-prod"); st.StackStatus != cftypes.StackStatusCreateComplete {
		t.Fatalf("create: %s", st.StackStatus)
	}
	physical := func(logical string) string {
		out, err := cf.DescribeStackResource(ctx(t), &cloudformation.DescribeStackResourceInput{StackName: aws.String("app-prod"), LogicalResourceId: aws.String(logical)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.StackResourceDetail.PhysicalResourceId
	}
	app, group := physical("ServerlessDeploymentApplication"), physical("ApiDeploymentGroup")
	inProgress := func() string {
		var id string
		waitFor(t, "a deployment in progress", func() (bool, error) {
			out, err := cd.ListDeployments(ctx(t), &codedeploy.ListDeploymentsInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group),
				IncludeOnlyStatuses: []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusInProgress}})
			if err != nil || len(out.Deployments) == 0 {
				return false, err
			}
			id = out.Deployments[0]
			return true, nil
		})
		return id
	}
	alias := func() string {
		a, err := lc.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("app-prod-api"), Name: aws.String("live")})
		if err != nil {
			t.Fatal(err)
		}
		return *a.FunctionVersion
	}

	deploy("u1", "k2")
	id := inProgress()
	if status, _ := s.StackStatus(prodAcc, region, "app-prod"); status != "UPDATE_IN_PROGRESS" || alias() != "1" {
		t.Fatalf("during the deployment: stack %s, alias on %s", status, alias())
	}
	got, err := cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil || *got.DeploymentInfo.DeploymentConfigName != "CodeDeployDefault.LambdaLinear10PercentEvery1Minute" || *got.DeploymentInfo.ApplicationName != app {
		t.Fatalf("deployment %+v %v", got, err)
	}
	if _, err := cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "app-prod"); st.StackStatus != cftypes.StackStatusUpdateRollbackComplete || alias() != "1" {
		t.Fatalf("after the stopped deployment: stack %s, alias on %s", st.StackStatus, alias())
	}
	reason := ""
	for _, e := range stackEvents(t, cf, "app-prod") {
		if e.ResourceStatus == cftypes.ResourceStatusUpdateFailed && *e.LogicalResourceId == "Api" {
			reason = aws.ToString(e.ResourceStatusReason)
			break
		}
	}
	if !strings.Contains(reason, id) || !strings.Contains(reason, "stopped") {
		t.Fatalf("the failed update says %q; want the deployment and that it stopped", reason)
	}

	deploy("u2", "k3")
	id = inProgress()
	if err := s.FinishDeployment(prodAcc, region, id, fakeaws.DeploymentSucceeded, "", ""); err != nil {
		t.Fatal(err)
	}
	if st := stackDone(t, cf, "app-prod"); st.StackStatus != cftypes.StackStatusUpdateComplete || alias() == "1" {
		t.Fatalf("after the deployment: stack %s, alias on %s", st.StackStatus, alias())
	}
	_, err = cd.ListDeployments(ctx(t), &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("nope")})
	var noApp *cdtypes.ApplicationDoesNotExistException
	if !errors.As(err, &noApp) {
		t.Fatalf("listing an unknown application: %v", err)
	}
}
