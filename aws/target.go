// Package aws is Sluice's AWS target: environments that are an AWS account and region, into
// which Sluice assumes a deployment role and applies CloudFormation change sets.
//
// It holds the target's configuration and its decoder (registered with spec.RegisterTarget),
// the deploy.Provider that acts on it (Open, registered with deploy.Register), and the
// commands that prepare accounts for it and express a route as a CodePipeline (Bootstrap,
// Synth). docs/aws.md says what each step calls and what each account needs.
//
//	target:
//	  aws: {account: "123456789012", region: eu-west-1, function: ApiFunction, ...}
package aws

import (
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/spec"
)

// Kind is the target's name in sluice.yaml.
const Kind = "aws"

// Target is the configuration of an environment with target aws: a CloudFormation stack in an
// account and region, updated through change sets, and optionally a Lambda function whose alias
// the rollout shifts.
type Target struct {
	Account string `json:"account"` // 12 digits
	Region  string `json:"region"`  // such as eu-west-1
	// Role is the deployment role to assume: a name in Account or an ARN. If empty,
	// <route name>-<Region>-DeploymentRole, as `sluice aws bootstrap` creates it.
	Role string `json:"role,omitempty"`
	// ExternalID is the external ID the deployment role's trust policy asks of the engine
	// (`sluice aws bootstrap` writes sluice-<route> unless told otherwise).
	ExternalID string `json:"external_id,omitempty"`
	// ExecutionRole is the role CloudFormation assumes to change the stack's resources (a
	// name in Account or an ARN), so the deployment role itself needs no permission on them.
	// If empty, CloudFormation acts with the deployment role's permissions.
	ExecutionRole string `json:"execution_role,omitempty"`
	// Stack is the CloudFormation stack's name. If empty, <route name>-<environment>.
	Stack string `json:"stack,omitempty"`
	// Template is the template's path inside the artifact. If empty, template.yaml.
	Template string `json:"template,omitempty"`
	// Code is the path inside the artifact of the Lambda code: a .zip file as is, or a folder
	// that Sluice zips. If empty, every file of the artifact but the template.
	Code string `json:"code,omitempty"`
	// Parameters are the template's parameters. ArtifactBucket, ArtifactKey and
	// ArtifactDigest are set by Sluice when the template declares them.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Function is the logical ID of the Lambda function (AWS::Lambda::Function or
	// AWS::Serverless::Function) whose alias the rollout shifts. If empty, the change set is
	// executed and there is no traffic to shift.
	Function string `json:"function,omitempty"`
	// Alias is the alias of Function that serves. If empty, live.
	Alias string `json:"alias,omitempty"`
	// PreTrafficFunction and PostTrafficFunction are Lambda functions (a logical ID in the
	// stack, or a name or ARN) invoked before any traffic reaches the new version and after all
	// of it does; a function error rolls the deployment back, like a failing hook command.
	PreTrafficFunction  string `json:"pre_traffic_function,omitempty"`
	PostTrafficFunction string `json:"post_traffic_function,omitempty"`
	// EndpointOutput names the stack output that is the environment's URL (SLUICE_ENDPOINT).
	EndpointOutput string `json:"endpoint_output,omitempty"`
	// Alarms are CloudWatch alarms by name: one in state ALARM during the shift rolls it back.
	Alarms []string `json:"cloudwatch_alarms,omitempty"`
	// MetricsInterval is how often alarms and the new version's metrics are read. If zero, 10s.
	MetricsInterval time.Duration `json:"metrics_interval,omitempty"`
	// ArtifactBucket and ArtifactKMSKey are the tooling account's artifact bucket and the KMS
	// key (ARN or alias/...) its objects are encrypted with. Required with Function or when the
	// template declares ArtifactKey.
	ArtifactBucket string `json:"artifact_bucket,omitempty"`
	ArtifactKMSKey string `json:"artifact_kms_key,omitempty"`
}

// TargetKind registers the aws target with spec.RegisterTarget. account and region written
// directly on an environment, as before the target block existed, still work, with a warning.
var TargetKind = spec.TargetKind{
	Name: Kind,
	Keys: []string{"account", "region", "role", "external_id", "execution_role", "stack", "template", "code", "parameters", "function", "alias",
		"pre_traffic_function", "post_traffic_function", "endpoint_output", "cloudwatch_alarms", "metrics_interval", "artifact_bucket", "artifact_kms_key"},
	LegacyKeys: []string{"account", "region"},
	Decode:     func(b *spec.TargetBlock) any { return decode(b) },
}

var (
	accountRe      = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleRe         = regexp.MustCompile(`^([A-Za-z0-9+=,.@_-]{1,64}|arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$`)
	externalIDRe   = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	stackRe        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	hookFunctionRe = regexp.MustCompile(`^([A-Za-z0-9_-]{1,64}|arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?)$`)
	logicalRe      = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
	aliasRe        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,127}$`)
	alarmRe        = regexp.MustCompile(`^[^\x00-\x1f]{1,255}$`)
	bucketRe       = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	kmsKeyRe       = regexp.MustCompile(`^(alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]{1,250})$`)
)

func decode(b *spec.TargetBlock) *Target {
	t := &Target{
		Account: required(b, "account", accountRe.MatchString,
			"invalid AWS account %q; write its 12 digits in quotes, e.g. \"123456789012\"",
			"target aws needs the environment's AWS account, e.g. account: \"123456789012\""),
		Region: required(b, "region", func(s string) bool { return len(s) <= 32 && regionRe.MatchString(s) },
			"invalid AWS region %q; write a region code such as eu-west-1",
			"target aws needs the environment's AWS region, e.g. region: eu-west-1"),
		Role: optional(b, "role", roleRe.MatchString,
			"invalid role %q; write a role name such as hello-api-eu-west-1-DeploymentRole or its ARN, or remove the key for the default"),
		ExternalID: optional(b, "external_id", func(s string) bool { return len(s) >= 2 && len(s) <= 1224 && externalIDRe.MatchString(s) },
			"invalid external ID %q; use 2 to 1224 letters, digits and +=,.@:/-"),
		ExecutionRole: optional(b, "execution_role", roleRe.MatchString,
			"invalid role %q; write the CloudFormation execution role's name or ARN, or remove the key to act with the deployment role"),
		Stack: optional(b, "stack", stackRe.MatchString,
			"invalid stack name %q; use letters, digits and '-', starting with a letter, at most 128 characters"),
		Template: optional(b, "template", validPath,
			"invalid template path %q; write a path inside the artifact such as template.yaml"),
		Code: optional(b, "code", validPath,
			"invalid code path %q; write a path inside the artifact such as function.zip or dist/"),
		Function: optional(b, "function", logicalRe.MatchString,
			"invalid function %q; write the logical ID of the function in the template, such as ApiFunction"),
		Alias: optional(b, "alias", aliasRe.MatchString,
			"invalid alias %q; use letters, digits, '-' and '_', starting with a letter"),
		PreTrafficFunction: optional(b, "pre_traffic_function", hookFunctionRe.MatchString,
			"invalid function %q; write the hook function's logical ID in the template, its name or its ARN"),
		PostTrafficFunction: optional(b, "post_traffic_function", hookFunctionRe.MatchString,
			"invalid function %q; write the hook function's logical ID in the template, its name or its ARN"),
		EndpointOutput: optional(b, "endpoint_output", logicalRe.MatchString,
			"invalid output name %q; write the name of a stack output such as ApiUrl"),
		ArtifactBucket: optional(b, "artifact_bucket", bucketRe.MatchString,
			"invalid bucket name %q; write the artifact bucket's name, such as tooling-artifacts-111122223333"),
		ArtifactKMSKey: optional(b, "artifact_kms_key", kmsKeyRe.MatchString,
			"invalid KMS key %q; write its ARN, its ID or alias/NAME"),
	}
	t.Parameters, _ = b.StringMap("parameters", logicalRe.MatchString, "a CloudFormation parameter name (letters and digits)")
	if names, ok := b.Strings("cloudwatch_alarms"); ok {
		for _, n := range names {
			if !alarmRe.MatchString(n) {
				b.Errorf("cloudwatch_alarms", "invalid alarm name %q; write the name of a CloudWatch alarm", n)
				continue
			}
			t.Alarms = append(t.Alarms, n)
		}
	}
	if d, ok := b.Duration("metrics_interval"); ok {
		if d < time.Second {
			b.Errorf("metrics_interval", "metrics_interval %s is under a second; CloudWatch has nothing finer, write 1s or more", d)
		}
		t.MetricsInterval = d
	}
	if b.Has("artifact_bucket") != b.Has("artifact_kms_key") {
		missing := "artifact_kms_key"
		if !b.Has("artifact_bucket") {
			missing = "artifact_bucket"
		}
		b.Missing(missing, "the artifact bucket and its KMS key go together; write both")
	}
	if t.Function != "" && !b.Has("artifact_bucket") {
		b.Missing("artifact_bucket", "shifting the alias of %s needs the code in the tooling account's artifact bucket; write artifact_bucket and artifact_kms_key", t.Function)
	}
	for _, k := range []string{"alias", "cloudwatch_alarms", "pre_traffic_function", "post_traffic_function"} {
		if b.Has(k) && t.Function == "" {
			b.Warnf(k, "ignored: %s applies to the function whose alias is shifted; write function: LOGICAL_ID", k)
		}
	}
	return t
}

// validPath accepts a relative, clean, slash-separated path inside the artifact.
func validPath(p string) bool {
	if p == "" || len(p) > 1024 || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return false
	}
	for _, part := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// required reads the string at key, reporting it when it is missing or not valid; invalid
// formats the value's message, missing says what to add.
func required(b *spec.TargetBlock, key string, valid func(string) bool, invalid, missing string) string {
	if !b.Has(key) {
		b.Missing(key, "%s", missing)
		return ""
	}
	return optional(b, key, valid, invalid)
}

func optional(b *spec.TargetBlock, key string, valid func(string) bool, invalid string) string {
	s, ok := b.String(key)
	if !ok {
		return ""
	}
	if !valid(s) {
		b.Errorf(key, invalid, s)
		return ""
	}
	return s
}
