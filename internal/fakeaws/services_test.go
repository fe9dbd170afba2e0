package fakeaws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluicehq/sluice/internal/fakeaws"
)

// TestAliasShift drives a linear shift the way the rollout driver will: publish, create the
// alias, move weight in steps, then roll back; the fake records every alias state in order.
func TestAliasShift(t *testing.T) {
	// The fake's clock stands still but for the jump the test makes, so that the function's
	// update is seen in progress and then done, whatever the machine's speed.
	var offset atomic.Int64
	s := start(t, func(c *fakeaws.Config) {
		c.LambdaUpdateDelay = 10 * time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	if _, err := s.PutFunction(devAcct, region, "api", []byte("v1 code")); err != nil {
		t.Fatal(err)
	}
	lc := lambda.NewFromConfig(roleConfig(t, s, devAcct, "exec-7"))
	v1, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api")})
	if err != nil {
		t.Fatal(err)
	}
	if *v1.Version != "1" {
		t.Fatalf("first version %s", *v1.Version)
	}
	if _, err := lc.CreateAlias(ctx(t), &lambda.CreateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"), FunctionVersion: v1.Version}); err != nil {
		t.Fatal(err)
	}
	code := []byte("v2 code")
	updated, err := lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("api"), ZipFile: code})
	if err != nil {
		t.Fatal(err)
	}
	// While the update is in progress, Lambda says so and refuses to publish.
	if updated.LastUpdateStatus != lambdatypes.LastUpdateStatusInProgress {
		t.Fatalf("update status %s", updated.LastUpdateStatus)
	}
	_, err = lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api")})
	wantCode(t, err, "ResourceConflictException")
	offset.Store(int64(11 * time.Minute)) // within the signature's 15 minutes of skew
	waitUpdated(t, lc, "api")
	v2, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api"), CodeSha256: updated.CodeSha256})
	if err != nil {
		t.Fatal(err)
	}
	again, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api")})
	if err != nil || *again.Version != "2" {
		t.Fatalf("publishing unchanged code again: %v %v", again, err)
	}
	for _, w := range []float64{0.1, 0.2, 0.3} {
		_, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"),
			RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": w}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := lc.GetAlias(ctx(t), &lambda.GetAliasInput{FunctionName: aws.String("api"), Name: aws.String("live")})
	if err != nil || *got.FunctionVersion != "1" || got.RoutingConfig.AdditionalVersionWeights["2"] != 0.3 {
		t.Fatalf("alias %+v %v", got, err)
	}
	// Roll back: all traffic on version 1, no weights.
	if _, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"),
		FunctionVersion: aws.String("1"), RoutingConfig: &lambdatypes.AliasRoutingConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, c := range s.AliasHistory(devAcct, region, "api", "live") {
		step := c.FunctionVersion
		for _, v := range sortedKeys(c.Weights) {
			step += "+" + v + "@" + strings.TrimRight(strings.TrimRight(jsonNumber(c.Weights[v]), "0"), ".")
		}
		if c.SessionName != "exec-7" {
			t.Errorf("alias change by session %q", c.SessionName)
		}
		steps = append(steps, step)
	}
	if want := "1 1+2@0.1 1+2@0.2 1+2@0.3 1"; strings.Join(steps, " ") != want {
		t.Fatalf("alias history %q, want %q", strings.Join(steps, " "), want)
	}
	fn, err := lc.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("api"), Qualifier: v2.Version})
	if err != nil || *fn.Configuration.CodeSha256 != *updated.CodeSha256 || *fn.Configuration.Version != "2" {
		t.Fatalf("GetFunction of version 2: %+v %v", fn, err)
	}

	for name, tc := range map[string]struct {
		call func() error
		code string
	}{
		"missing function": {func() error {
			_, err := lc.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException"},
		"two extra versions": {func() error {
			_, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"),
				RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1, "3": 0.1}}})
			return err
		}, "InvalidParameterValueException"},
		"weight above one": {func() error {
			_, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"),
				RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 1.5}}})
			return err
		}, "InvalidParameterValueException"},
		"unpublished version": {func() error {
			_, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"), FunctionVersion: aws.String("9")})
			return err
		}, "ResourceNotFoundException"},
		"alias exists": {func() error {
			_, err := lc.CreateAlias(ctx(t), &lambda.CreateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
			return err
		}, "ResourceConflictException"},
		"stale revision": {func() error {
			_, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"), RevisionId: aws.String("old")})
			return err
		}, "PreconditionFailedException"},
		"no code source": {func() error {
			_, err := lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("api")})
			return err
		}, "InvalidParameterValueException"},
		"another account's function": {func() error {
			_, err := lc.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:" + prodAcc + ":function:api")})
			return err
		}, "AccessDeniedException"},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	_, err = lc.GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
	var typed *lambdatypes.ResourceNotFoundException
	if !errors.As(err, &typed) {
		t.Fatalf("want the typed ResourceNotFoundException, got %T", err)
	}
	// The prod account has no function of that name: state is per account.
	_, err = lambda.NewFromConfig(roleConfig(t, s, prodAcc, "exec-7")).GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("api")})
	wantCode(t, err, "ResourceNotFoundException")
}

// waitUpdated waits, with the SDK's waiter, until the function's update is done.
func waitUpdated(t *testing.T, lc *lambda.Client, name string) {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(lc, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute); err != nil {
		t.Fatalf("waiting for %s to be updated: %v", name, err)
	}
}

func sortedKeys(m map[string]float64) []string {
	return slices.Sorted(maps.Keys(m))
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b) + ".0"
}

func TestInvokeHook(t *testing.T) {
	s := start(t)
	s.PutFunction(devAcct, region, "pre-traffic", []byte("hook"))
	var (
		mu   sync.Mutex
		seen fakeaws.InvokeRequest
	)
	last := func() fakeaws.InvokeRequest {
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	s.OnInvoke(func(r fakeaws.InvokeRequest) fakeaws.InvokeResult {
		mu.Lock()
		seen = r
		mu.Unlock()
		if bytes.Contains(r.Payload, []byte("bad")) {
			return fakeaws.InvokeResult{Payload: []byte(`{"errorMessage":"smoke test failed"}`), FunctionError: "Unhandled"}
		}
		return fakeaws.InvokeResult{Payload: []byte(`{"ok":true}`)}
	})
	lc := lambda.NewFromConfig(roleConfig(t, s, devAcct, "exec-3"))
	out, err := lc.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("pre-traffic"), Payload: []byte(`{"version":"2"}`)})
	if err != nil || out.FunctionError != nil || string(out.Payload) != `{"ok":true}` || *out.ExecutedVersion != "$LATEST" {
		t.Fatalf("invoke: %+v %v", out, err)
	}
	if seen := last(); seen.Account != devAcct || seen.Function != "pre-traffic" || string(seen.Payload) != `{"version":"2"}` {
		t.Fatalf("hook saw %+v", seen)
	}
	out, err = lc.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("pre-traffic"), Payload: []byte(`"bad"`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "smoke test failed") {
		t.Fatalf("failing invoke: %+v %v", out, err)
	}

	// Through an alias that sends all its traffic to version 2, version 2 runs.
	if _, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("pre-traffic")}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("pre-traffic"), ZipFile: []byte("hook 2")}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, lc, "pre-traffic")
	if _, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("pre-traffic")}); err != nil {
		t.Fatal(err)
	}
	_, err = lc.CreateAlias(ctx(t), &lambda.CreateAliasInput{FunctionName: aws.String("pre-traffic"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err = lc.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: aws.String("pre-traffic"), Qualifier: aws.String("live")})
	if seen := last(); err != nil || *out.ExecutedVersion != "2" || seen.Version != "2" || seen.Qualifier != "live" {
		t.Fatalf("invoke through the alias ran %v (hook saw %+v): %v", aws.ToString(out.ExecutedVersion), seen, err)
	}
}

func TestKMS(t *testing.T) {
	s := start(t)
	keyARN, err := s.CreateKey(tooling, region, "artifacts", "alias/sluice-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	k := kms.NewFromConfig(rootConfig(t, s, tooling))
	desc, err := k.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/sluice-artifacts")})
	if err != nil || *desc.KeyMetadata.Arn != keyARN || desc.KeyMetadata.KeyState != kmstypes.KeyStateEnabled || desc.KeyMetadata.CreationDate == nil {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	context := map[string]string{"digest": "sha256:abc"}
	enc, err := k.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("secret"), EncryptionContext: context})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := k.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context})
	if err != nil || string(dec.Plaintext) != "secret" || *dec.KeyId != keyARN {
		t.Fatalf("decrypt: %+v %v", dec, err)
	}
	_, err = k.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"digest": "sha256:other"}})
	var invalid *kmstypes.InvalidCiphertextException
	if !errors.As(err, &invalid) {
		t.Fatalf("decrypt under another context: %v", err)
	}
	dk, err := k.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String("alias/sluice-artifacts"), KeySpec: kmstypes.DataKeySpecAes256})
	if err != nil || len(dk.Plaintext) != 32 {
		t.Fatalf("data key: %v", err)
	}
	dec, err = k.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatalf("decrypting the data key: %v", err)
	}
	_, err = k.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(keyARN)})
	wantCode(t, err, "ValidationException")
	_, err = k.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/nope")})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("missing alias: %v", err)
	}
	// Another account can neither use the key by ARN nor decrypt its ciphertext.
	other := kms.NewFromConfig(roleConfig(t, s, devAcct, "exec-1"))
	_, err = other.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	_, err = other.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context})
	wantCode(t, err, "InvalidCiphertextException")
}

func TestCloudWatch(t *testing.T) {
	s := start(t)
	if err := s.PutAlarm(prodAcc, region, fakeaws.Alarm{Name: "api-5xx", Namespace: "AWS/ApiGateway", MetricName: "5XXError", Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	s.PutAlarm(prodAcc, region, fakeaws.Alarm{Name: "other", Namespace: "AWS/Lambda", MetricName: "Errors"})
	cw := cloudwatch.NewFromConfig(roleConfig(t, s, prodAcc, "exec-5"))
	out, err := cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"api-5xx"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != cwtypes.StateValueInsufficientData || *out.MetricAlarms[0].Threshold != 1 {
		t.Fatalf("alarms %+v", out.MetricAlarms)
	}
	if err := s.SetAlarmState(prodAcc, region, "api-5xx", "ALARM", "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (1.0)."); err != nil {
		t.Fatal(err)
	}
	out, err = cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm})
	if err != nil || len(out.MetricAlarms) != 1 || *out.MetricAlarms[0].AlarmName != "api-5xx" || !strings.Contains(*out.MetricAlarms[0].StateReason, "Threshold Crossed") ||
		out.MetricAlarms[0].StateUpdatedTimestamp.IsZero() {
		t.Fatalf("alarms in ALARM: %+v %v", out, err)
	}
	var reasonData struct {
		RecentDatapoints []float64 `json:"recentDatapoints"`
		Threshold        float64   `json:"threshold"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.MetricAlarms[0].StateReasonData)), &reasonData); err != nil || !reflect.DeepEqual(reasonData.RecentDatapoints, []float64{3}) || reasonData.Threshold != 1 {
		t.Fatalf("state reason data %q: %v", aws.ToString(out.MetricAlarms[0].StateReasonData), err)
	}
	s.SetAlarmState(prodAcc, region, "api-5xx", "ALARM", "Threshold Crossed", 4, 9)
	if out, err = cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"api-5xx"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.MetricAlarms[0].StateReasonData), `"recentDatapoints":[4,9]`) {
		t.Fatalf("state reason data %q", aws.ToString(out.MetricAlarms[0].StateReasonData))
	}

	// The tooling account sees none of prod's alarms.
	mine, err := cloudwatch.NewFromConfig(rootConfig(t, s, tooling)).DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{})
	if err != nil || len(mine.MetricAlarms) != 0 {
		t.Fatalf("tooling's alarms: %+v %v", mine, err)
	}

	// Metric values per version: the new version's errors are not mixed with the old one's.
	start := time.Now().Truncate(time.Minute).Add(-5 * time.Minute)
	dims := func(v string) map[string]string {
		return map[string]string{"FunctionName": "api", "Resource": "api:live", "ExecutedVersion": v}
	}
	s.PutMetric(prodAcc, region,
		fakeaws.MetricPoint{Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims("2"), Time: start.Add(10 * time.Second), Value: 2},
		fakeaws.MetricPoint{Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims("2"), Time: start.Add(20 * time.Second), Value: 3},
		fakeaws.MetricPoint{Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims("2"), Time: start.Add(70 * time.Second), Value: 1},
		fakeaws.MetricPoint{Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims("1"), Time: start.Add(10 * time.Second), Value: 50},
	)
	stat := func(v string) *cwtypes.MetricStat {
		var d []cwtypes.Dimension
		for k, val := range dims(v) {
			d = append(d, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(val)})
		}
		return &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String("Errors"), Dimensions: d},
			Period: aws.Int32(60), Stat: aws.String("Sum")}
	}
	data, err := cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(start.Add(5 * time.Minute)), ScanBy: cwtypes.ScanByTimestampAscending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("errors"), MetricStat: stat("2")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := data.MetricDataResults[0]
	if *r.Id != "errors" || !reflect.DeepEqual(r.Values, []float64{5, 1}) || len(r.Timestamps) != 2 || !r.Timestamps[0].Equal(start) {
		t.Fatalf("metric data %+v %v", r.Values, r.Timestamps)
	}

	_, err = cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(start.Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("Bad"), MetricStat: stat("2")}},
	})
	var invalid *cwtypes.InvalidParameterValueException
	if !errors.As(err, &invalid) {
		t.Fatalf("a query ID with a capital: want the typed InvalidParameterValueException, got %v", err)
	}
	wantCode(t, err, "InvalidParameterValue")
	_, err = cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{NextToken: aws.String("nope")})
	var token *cwtypes.InvalidNextToken
	if !errors.As(err, &token) {
		t.Fatalf("bad next token: %v", err)
	}
}

func TestCodeDeploy(t *testing.T) {
	s := start(t)
	s.PutFunction(prodAcc, region, "api", []byte("v1"))
	lc := lambda.NewFromConfig(roleConfig(t, s, prodAcc, "exec-4"))
	if _, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api")}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.CreateAlias(ctx(t), &lambda.CreateAliasInput{FunctionName: aws.String("api"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("api"), ZipFile: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, lc, "api")
	if _, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: aws.String("api")}); err != nil {
		t.Fatal(err)
	}

	id, err := s.StartDeployment(prodAcc, region, fakeaws.Deployment{Application: "app", Group: "api", Config: "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", Function: "api", Alias: "live", From: "1", To: "2"})
	if err != nil {
		t.Fatal(err)
	}
	cd := codedeploy.NewFromConfig(roleConfig(t, s, prodAcc, "exec-4"))
	got, err := cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil || got.DeploymentInfo.Status != cdtypes.DeploymentStatusInProgress || *got.DeploymentInfo.DeploymentGroupName != "api" || got.DeploymentInfo.CreateTime == nil {
		t.Fatalf("deployment %+v %v", got, err)
	}
	if _, err := cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got, err = cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if got.DeploymentInfo.Status != cdtypes.DeploymentStatusStopped || got.DeploymentInfo.RollbackInfo == nil {
		t.Fatalf("stopped deployment %+v", got.DeploymentInfo)
	}
	if h := s.AliasHistory(prodAcc, region, "api", "live"); h[len(h)-1].FunctionVersion != "1" {
		t.Fatalf("alias after rollback %+v", h)
	}
	_, err = cd.StopDeployment(ctx(t), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id)})
	var done *cdtypes.DeploymentAlreadyCompletedException
	if !errors.As(err, &done) {
		t.Fatalf("stopping a stopped deployment: %v", err)
	}
	_, err = cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-AAAAAAAAA")})
	var missing *cdtypes.DeploymentDoesNotExistException
	if !errors.As(err, &missing) {
		t.Fatalf("missing deployment: %v", err)
	}
	_, err = cd.GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String("nope")})
	wantCode(t, err, "InvalidDeploymentIdException")
	// The deployment is prod's: dev cannot see it.
	_, err = codedeploy.NewFromConfig(roleConfig(t, s, devAcct, "exec-4")).GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	wantCode(t, err, "DeploymentDoesNotExistException")

	id2, _ := s.StartDeployment(prodAcc, region, fakeaws.Deployment{Application: "app", Group: "api", Function: "api", Alias: "live", From: "1", To: "2"})
	if err := s.FinishDeployment(prodAcc, region, id2, fakeaws.DeploymentSucceeded, "", ""); err != nil {
		t.Fatal(err)
	}
	if h := s.AliasHistory(prodAcc, region, "api", "live"); h[len(h)-1].FunctionVersion != "2" {
		t.Fatalf("alias after success %+v", h)
	}
}

func TestS3(t *testing.T) {
	s := start(t)
	keyARN, _ := s.CreateKey(tooling, region, "artifacts", "sluice-artifacts")
	cfg := rootConfig(t, s, tooling)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String("artifacts"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatal(err)
	}
	s.RequireSSEKMS("artifacts", keyARN)
	put := func(key string, sse bool, keyID string) error {
		in := &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String(key), Body: strings.NewReader("zip bytes")}
		if sse {
			in.ServerSideEncryption = s3types.ServerSideEncryptionAwsKms
			in.SSEKMSKeyId = aws.String(keyID)
		}
		_, err := c.PutObject(ctx(t), in)
		return err
	}
	wantCode(t, put("plain.zip", false, ""), "AccessDenied")
	wantCode(t, put("other-key.zip", true, "alias/nope"), "KMS.NotFoundException")
	if err := put("sha256/abc.zip", true, keyARN); err != nil {
		t.Fatal(err)
	}
	enc, ok := s.Encryption("artifacts", "sha256/abc.zip")
	if !ok || enc.ServerSideEncryption != "aws:kms" || enc.KeyARN != keyARN {
		t.Fatalf("recorded encryption %+v", enc)
	}
	got, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("sha256/abc.zip")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	if string(body) != "zip bytes" || got.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(got.SSEKMSKeyId) != keyARN {
		t.Fatalf("object %q %s %s", body, got.ServerSideEncryption, aws.ToString(got.SSEKMSKeyId))
	}
	_, err = c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("missing")})
	var noKey *s3types.NoSuchKey
	if !errors.As(err, &noKey) {
		t.Fatalf("missing key: %v", err)
	}

	// Lambda takes code from the bucket, in the same account.
	s.PutFunction(tooling, region, "api", []byte("old"))
	lc := lambda.NewFromConfig(cfg)
	if _, err := lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("api"), S3Bucket: aws.String("artifacts"), S3Key: aws.String("sha256/abc.zip")}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, lc, "api")
	_, err = lc.UpdateFunctionCode(ctx(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("api"), S3Bucket: aws.String("artifacts"), S3Key: aws.String("missing.zip")})
	wantCode(t, err, "InvalidParameterValueException")

	// Another account can neither read the bucket nor take its name.
	other := s3.NewFromConfig(roleConfig(t, s, devAcct, "exec-1"), func(o *s3.Options) { o.UsePathStyle = true })
	_, err = other.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("sha256/abc.zip")})
	wantCode(t, err, "AccessDenied")
	_, err = other.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String("artifacts")})
	var taken *s3types.BucketAlreadyExists
	if !errors.As(err, &taken) {
		t.Fatalf("taking another account's bucket name: %v", err)
	}

	// A wrong secret is refused by S3 too, in S3's words.
	keys, _ := s.Root(tooling)
	wrong := s3.NewFromConfig(sdkConfig(t, s, credentials.NewStaticCredentialsProvider(keys.AccessKeyID, "wrong", "")), func(o *s3.Options) { o.UsePathStyle = true })
	_, err = wrong.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("sha256/abc.zip")})
	wantCode(t, err, "SignatureDoesNotMatch")
}

// TestAlarmEvaluation: an alarm on an injected metric goes to ALARM when its periods breach
// the threshold, with CloudWatch's reason and the values, and back to OK when they do not.
func TestAlarmEvaluation(t *testing.T) {
	s := start(t)
	dims := map[string]string{"FunctionName": "api", "Resource": "api:live", "ExecutedVersion": "2"}
	s.PutAlarm(prodAcc, region, fakeaws.Alarm{Name: "errors", Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims,
		Statistic: "Sum", Period: 60, EvaluationPeriods: 2, Threshold: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold"})
	cw := cloudwatch.NewFromConfig(roleConfig(t, s, prodAcc, "exec-1"))
	state := func() cwtypes.MetricAlarm {
		out, err := cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"errors"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.MetricAlarms[0]
	}
	minute := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	point := func(at int, v float64) fakeaws.MetricPoint {
		return fakeaws.MetricPoint{Namespace: "AWS/Lambda", MetricName: "Errors", Dimensions: dims, Time: minute.Add(time.Duration(at) * time.Minute), Value: v}
	}
	s.PutMetric(prodAcc, region, point(0, 0), point(1, 0))
	if a := state(); a.StateValue != cwtypes.StateValueOk {
		t.Fatalf("no errors: %s", a.StateValue)
	}
	s.PutMetric(prodAcc, region, point(2, 1), point(2, 2)) // one breaching period of two
	if a := state(); a.StateValue != cwtypes.StateValueOk {
		t.Fatalf("one breaching period: %s", a.StateValue)
	}
	s.PutMetric(prodAcc, region, point(3, 5))
	a := state()
	if a.StateValue != cwtypes.StateValueAlarm || !strings.Contains(*a.StateReason, "[3.0, 5.0] was greater than or equal to the threshold (1.0)") ||
		!strings.Contains(aws.ToString(a.StateReasonData), `"recentDatapoints":[3,5]`) {
		t.Fatalf("two breaching periods: %s %q %s", a.StateValue, aws.ToString(a.StateReason), aws.ToString(a.StateReasonData))
	}
	s.PutMetric(prodAcc, region, point(4, 0))
	if a := state(); a.StateValue != cwtypes.StateValueOk {
		t.Fatalf("recovered: %s", a.StateValue)
	}
}
