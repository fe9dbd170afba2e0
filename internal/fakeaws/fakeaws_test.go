package fakeaws_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice/internal/awsclient"
	"github.com/sluicehq/sluice/internal/fakeaws"
)

const (
	tooling = "111111111111"
	devAcct = "222222222222"
	prodAcc = "333333333333"
	region  = "eu-west-1"
)

func TestMain(m *testing.M) {
	// The SDK's default chain must see only what each test gives it, not this machine's files.
	dir, err := os.MkdirTemp("", "fakeaws")
	if err != nil {
		panic(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"} {
		os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs a fake with the tooling account and a deployment role in dev and prod that the
// tooling account is trusted to assume.
func start(t *testing.T, tune ...func(*fakeaws.Config)) *fakeaws.Server {
	t.Helper()
	cfg := fakeaws.Config{
		Accounts: []string{tooling},
		Roles: []fakeaws.Role{
			{Account: devAcct, Name: "app-eu-west-1-DeploymentRole", Trusts: []string{tooling}},
			{Account: prodAcc, Name: "app-eu-west-1-DeploymentRole", Trusts: []string{tooling}},
		},
	}
	for _, f := range tune {
		f(&cfg)
	}
	s, err := fakeaws.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rootConfig is an SDK configuration signed with an account's root keys, loaded through the
// default chain with the fake as its base endpoint.
func rootConfig(t *testing.T, s *fakeaws.Server, account string) aws.Config {
	t.Helper()
	keys, ok := s.Root(account)
	if !ok {
		t.Fatalf("no account %s", account)
	}
	return sdkConfig(t, s, credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, keys.SessionToken))
}

func sdkConfig(t *testing.T, s *fakeaws.Server, creds aws.CredentialsProvider) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithCredentialsProvider(creds),
		config.WithBaseEndpoint(s.URL),
		// Each test sees the fake's own answer, never a retry's.
		config.WithRetryMaxAttempts(1),
		awsclient.LoadOption(),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// roleConfig assumes an account's deployment role from the tooling account, as Sluice does.
func roleConfig(t *testing.T, s *fakeaws.Server, account, session string) aws.Config {
	t.Helper()
	base := rootConfig(t, s, tooling)
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base),
		"arn:aws:iam::"+account+":role/app-eu-west-1-DeploymentRole",
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = session })
	return sdkConfig(t, s, aws.NewCredentialsCache(provider))
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// wantCode fails the test unless err is an API error with that code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if api.ErrorCode() != code {
		t.Fatalf("want API error %s, got %s: %s", code, api.ErrorCode(), api.ErrorMessage())
	}
}

func TestCallerIdentityAndAssumeRole(t *testing.T) {
	s := start(t)
	id, err := sts.NewFromConfig(rootConfig(t, s, tooling)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Account != tooling || *id.Arn != "arn:aws:iam::"+tooling+":root" {
		t.Fatalf("root identity %s %s", *id.Account, *id.Arn)
	}
	id, err = sts.NewFromConfig(roleConfig(t, s, devAcct, "exec-42")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + devAcct + ":assumed-role/app-eu-west-1-DeploymentRole/exec-42"; *id.Account != devAcct || *id.Arn != want {
		t.Fatalf("assumed identity %s %s, want %s", *id.Account, *id.Arn, want)
	}
	calls := s.Calls()
	last := calls[len(calls)-1]
	if last.Account != devAcct || last.Role != "app-eu-west-1-DeploymentRole" || last.SessionName != "exec-42" || last.Operation != "GetCallerIdentity" || last.Service != "sts" {
		t.Fatalf("last call recorded as %+v", last)
	}
	assume := calls[len(calls)-2]
	if assume.Account != tooling || assume.Operation != "AssumeRole" || assume.ErrorCode != "" {
		t.Fatalf("AssumeRole recorded as %+v", assume)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	s := start(t)
	client := sts.NewFromConfig(rootConfig(t, s, tooling))
	for name, tc := range map[string]struct {
		in   sts.AssumeRoleInput
		code string
	}{
		"bad session name":  {sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + devAcct + ":role/app-eu-west-1-DeploymentRole"), RoleSessionName: aws.String("has space")}, "ValidationError"},
		"duration too long": {sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + devAcct + ":role/app-eu-west-1-DeploymentRole"), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(50000)}, "ValidationError"},
		"unknown role":      {sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + devAcct + ":role/Nope"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client.AssumeRole(ctx(t), &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// A role that requires an external ID refuses AssumeRole without it or with another.
	if err := s.AddRole(fakeaws.Role{Account: prodAcc, Name: "guarded", Trusts: []string{tooling}, ExternalID: "sluice-app"}); err != nil {
		t.Fatal(err)
	}
	guarded := aws.String("arn:aws:iam::" + prodAcc + ":role/guarded")
	for _, id := range []*string{nil, aws.String("sluice-other")} {
		_, err := client.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: guarded, RoleSessionName: aws.String("s1"), ExternalId: id})
		wantCode(t, err, "AccessDenied")
	}
	_, err := client.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: guarded, RoleSessionName: aws.String("s1"), ExternalId: aws.String("bad id!")})
	wantCode(t, err, "ValidationError")
	if _, err := client.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: guarded, RoleSessionName: aws.String("s1"), ExternalId: aws.String("sluice-app")}); err != nil {
		t.Fatal(err)
	}

	// The dev account's root is not trusted by the prod role.
	_, err = sts.NewFromConfig(rootConfig(t, s, devAcct)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + prodAcc + ":role/app-eu-west-1-DeploymentRole"), RoleSessionName: aws.String("s1")})
	wantCode(t, err, "AccessDenied")
}

func TestSignatureChecks(t *testing.T) {
	s := start(t)
	keys, _ := s.Root(tooling)
	for name, tc := range map[string]struct {
		creds aws.CredentialsProvider
		code  string
	}{
		"wrong secret": {credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey+"x", ""), "SignatureDoesNotMatch"},
		"unknown key":  {credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", keys.SecretAccessKey, ""), "InvalidClientTokenId"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sts.NewFromConfig(sdkConfig(t, s, tc.creds)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			wantCode(t, err, tc.code)
		})
	}
	t.Run("skewed clock", func(t *testing.T) {
		s := start(t, func(c *fakeaws.Config) { c.Now = func() time.Time { return time.Now().Add(time.Hour) } })
		_, err := sts.NewFromConfig(rootConfig(t, s, tooling)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
		wantCode(t, err, "SignatureDoesNotMatch")
	})
}

// TestSessionExpiry: a call with expired temporary credentials is refused with ExpiredToken,
// and the SDK's credential cache, refreshing them, gets through again.
func TestSessionExpiry(t *testing.T) {
	// Sessions short enough to watch expire, long enough that a loaded machine signs and
	// sends a call before its session lapses.
	const lifetime = 2 * time.Second
	s := start(t, func(c *fakeaws.Config) { c.SessionLifetime = lifetime })
	out, err := sts.NewFromConfig(rootConfig(t, s, tooling)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + devAcct + ":role/app-eu-west-1-DeploymentRole"), RoleSessionName: aws.String("exec-1")})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(*out.Credentials.Expiration); d > lifetime {
		t.Fatalf("expiration in %v, want the configured %v", d, lifetime)
	}
	c := out.Credentials
	// A wrong session token is refused even with the right key.
	wrongToken := credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken+"x")
	_, err = sts.NewFromConfig(sdkConfig(t, s, wrongToken)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")

	static := sts.NewFromConfig(sdkConfig(t, s, credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)))
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := static.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
		if err != nil {
			wantCode(t, err, "ExpiredToken")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}

	refreshing := sts.NewFromConfig(roleConfig(t, s, devAcct, "exec-2"))
	for i := range 3 {
		if _, err := refreshing.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("call %d through the refreshing cache: %v", i, err)
		}
		if i < 2 {
			time.Sleep(lifetime + 100*time.Millisecond) // let the session lapse, so the next call must refresh it
		}
	}
	assumed := 0
	for _, c := range s.Calls() {
		if c.Operation == "AssumeRole" && c.Account == tooling {
			assumed++
		}
	}
	if assumed < 4 {
		t.Fatalf("AssumeRole called %d times; want the first plus a refresh per lapsed session", assumed)
	}
}

// TestRefusedInEachProtocol: a wrong signature and an expired session are refused by every
// service, each in its own protocol's error shape, which the SDK reads into the right code.
func TestRefusedInEachProtocol(t *testing.T) {
	s := start(t, func(c *fakeaws.Config) { c.SessionLifetime = time.Second })
	keys, _ := s.Root(tooling)
	wrong := sdkConfig(t, s, credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey+"x", ""))

	out, err := sts.NewFromConfig(rootConfig(t, s, tooling)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + devAcct + ":role/app-eu-west-1-DeploymentRole"), RoleSessionName: aws.String("exec-1")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	expired := sdkConfig(t, s, credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
	waitFor(t, "the session to expire", func() (bool, error) { return time.Now().After(c.Expiration.Add(50 * time.Millisecond)), nil })

	calls := map[string]struct {
		call                    func(aws.Config) error
		badSignature, expiredOf string
	}{
		"sts": {func(cfg aws.Config) error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			return err
		}, "SignatureDoesNotMatch", "ExpiredToken"},
		"cloudformation": {func(cfg aws.Config) error {
			_, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx(t), &cloudformation.DescribeStacksInput{})
			return err
		}, "SignatureDoesNotMatch", "ExpiredToken"},
		"lambda": {func(cfg aws.Config) error {
			_, err := lambda.NewFromConfig(cfg).GetFunction(ctx(t), &lambda.GetFunctionInput{FunctionName: aws.String("api")})
			return err
		}, "InvalidSignatureException", "ExpiredTokenException"},
		"kms": {func(cfg aws.Config) error {
			_, err := kms.NewFromConfig(cfg).DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/x")})
			return err
		}, "InvalidSignatureException", "ExpiredTokenException"},
		"codedeploy": {func(cfg aws.Config) error {
			_, err := codedeploy.NewFromConfig(cfg).GetDeployment(ctx(t), &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-AAAAAAAAA")})
			return err
		}, "InvalidSignatureException", "ExpiredTokenException"},
		"monitoring": {func(cfg aws.Config) error {
			_, err := cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{})
			return err
		}, "SignatureDoesNotMatch", "ExpiredToken"},
		"s3": {func(cfg aws.Config) error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String("b")})
			return err
		}, "SignatureDoesNotMatch", "ExpiredToken"},
	}
	for service, tc := range calls {
		t.Run(service, func(t *testing.T) {
			wantCode(t, tc.call(wrong), tc.badSignature)
			wantCode(t, tc.call(expired), tc.expiredOf)
		})
	}
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		if c.ErrorCode != "" {
			seen[c.Service] = true
		}
	}
	for service := range calls {
		if !seen[service] {
			t.Errorf("no refused %s call recorded", service)
		}
	}
}

// TestStandardEndpointSetting: the SDK's own AWS_ENDPOINT_URL setting points every client at
// the fake, as users will point Sluice at it (or at LocalStack or moto).
func TestStandardEndpointSetting(t *testing.T) {
	s := start(t)
	if env := s.Env("999999999999", region); env != nil {
		t.Fatalf("environment of an unknown account: %v", env)
	}
	for _, kv := range s.Env(tooling, region) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	cfg, err := config.LoadDefaultConfig(ctx(t), awsclient.LoadOption())
	if err != nil {
		t.Fatal(err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil || *id.Account != tooling {
		t.Fatalf("identity through AWS_ENDPOINT_URL: %v %v", id, err)
	}
	if _, err := cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{}); err != nil {
		t.Fatal(err)
	}
}
