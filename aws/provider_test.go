package aws_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/internal/awsclient"
	"github.com/sluicehq/sluice/internal/fakeaws"
)

const (
	tooling = "111122223333"
	devAcct = "222233334444"
	prdAcct = "333344445555"
	region  = "eu-west-1"
	bucket  = "tooling-artifacts"
)

const template = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ArtifactBucket: {Type: String}
  ArtifactKey: {Type: String}
  Stage: {Type: String}
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: {Bucket: !Ref ArtifactBucket, Key: !Ref ArtifactKey}
      Environment: {Variables: {STAGE: !Ref Stage}}
  HttpApi:
    Type: AWS::Serverless::HttpApi
Outputs:
  ApiUrl:
    Value: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/"
`

// world is a fake AWS with a tooling account and two environment accounts, each with the
// deployment role the tooling account may assume, an artifact bucket under a KMS key, and a
// real artifact store.
type world struct {
	// template is what build puts in artifacts; newWorld sets the package's template.
	template string
	fake     *fakeaws.Server
	store    *artifact.Store
	p        *aws.Provider
	keyARN   string
	logs     []string
	mu       sync.Mutex
}

func newWorld(t testing.TB, options ...func(*fakeaws.Config)) *world {
	t.Helper()
	cfg := fakeaws.Config{
		Accounts: []string{tooling, devAcct, prdAcct},
		Roles: []fakeaws.Role{
			{Account: devAcct, Name: "orders-" + region + "-DeploymentRole", Trusts: []string{tooling}},
			{Account: prdAcct, Name: "orders-" + region + "-DeploymentRole", Trusts: []string{tooling}},
		},
		StackStepDelay: time.Millisecond, ChangeSetDelay: time.Millisecond,
	}
	for _, o := range options {
		o(&cfg)
	}
	fake, err := fakeaws.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	keys, _ := fake.Root(tooling)
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": fake.URL, "AWS_ACCESS_KEY_ID": keys.AccessKeyID, "AWS_SECRET_ACCESS_KEY": keys.SecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_REGION": region, "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	w := &world{fake: fake, template: template}
	if w.keyARN, err = fake.CreateKey(tooling, region, "Sluice artifacts"); err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{Region: region, BaseEndpoint: &fake.URL, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: sdk.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fake.RequireSSEKMS(bucket, w.keyARN)
	if w.store, err = artifact.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	w.p = aws.New(deploy.Host{StateDir: t.TempDir(), Artifacts: w.store})
	t.Cleanup(func() { w.p.Close() })
	return w
}

// build stores an artifact holding the template and a bootstrap saying version.
func (w *world) build(t testing.TB, version string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(w.template), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := w.store.Put(dir, []string{"template.yaml", "bootstrap"})
	if err != nil {
		t.Fatal(err)
	}
	return a.Digest
}

func (w *world) env(account, name, execution string, mod func(*aws.Target)) deploy.Environment {
	tg := &aws.Target{Account: account, Region: region, Function: "ApiFunction", EndpointOutput: "ApiUrl",
		Parameters: map[string]string{"Stage": name}, ArtifactBucket: bucket, ArtifactKMSKey: w.keyARN, MetricsInterval: time.Second}
	if mod != nil {
		mod(tg)
	}
	return deploy.Environment{Name: name, Route: "orders", Execution: execution, Config: tg}
}

func version(digest string, s sluice.Strategy) sluice.Version {
	return sluice.Version{Artifact: digest, Revision: "0123456789abcdef", Strategy: s}
}

func (w *world) request(cs *sluice.ChangeSet, env deploy.Environment) deploy.Request {
	return deploy.Request{Environment: env, ChangeSet: cs, Log: func(format string, args ...any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.logs = append(w.logs, strings.TrimSpace(sprintf(format, args...)))
	}}
}

func (w *world) apply(t *testing.T, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, deploy.Result) {
	t.Helper()
	cs, err := w.p.Prepare(t.Context(), env, live, to)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	res, err := w.p.Apply(t.Context(), w.request(cs, env))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cs, res
}

// deploy prepares and applies to, which must succeed.
func (w *world) deploy(t testing.TB, env deploy.Environment, live *sluice.Version, to sluice.Version) {
	t.Helper()
	cs, err := w.p.Prepare(context.Background(), env, live, to)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	res, err := w.p.Apply(context.Background(), w.request(cs, env))
	if err != nil || res.Status != sluice.StatusSucceeded {
		t.Fatalf("apply: %+v, %v", res, err)
	}
}

var allAtOnce = sluice.Strategy{Type: sluice.AllAtOnce}

// A first deployment creates the stack through a change set and the alias on version 1; the
// next shifts the alias by the strategy; everything in the environment's account is signed with
// the role assumed for the execution, and the code lands once in the tooling bucket under KMS.
func TestDeployCreatesTheStackThenShiftsTheAlias(t *testing.T) {
	w := newWorld(t)
	env := w.env(devAcct, "dev", "exec-1", nil)
	a1 := w.build(t, "one")
	first := version(a1, allAtOnce)

	cs, err := w.p.Prepare(t.Context(), env, nil, first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.p.Prepare(t.Context(), env, nil, first)
	if err != nil || again.Digest != cs.Digest {
		t.Fatalf("preparing the same again: digest %v (%v), want %s", again, err, cs.Digest)
	}
	var fields []string
	for _, c := range cs.Changes {
		fields = append(fields, c.Field+" "+c.To)
	}
	if !slices.Contains(fields, "ApiFunction add AWS::Serverless::Function") && !slices.Contains(fields, "ApiFunction add AWS::Lambda::Function") {
		t.Errorf("changes %q, want ApiFunction added", fields)
	}
	if !strings.Contains(string(cs.Detail), `"type":"CREATE"`) || !strings.Contains(string(cs.Detail), `"ArtifactKey":"sluice/orders/`) {
		t.Errorf("detail %s: want a CREATE change set with the artifact key as a parameter", cs.Detail)
	}
	res, err := w.p.Apply(t.Context(), w.request(cs, env))
	if err != nil || res.Status != sluice.StatusSucceeded {
		t.Fatalf("first apply: %+v, %v; log:\n%s", res, err, strings.Join(w.logs, "\n"))
	}
	fn := functionOf(t, w, devAcct)
	if h := w.fake.AliasHistory(devAcct, region, fn, "live"); len(h) != 1 || h[0].FunctionVersion != "1" || h[0].Weights != nil {
		t.Fatalf("alias history after the first deployment %+v, want created on version 1", h)
	}
	// Status displays ask often; AWS is asked once per few seconds.
	count := func(op string) (n int) {
		for _, c := range w.fake.Calls() {
			if c.Operation == op {
				n++
			}
		}
		return n
	}
	before := count("GetAlias")
	for range 5 {
		if _, err := w.p.Status(t.Context(), env); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("GetAlias") - before; n > 1 {
		t.Errorf("5 status reads made %d GetAlias calls, want at most 1", n)
	}
	url, err := w.p.Address(t.Context(), env)
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Errorf("address %q (%v), want the ApiUrl output", url, err)
	}

	a2 := w.build(t, "two")
	second := version(a2, sluice.Strategy{Type: sluice.Linear, Percent: 50, Interval: 500 * time.Millisecond})
	cs2, res := w.apply(t, env, &first, second)
	if res.Status != sluice.StatusSucceeded {
		t.Fatalf("second apply: %+v", res)
	}
	if !strings.Contains(string(cs2.Detail), `"type":"UPDATE"`) {
		t.Errorf("detail %s: want an UPDATE change set", cs2.Detail)
	}
	h := w.fake.AliasHistory(devAcct, region, fn, "live")
	want := []fakeaws.AliasChange{
		{FunctionVersion: "1"},
		{FunctionVersion: "1", Weights: map[string]float64{"2": 0.5}},
		{FunctionVersion: "2"},
	}
	if len(h) != len(want) {
		t.Fatalf("alias history %+v, want %+v", h, want)
	}
	for i := range want {
		if h[i].FunctionVersion != want[i].FunctionVersion || !weightsEqual(h[i].Weights, want[i].Weights) {
			t.Errorf("alias step %d: %+v, want version %s weights %v", i, h[i], want[i].FunctionVersion, want[i].Weights)
		}
	}

	for _, c := range w.fake.Calls() {
		switch {
		case c.ErrorCode != "" && c.Operation != "DescribeStacks" && c.Operation != "DescribeChangeSet" && c.Operation != "GetAlias" && c.Operation != "HeadObject":
			t.Errorf("call %+v failed", c)
		case c.Account == devAcct && (c.Role != "orders-"+region+"-DeploymentRole" || c.SessionName != "sluice-exec-1"):
			t.Errorf("call %s in the dev account signed by role %q session %q, want the deployment role's session sluice-exec-1", c.Operation, c.Role, c.SessionName)
		case c.Service == "s3" && (c.Account != tooling || c.Role != ""):
			t.Errorf("S3 call %s signed by %s/%s, want the tooling account", c.Operation, c.Account, c.Role)
		}
	}
	var puts int
	for _, c := range w.fake.Calls() {
		if c.Operation == "PutObject" {
			puts++
		}
	}
	if puts != 2 {
		t.Errorf("%d uploads, want one per artifact (2)", puts)
	}
	enc, ok := w.fake.Encryption(bucket, "sluice/orders/"+strings.TrimPrefix(a2, "sha256:")+".zip")
	if !ok || enc.ServerSideEncryption != "aws:kms" || enc.KeyARN != w.keyARN {
		t.Errorf("object encryption %+v (%v), want aws:kms under %s", enc, ok, w.keyARN)
	}
}

func weightsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// functionOf is the physical name of the stack's function, as the fake named it.
func functionOf(t testing.TB, w *world, account string) string {
	t.Helper()
	st, err := w.p.Status(t.Context(), w.env(account, "dev", "exec-1", nil))
	if err != nil || st == nil || len(st.Versions) == 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	if !strings.HasPrefix(st.Outputs["ApiUrl"], "https://") || st.Address != st.Outputs["ApiUrl"] {
		t.Errorf("status outputs %v, address %q: want the stack's ApiUrl output", st.Outputs, st.Address)
	}
	fn, _, _ := strings.Cut(st.Versions[0].ID, ":")
	return fn
}

// A CloudWatch alarm that goes to ALARM during the shift puts the alias back on the old
// version at once, and the deployment ends RolledBack naming the alarm.
func TestAlarmDuringTheShiftPutsTheAliasBack(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.PutAlarm(devAcct, region, fakeaws.Alarm{Name: "orders-5xx", Namespace: "AWS/Lambda", MetricName: "Errors", Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	env := w.env(devAcct, "dev", "exec-1", func(tg *aws.Target) { tg.Alarms = []string{"orders-5xx"} })
	first := version(w.build(t, "one"), allAtOnce)
	if _, res := w.apply(t, env, nil, first); res.Status != sluice.StatusSucceeded {
		t.Fatalf("first apply: %+v", res)
	}
	fn := functionOf(t, w, devAcct)
	second := version(w.build(t, "two"), sluice.Strategy{Type: sluice.Linear, Percent: 10, Interval: time.Hour})
	cs, err := w.p.Prepare(t.Context(), env, &first, second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan deploy.Result, 1)
	go func() {
		res, err := w.p.Apply(context.Background(), w.request(cs, env))
		if err != nil {
			t.Errorf("apply: %v", err)
		}
		done <- res
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		h := w.fake.AliasHistory(devAcct, region, fn, "live")
		if len(h) > 0 && h[len(h)-1].Weights["2"] == 0.1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alias never reached 10%% on version 2: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.fake.SetAlarmState(devAcct, region, "orders-5xx", "ALARM", "Threshold Crossed: 1 datapoint [7.0] was greater than the threshold (1.0)."); err != nil {
		t.Fatal(err)
	}
	var res deploy.Result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the deployment did not end after the alarm")
	}
	if res.Status != sluice.StatusRolledBack || res.Rollback == nil || res.Rollback.Alarm != "orders-5xx" {
		t.Fatalf("result %+v, want rolled back by orders-5xx", res)
	}
	h := w.fake.AliasHistory(devAcct, region, fn, "live")
	if last := h[len(h)-1]; last.FunctionVersion != "1" || len(last.Weights) != 0 {
		t.Errorf("alias ends %+v, want all traffic on version 1", last)
	}
}

// A rejected change set is deleted, and a stack that cannot be updated is refused before
// anything is created, saying what to do.
func TestDiscardDeletesAndStuckStacksAreRefused(t *testing.T) {
	w := newWorld(t)
	env := w.env(prdAcct, "prod", "exec-2", nil)
	first := version(w.build(t, "one"), allAtOnce)
	if _, res := w.apply(t, env, nil, first); res.Status != sluice.StatusSucceeded {
		t.Fatalf("first apply: %+v", res)
	}
	second := version(w.build(t, "two"), allAtOnce)
	cs, err := w.p.Prepare(t.Context(), env, &first, second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.Discard(t.Context(), env, cs); err != nil {
		t.Fatal(err)
	}
	if err := w.p.Discard(t.Context(), env, cs); err != nil {
		t.Errorf("discarding twice: %v", err)
	}
	if _, err := w.p.Apply(t.Context(), w.request(cs, env)); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("applying a deleted change set: %v, want ECONFLICT", err)
	}
	if err := w.fake.SetStackStatus(prdAcct, region, "orders-prod", "UPDATE_ROLLBACK_FAILED", "ApiFunction failed to roll back"); err != nil {
		t.Fatal(err)
	}
	_, err = w.p.Prepare(t.Context(), env, &first, second)
	if sluice.ErrorCode(err) != sluice.ECONFLICT || !strings.Contains(err.Error(), "continue-update-rollback") {
		t.Errorf("preparing on a stuck stack: %v, want ECONFLICT saying to continue the rollback", err)
	}
	for _, c := range w.fake.Calls() {
		if c.Account == devAcct {
			t.Errorf("call %s touched the dev account", c.Operation)
		}
	}
}

// A resource that fails to update ends the deployment Failed, naming it and why.
func TestFailedStackUpdateNamesTheResource(t *testing.T) {
	w := newWorld(t)
	env := w.env(devAcct, "dev", "exec-3", nil)
	first := version(w.build(t, "one"), allAtOnce)
	if _, res := w.apply(t, env, nil, first); res.Status != sluice.StatusSucceeded {
		t.Fatalf("first apply: %+v", res)
	}
	if err := w.fake.FailResource(devAcct, region, "orders-dev", "ApiFunction", "Resource handler returned message: code too large"); err != nil {
		t.Fatal(err)
	}
	_, res := w.apply(t, env, &first, version(w.build(t, "two"), allAtOnce))
	if res.Status != sluice.StatusFailed || !strings.Contains(res.Reason, "ApiFunction") || !strings.Contains(res.Reason, "code too large") {
		t.Fatalf("result %+v, want Failed naming ApiFunction and its reason", res)
	}
}

// Credentials of one environment are never used for another, and a role the tooling account
// may not assume is refused.
func TestEachEnvironmentUsesItsOwnRole(t *testing.T) {
	w := newWorld(t)
	dev := w.env(devAcct, "dev", "exec-4", nil)
	prod := w.env(prdAcct, "prod", "exec-4", nil)
	v := version(w.build(t, "one"), allAtOnce)
	for _, env := range []deploy.Environment{dev, prod} {
		if _, res := w.apply(t, env, nil, v); res.Status != sluice.StatusSucceeded {
			t.Fatalf("%s: %+v", env.Name, res)
		}
	}
	byAccount := map[string]map[string]bool{}
	for _, c := range w.fake.Calls() {
		if c.Service == "sts" || c.Service == "s3" || c.Account == "" {
			continue
		}
		if byAccount[c.Account] == nil {
			byAccount[c.Account] = map[string]bool{}
		}
		byAccount[c.Account][c.AccessKeyID] = true
	}
	if len(byAccount[devAcct]) == 0 || len(byAccount[prdAcct]) == 0 {
		t.Fatalf("calls by account %v, want both environment accounts", byAccount)
	}
	for key := range byAccount[devAcct] {
		if byAccount[prdAcct][key] {
			t.Errorf("access key %s signed calls in both accounts", key)
		}
	}
	other := w.env(prdAcct, "qa", "exec-4", func(tg *aws.Target) { tg.Role = "NotTrusted" })
	_, err := w.p.Prepare(t.Context(), other, nil, v)
	if err == nil || !strings.Contains(err.Error(), "NotTrusted") && !errors.Is(err, context.Canceled) {
		t.Errorf("assuming a role that does not exist: %v, want an error naming it", err)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// A pre-traffic hook function is invoked with the alias and versions before any traffic moves;
// its function error rolls the deployment back with the alias untouched. A command hook gets the
// same in its environment.
func TestHookFunctionsAndHookEnvironment(t *testing.T) {
	w := newWorld(t)
	if _, err := w.fake.PutFunction(devAcct, region, "orders-pre-hook", []byte("code")); err != nil {
		t.Fatal(err)
	}
	env := w.env(devAcct, "dev", "exec-5", func(tg *aws.Target) { tg.PreTrafficFunction = "orders-pre-hook" })
	first := version(w.build(t, "one"), allAtOnce)
	var mu sync.Mutex
	var payloads []string
	fail := false
	w.fake.OnInvoke(func(r fakeaws.InvokeRequest) fakeaws.InvokeResult {
		mu.Lock()
		defer mu.Unlock()
		payloads = append(payloads, string(r.Payload))
		if fail {
			return fakeaws.InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"smoke test failed"}`)}
		}
		return fakeaws.InvokeResult{Payload: []byte(`"ok"`)}
	})
	if _, res := w.apply(t, env, nil, first); res.Status != sluice.StatusSucceeded {
		t.Fatalf("first apply: %+v", res)
	}
	fn := functionOf(t, w, devAcct)
	mu.Lock()
	if len(payloads) != 1 || !strings.Contains(payloads[0], `"phase":"pre_traffic"`) || !strings.Contains(payloads[0], `"version":"1"`) {
		t.Errorf("hook payloads %q, want one pre_traffic invocation about version 1", payloads)
	}
	fail = true
	mu.Unlock()

	second := version(w.build(t, "two"), sluice.Strategy{Type: sluice.Linear, Percent: 50, Interval: time.Hour})
	cs, err := w.p.Prepare(t.Context(), env, &first, second)
	if err != nil {
		t.Fatal(err)
	}
	req := w.request(cs, env)
	var hookEnv map[string]string
	req.Hook = func(_ context.Context, phase, endpoint string, env map[string]string) error {
		if phase == "pre_traffic" {
			hookEnv = env
		}
		return nil
	}
	res, err := w.p.Apply(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sluice.StatusRolledBack || res.Rollback == nil || res.Rollback.Cause != sluice.CauseHook || !strings.Contains(res.Reason, "smoke test failed") {
		t.Fatalf("result %+v, want rolled back by the failing hook function", res)
	}
	if hookEnv["SLUICE_AWS_VERSION"] != "2" || hookEnv["SLUICE_AWS_OLD_VERSION"] != "1" || hookEnv["SLUICE_AWS_ALIAS"] != "live" || hookEnv["SLUICE_AWS_FUNCTION"] != fn {
		t.Errorf("hook environment %v", hookEnv)
	}
	h := w.fake.AliasHistory(devAcct, region, fn, "live")
	for _, step := range h {
		if len(step.Weights) > 0 || step.FunctionVersion != "1" {
			t.Errorf("the alias moved before the pre-traffic hook passed: %+v", h)
		}
	}
}

// After a rollback the stack holds the new code while the alias serves the old: preparing the
// same again is not "nothing to do" but the alias's move, which Apply makes without a stack
// update. A CloudWatch alarm that does not exist fails the deployment before any traffic moves.
func TestRetryAfterRollbackAndMissingAlarm(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.PutAlarm(devAcct, region, fakeaws.Alarm{Name: "orders-5xx", Namespace: "AWS/Lambda", MetricName: "Errors", Threshold: 1, Period: 10}); err != nil {
		t.Fatal(err)
	}
	env := w.env(devAcct, "dev", "exec-6", func(tg *aws.Target) { tg.Alarms = []string{"orders-5xx"} })
	first := version(w.build(t, "one"), allAtOnce)
	w.deploy(t, env, nil, first)
	fn := functionOf(t, w, devAcct)
	second := version(w.build(t, "two"), allAtOnce)
	if err := w.fake.SetAlarmState(devAcct, region, "orders-5xx", "ALARM", "Threshold Crossed"); err != nil {
		t.Fatal(err)
	}
	if _, res := w.apply(t, env, &first, second); res.Status != sluice.StatusRolledBack {
		t.Fatalf("with the alarm on: %+v, want rolled back", res)
	}
	if err := w.fake.SetAlarmState(devAcct, region, "orders-5xx", "OK", "recovered"); err != nil {
		t.Fatal(err)
	}
	cs, err := w.p.Prepare(t.Context(), env, &first, second)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Empty() || cs.Changes[len(cs.Changes)-1].Field != "ApiFunction alias live" {
		t.Fatalf("changes after the rollback %+v, want the alias's move", cs.Changes)
	}
	res, err := w.p.Apply(t.Context(), w.request(cs, env))
	if err != nil || res.Status != sluice.StatusSucceeded {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	h := w.fake.AliasHistory(devAcct, region, fn, "live")
	if last := h[len(h)-1]; last.FunctionVersion == "1" || len(last.Weights) != 0 {
		t.Errorf("alias ends %+v, want all traffic on the stack's new code", last)
	}
	again, err := w.p.Prepare(t.Context(), env, &second, second)
	if err != nil || !again.Empty() {
		t.Errorf("once the alias serves it: %+v, %v; want nothing to do", again, err)
	}

	missing := w.env(devAcct, "dev", "exec-7", func(tg *aws.Target) { tg.Alarms = []string{"orders-5xx", "orders-typo"} })
	third := version(w.build(t, "three"), allAtOnce)
	cs, err = w.p.Prepare(t.Context(), missing, &second, third)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Apply(t.Context(), w.request(cs, missing)); sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "orders-typo") {
		t.Errorf("apply with an alarm that does not exist: %v, want EINVALID naming it", err)
	}
}

// An alias the template made on $LATEST (for the API to reference) is moved by the first
// deployment and, when that deployment rolls back, put back on $LATEST rather than deleted.
func TestAliasOnLatestIsPutBackNotDeleted(t *testing.T) {
	w := newWorld(t)
	plain := w.env(devAcct, "dev", "exec-8", func(tg *aws.Target) { tg.Function = "" })
	first := version(w.build(t, "one"), allAtOnce)
	w.deploy(t, plain, nil, first) // the stack, with no shifting yet
	keys, _ := w.fake.Root(devAcct)
	lc := lambda.New(lambda.Options{Region: region, BaseEndpoint: &w.fake.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	fn := functionName(t, w)
	if _, err := lc.CreateAlias(t.Context(), &lambda.CreateAliasInput{FunctionName: &fn, Name: sdk.String("live"), FunctionVersion: sdk.String("$LATEST")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fake.PutFunction(devAcct, region, "orders-pre-hook", []byte("code")); err != nil {
		t.Fatal(err)
	}
	w.fake.OnInvoke(func(fakeaws.InvokeRequest) fakeaws.InvokeResult {
		return fakeaws.InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"not yet"}`)}
	})
	env := w.env(devAcct, "dev", "exec-9", func(tg *aws.Target) { tg.PreTrafficFunction = "orders-pre-hook" })
	second := version(w.build(t, "two"), allAtOnce)
	_, res := w.apply(t, env, &first, second)
	if res.Status != sluice.StatusFailed || res.Rollback == nil || res.Rollback.Cause != sluice.CauseHook {
		t.Fatalf("result %+v, want the failing hook to stop it", res)
	}
	out, err := lc.GetAlias(t.Context(), &lambda.GetAliasInput{FunctionName: &fn, Name: sdk.String("live")})
	if err != nil {
		t.Fatalf("the template's alias is gone: %v", err)
	}
	if v := sdk.ToString(out.FunctionVersion); v != "$LATEST" {
		t.Errorf("alias on %s, want $LATEST again", v)
	}
	for _, c := range w.fake.Calls() {
		if c.Service == "lambda" && c.Operation != "GetAlias" && c.Operation != "Invoke" && c.Operation != "PublishVersion" && c.Operation != "UpdateAlias" && c.Operation != "CreateAlias" {
			t.Errorf("lambda call %q (%s): the rollback must only put the alias back", c.Operation, c.ErrorCode)
		}
	}
	h := w.fake.AliasHistory(devAcct, region, fn, "live")
	if last := h[len(h)-1]; last.FunctionVersion != "$LATEST" {
		t.Errorf("alias history %+v, want it put back on $LATEST", h)
	}
}

// functionName is the stack's function's physical name, as CloudFormation reports it.
func functionName(t *testing.T, w *world) string {
	t.Helper()
	keys, _ := w.fake.Root(devAcct)
	cfn := cloudformation.New(cloudformation.Options{Region: region, BaseEndpoint: &w.fake.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	out, err := cfn.DescribeStackResource(t.Context(), &cloudformation.DescribeStackResourceInput{StackName: sdk.String("orders-dev"), LogicalResourceId: sdk.String("ApiFunction")})
	if err != nil {
		t.Fatal(err)
	}
	return sdk.ToString(out.StackResourceDetail.PhysicalResourceId)
}

// With a SAM DeploymentPreference, CodeDeploy shifts the alias during the stack update: Sluice
// follows that deployment, reports its failure as a rollback with its cause, and stops it with
// rollback when the deployment is canceled.
func TestCodeDeployDeploymentIsObserved(t *testing.T) {
	w := newWorld(t)
	w.template = strings.Replace(template, "      Environment: {Variables: {STAGE: !Ref Stage}}\n",
		"      Environment: {Variables: {STAGE: !Ref Stage}}\n      AutoPublishAlias: live\n      DeploymentPreference:\n        Type: Linear10PercentEvery1Minute\n", 1)
	env := w.env(devAcct, "dev", "exec-10", nil)
	first := version(w.build(t, "one"), allAtOnce)
	w.deploy(t, env, nil, first)
	keys, _ := w.fake.Root(devAcct)
	cd := codedeploy.New(codedeploy.Options{Region: region, BaseEndpoint: &w.fake.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	cfn := cloudformation.New(cloudformation.Options{Region: region, BaseEndpoint: &w.fake.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	physical := func(logical string) string {
		out, err := cfn.DescribeStackResource(t.Context(), &cloudformation.DescribeStackResourceInput{StackName: sdk.String("orders-dev"), LogicalResourceId: sdk.String(logical)})
		if err != nil {
			t.Fatal(err)
		}
		return sdk.ToString(out.StackResourceDetail.PhysicalResourceId)
	}
	inProgress := func() string {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			out, err := cd.ListDeployments(t.Context(), &codedeploy.ListDeploymentsInput{ApplicationName: sdk.String(physical("ServerlessDeploymentApplication")),
				DeploymentGroupName: sdk.String(physical("ApiFunctionDeploymentGroup")), IncludeOnlyStatuses: []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusInProgress}})
			if err == nil && len(out.Deployments) > 0 {
				return out.Deployments[0]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no CodeDeploy deployment started")
		return ""
	}
	start := func(ctx context.Context, digest string) <-chan deploy.Result {
		cs, err := w.p.Prepare(t.Context(), env, &first, version(digest, allAtOnce))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cs.Detail), `"codedeploy":true`) {
			t.Fatalf("detail %s: the DeploymentPreference was not seen", cs.Detail)
		}
		done := make(chan deploy.Result, 1)
		go func() {
			res, _ := w.p.Apply(ctx, w.request(cs, env))
			done <- res
		}()
		return done
	}
	wait := func(done <-chan deploy.Result) deploy.Result {
		select {
		case res := <-done:
			return res
		case <-time.After(60 * time.Second):
			t.Fatal("the deployment did not end")
			return deploy.Result{}
		}
	}

	done := start(t.Context(), w.build(t, "two"))
	id := inProgress()
	if err := w.fake.FinishDeployment(devAcct, region, id, fakeaws.DeploymentSucceeded, "", ""); err != nil {
		t.Fatal(err)
	}
	if res := wait(done); res.Status != sluice.StatusSucceeded {
		t.Fatalf("after CodeDeploy succeeded: %+v", res)
	}

	done = start(t.Context(), w.build(t, "three"))
	id = inProgress()
	if err := w.fake.FinishDeployment(devAcct, region, id, fakeaws.DeploymentFailed, "ALARM_ACTIVE", "One or more alarms have been activated: orders-5xx"); err != nil {
		t.Fatal(err)
	}
	res := wait(done)
	if res.Status != sluice.StatusRolledBack || res.Rollback == nil || res.Rollback.Cause != sluice.CauseAlarm || !strings.Contains(res.Reason, "orders-5xx") {
		t.Fatalf("after CodeDeploy failed on an alarm: %+v", res)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done = start(ctx, w.build(t, "four"))
	id = inProgress()
	cancel()
	res = wait(done)
	if res.Status != sluice.StatusRolledBack || res.Rollback == nil || res.Rollback.Cause != sluice.CauseCanceled {
		t.Fatalf("after the cancel: %+v", res)
	}
	if st, _ := w.fake.DeploymentStatus(devAcct, region, id); st != fakeaws.DeploymentStopped {
		t.Errorf("CodeDeploy deployment %s is %s, want stopped", id, st)
	}
	for _, c := range w.fake.Calls() {
		if c.Operation == "UpdateAlias" && c.Role != "" {
			t.Errorf("Sluice moved the alias itself (%+v); CodeDeploy shifts it", c)
		}
	}
}

// A first version whose pre-traffic hook fails leaves nothing serving: the alias it would have
// made is gone, and the deployment Failed (there was nothing to roll back to).
func TestFirstVersionThatFailsLeavesNoAlias(t *testing.T) {
	w := newWorld(t)
	if _, err := w.fake.PutFunction(devAcct, region, "orders-pre-hook", []byte("code")); err != nil {
		t.Fatal(err)
	}
	w.fake.OnInvoke(func(fakeaws.InvokeRequest) fakeaws.InvokeResult {
		return fakeaws.InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"no"}`)}
	})
	env := w.env(devAcct, "dev", "exec-11", func(tg *aws.Target) { tg.PreTrafficFunction = "orders-pre-hook" })
	_, res := w.apply(t, env, nil, version(w.build(t, "one"), allAtOnce))
	if res.Status != sluice.StatusFailed || res.Rollback == nil || res.Rollback.Cause != sluice.CauseHook {
		t.Fatalf("result %+v, want Failed by the hook", res)
	}
	keys, _ := w.fake.Root(devAcct)
	lc := lambda.New(lambda.Options{Region: region, BaseEndpoint: &w.fake.URL,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	fn := functionName(t, w)
	if _, err := lc.GetAlias(t.Context(), &lambda.GetAliasInput{FunctionName: &fn, Name: sdk.String("live")}); err == nil {
		t.Error("the alias of a version that never served is still there")
	}
	for _, c := range w.fake.Calls() {
		if c.Service == "lambda" && c.ErrorCode != "" && c.Operation != "GetAlias" {
			t.Errorf("lambda call %s failed: %s", c.Operation, c.ErrorCode)
		}
		// The hook runs before any traffic: no alias is made for a version it refused.
		if c.Operation == "CreateAlias" || c.Operation == "UpdateAlias" {
			t.Errorf("the alias was set (%s) before the pre-traffic hook passed", c.Operation)
		}
	}
}

// Assumed-role credentials that expire during a deployment are refreshed: the shift goes on
// past their lifetime, and the fake (which refuses an expired session) sees no refused call.
func TestExpiringCredentialsAreRefreshed(t *testing.T) {
	w := newWorld(t, func(c *fakeaws.Config) { c.SessionLifetime = time.Second })
	env := w.env(devAcct, "dev", "exec-12", nil)
	first := version(w.build(t, "one"), allAtOnce)
	w.deploy(t, env, nil, first)
	second := version(w.build(t, "two"), sluice.Strategy{Type: sluice.Linear, Percent: 25, Interval: 800 * time.Millisecond})
	w.deploy(t, env, &first, second) // about 2.4 s of shifting: the first session expires
	assumed := 0
	for _, c := range w.fake.Calls() {
		if c.Operation == "AssumeRole" && c.ErrorCode == "" {
			assumed++
		}
		if c.ErrorCode == "ExpiredToken" || c.ErrorCode == "ExpiredTokenException" {
			t.Errorf("call %s was made with expired credentials", c.Operation)
		}
	}
	if assumed < 2 {
		t.Errorf("the role was assumed %d times; the credentials were never refreshed", assumed)
	}
}
