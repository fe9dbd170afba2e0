package fakeaws_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/internal/fakeaws"
)

// serverlessDir is the bundled serverless route, whose template and function the test deploys.
var serverlessDir = filepath.Join("..", "..", "examples", "serverless-api")

// TestExecutionRunsCodeAndAlarms deploys the bundled serverless route's template with the fake's
// execution mode on: the stack's HTTP API answers on loopback from the function's own code
// (read from the tooling account's bucket), through the alias's weights; a broken version's
// failures are recorded per ExecutedVersion in CloudWatch, and the template's 5XX alarm goes
// to ALARM from them, then back to OK once the alias serves the good version only.
func TestExecutionRunsCodeAndAlarms(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake runs functions' code as Linux executables (provided.al2023)")
	}
	if testing.Short() {
		t.Skip("builds the example's function twice")
	}
	good, broken := exampleZips(t)
	s := startExecuting(t, map[string][]byte{"good.zip": good, "broken.zip": broken})
	template, err := os.ReadFile(filepath.Join(serverlessDir, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := roleConfig(t, s, prodAcc, "exec-1")
	cf, lc, cw := cloudformation.NewFromConfig(cfg), lambda.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg)
	deployStack := func(name string, typ cftypes.ChangeSetType, key string) cftypes.Stack {
		createChangeSet(t, cf, "api-prod", name, typ, string(template),
			params("ArtifactBucket", bucket, "ArtifactKey", key, "ArtifactDigest", "sha256:"+key, "Stage", "prod"))
		changeSetStatus(t, cf, "api-prod", name)
		if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("api-prod"), ChangeSetName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		return stackDone(t, cf, "api-prod")
	}
	st := deployStack("first", cftypes.ChangeSetTypeCreate, "good.zip")
	var apiURL string
	for _, o := range st.Outputs {
		if *o.OutputKey == "ApiUrl" {
			apiURL = *o.OutputValue
		}
	}
	if !strings.HasPrefix(apiURL, "http://127.0.0.1:") {
		t.Fatalf("ApiUrl %q, want a loopback URL the fake serves", apiURL)
	}
	res, err := cf.DescribeStackResource(ctx(t), &cloudformation.DescribeStackResourceInput{StackName: aws.String("api-prod"), LogicalResourceId: aws.String("ApiFunction")})
	if err != nil {
		t.Fatal(err)
	}
	fn := res.StackResourceDetail.PhysicalResourceId
	// The stack's alias starts on $LATEST, which serves the API at once.
	if status, body, version := get(t, apiURL); status != 200 || !strings.Contains(body, `"message":"hello from prod"`) || version != "$LATEST" {
		t.Fatalf("GET / answered %d %q from version %q, want the function's greeting from $LATEST", status, body, version)
	}
	v1, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: fn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: v1.Version}); err != nil {
		t.Fatal(err)
	}

	status, body, version := get(t, apiURL)
	if status != 200 || !strings.Contains(body, `"message":"hello from prod"`) || !strings.Contains(body, `"artifact":"sha256:good.zip"`) || version != "1" {
		t.Fatalf("GET / answered %d %q from version %q, want the function's greeting from version 1", status, body, version)
	}
	out, err := lc.Invoke(ctx(t), &lambda.InvokeInput{FunctionName: fn, Qualifier: aws.String("live"),
		Payload: []byte(`{"version":"2.0","rawPath":"/healthz","requestContext":{"http":{"method":"GET","path":"/healthz"}}}`)})
	if err != nil || out.FunctionError != nil || *out.ExecutedVersion != "1" || !strings.Contains(string(out.Payload), `"body":"ok\n"`) {
		t.Fatalf("Invoke: %+v %s %v", out, out.Payload, err)
	}

	// A broken version gets half of the alias's traffic.
	deployStack("broken", cftypes.ChangeSetTypeUpdate, "broken.zip")
	v2, err := lc.PublishVersion(ctx(t), &lambda.PublishVersionInput{FunctionName: fn})
	if err != nil || *v2.Version != "2" {
		t.Fatalf("publish: %+v %v", v2, err)
	}
	if _, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"),
		RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}}}); err != nil {
		t.Fatal(err)
	}
	answers := map[string]int{}
	for i := 0; answers["500 2"] == 0 || answers["200 1"] == 0; i++ {
		if i == 200 {
			t.Fatalf("200 requests at 50%% each: %v, want failures from version 2 and greetings from version 1", answers)
		}
		status, _, version := get(t, apiURL)
		if status == 500 {
			version = "2" // a function error has no X-Version; only version 2 fails
		}
		answers[fmt.Sprintf("%d %s", status, version)]++
	}
	for k := range answers {
		if k != "200 1" && k != "500 2" {
			t.Errorf("unexpected answer %q (%v)", k, answers)
		}
	}

	// CloudWatch has the errors of version 2 only, as Lambda records them.
	sum := func(metric string, dims ...string) float64 {
		total, _ := metricSum(t, cw, metric, dims...)
		return total
	}
	byVersion := func(metric, v string) float64 {
		return sum(metric, "FunctionName", *fn, "Resource", *fn+":live", "ExecutedVersion", v)
	}
	if e2, i2 := byVersion("Errors", "2"), byVersion("Invocations", "2"); e2 == 0 || e2 != i2 {
		t.Errorf("version 2: %g errors in %g invocations, want every invocation failed", e2, i2)
	}
	if e1, i1 := byVersion("Errors", "1"), byVersion("Invocations", "1"); e1 != 0 || i1 < 2 {
		t.Errorf("version 1: %g errors in %g invocations, want none failed", e1, i1)
	}
	if all, alias := sum("Invocations", "FunctionName", *fn), sum("Invocations", "FunctionName", *fn, "Resource", *fn+":live"); all != alias || all == 0 {
		t.Errorf("invocations: %g of the function, %g of the alias; every one went through the alias", all, alias)
	}

	// The template's alarm, evaluated from those errors, is in ALARM.
	alarm := func() cwtypes.MetricAlarm {
		out, err := cw.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"api-prod-5xx"}})
		if err != nil || len(out.MetricAlarms) != 1 {
			t.Fatalf("describe alarms: %+v %v", out, err)
		}
		return out.MetricAlarms[0]
	}
	waitFor(t, "the 5XX alarm in ALARM", func() (bool, error) { return alarm().StateValue == cwtypes.StateValueAlarm, nil })
	if a := alarm(); !strings.Contains(*a.StateReason, "Threshold Crossed") || !strings.Contains(*a.StateReasonData, `"recentDatapoints":[`) {
		t.Errorf("alarm reason %q, data %q", *a.StateReason, *a.StateReasonData)
	}
	// Back on version 1 alone, good traffic puts it back to OK once the breach is older than
	// the alarm's period.
	if _, err := lc.UpdateAlias(ctx(t), &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &lambdatypes.AliasRoutingConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 5XX alarm back to OK", func() (bool, error) {
		if status, _, _ := get(t, apiURL); status != 200 {
			t.Fatalf("after the rollback GET / answered %d", status)
		}
		return alarm().StateValue == cwtypes.StateValueOk, nil
	})
}

const bucket = "artifacts-111111111111"

// startExecuting starts a fake with its execution mode on (alarms evaluated every 50 ms over
// 2 s periods) and the tooling account's bucket holding objects.
func startExecuting(t *testing.T, objects map[string][]byte) *fakeaws.Server {
	t.Helper()
	s := start(t, func(c *fakeaws.Config) {
		c.Execution = &fakeaws.Execution{AlarmInterval: 50 * time.Millisecond, AlarmPeriod: 2 * time.Second}
	})
	s3c := s3.NewFromConfig(rootConfig(t, s, tooling), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for key, body := range objects {
		if _, err := s3c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestExecutionServesAnIntegration serves an AWS::ApiGatewayV2::Api whose requests go through
// an AWS::ApiGatewayV2::Integration to a plain AWS::Lambda::Function (CloudFormation's Code
// S3Bucket/S3Key): its ApiEndpoint is a loopback URL answered by the function's $LATEST, and an
// unqualified invocation is recorded under FunctionName only, as Lambda records it.
func TestExecutionServesAnIntegration(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake runs functions' code as Linux executables (provided.al2023)")
	}
	if testing.Short() {
		t.Skip("builds the example's function")
	}
	good, _ := exampleZips(t)
	s := startExecuting(t, map[string][]byte{"code.zip": good})
	const template = `Parameters:
  Bucket: {Type: String}
  Key: {Type: String}
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      Role: arn:aws:iam::333333333333:role/fn
      Code: {S3Bucket: !Ref Bucket, S3Key: !Ref Key}
      Environment: {Variables: {STAGE: dev}}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: api, ProtocolType: HTTP}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Fn.Arn
      PayloadFormatVersion: "2.0"
Outputs:
  Url: {Value: !GetAtt Api.ApiEndpoint}
`
	cfg := roleConfig(t, s, prodAcc, "exec-2")
	cf, cw := cloudformation.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg)
	createChangeSet(t, cf, "plain", "first", cftypes.ChangeSetTypeCreate, template, params("Bucket", bucket, "Key", "code.zip"))
	changeSetStatus(t, cf, "plain", "first")
	if _, err := cf.ExecuteChangeSet(ctx(t), &cloudformation.ExecuteChangeSetInput{StackName: aws.String("plain"), ChangeSetName: aws.String("first")}); err != nil {
		t.Fatal(err)
	}
	st := stackDone(t, cf, "plain")
	if len(st.Outputs) != 1 || !strings.HasPrefix(*st.Outputs[0].OutputValue, "http://127.0.0.1:") {
		t.Fatalf("outputs %+v, want the API's loopback URL", st.Outputs)
	}
	status, body, version := get(t, *st.Outputs[0].OutputValue)
	if status != 200 || !strings.Contains(body, `"message":"hello from dev"`) || version != "$LATEST" {
		t.Fatalf("GET / answered %d %q from version %q, want the greeting from $LATEST", status, body, version)
	}
	fn, err := s.StackResource(prodAcc, region, "plain", "Fn")
	if err != nil {
		t.Fatal(err)
	}
	if _, points := metricSum(t, cw, "Invocations", "FunctionName", fn); points == 0 {
		t.Error("no invocation recorded under FunctionName")
	}
	if _, points := metricSum(t, cw, "Invocations", "FunctionName", fn, "Resource", fn); points != 0 {
		t.Error("an unqualified invocation recorded under FunctionName+Resource")
	}
}

// metricSum sums a metric's AWS/Lambda data points of the last hour with exactly the
// dimensions given as name, value pairs, and says how many periods had points.
func metricSum(t *testing.T, cw *cloudwatch.Client, metric string, dims ...string) (total float64, periods int) {
	t.Helper()
	var d []cwtypes.Dimension
	for i := 0; i < len(dims); i += 2 {
		d = append(d, cwtypes.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	now := time.Now()
	out, err := cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Second)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("m"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(metric), Dimensions: d},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.MetricDataResults[0].Values {
		total += v
	}
	return total, len(out.MetricDataResults[0].Values)
}

// get sends GET / and returns the status, the body and the X-Version header.
func get(t *testing.T, base string) (int, string, string) {
	t.Helper()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Get(strings.TrimRight(base, "/") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header.Get("X-Version")
}

// exampleZips builds the example's function for this machine, as it is and with its prod-only
// break switched on, each zipped with bootstrap at the top.
func exampleZips(t *testing.T) (good, broken []byte) {
	t.Helper()
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS(serverlessDir)); err != nil {
		t.Fatal(err)
	}
	zipBuild := func() []byte {
		bin := filepath.Join(t.TempDir(), "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build the example: %v\n%s", err, out)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write(data)
		}
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	good = zipBuild()
	flag := filepath.Join(src, "breakprod.go")
	text, err := os.ReadFile(flag)
	if err != nil || !strings.Contains(string(text), "deliberatelyBreakProd = false") {
		t.Fatalf("breakprod.go: %v\n%s", err, text)
	}
	if err := os.WriteFile(flag, []byte(strings.Replace(string(text), "deliberatelyBreakProd = false", "deliberatelyBreakProd = true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return good, zipBuild()
}
