package aws

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// What `sluice aws bootstrap` writes: the CloudFormation stacks that prepare the accounts of a
// route, in the order they must be deployed, each named by its file so that the order is the
// file-name order:
//
//	01-tooling.yaml                       the tooling account: KMS key, artifact bucket,
//	                                      notification topic, the engine's role
//	02-role-<account>-<region>.yaml ...   each environment account and region: the deployment
//	                                      role Sluice assumes and the CloudFormation execution role
//	README.md                             which account each goes to, and the commands
//
// Everything is least privilege: scoped to the route's stacks, functions, bucket prefix and key;
// nothing is hard-coded, accounts and regions come from the route.

// BootstrapEnvironment is one aws environment of the route.
type BootstrapEnvironment struct {
	Name   string
	Target *Target
}

// BootstrapOptions says where the tooling account is.
type BootstrapOptions struct {
	Route          string
	ToolingAccount string // 12 digits
	ToolingRegion  string
	// ExternalID is the external ID the deployment roles require of the engine role.
	ExternalID string
}

// BootstrapFile is one file bootstrap writes.
type BootstrapFile struct {
	Name    string // such as 01-tooling.yaml
	Account string // where to deploy it ("" for README.md)
	Region  string
	Stack   string // the stack's name
	Body    []byte
}

// Names that bootstrap gives what it creates, which the route and the provider's defaults use.
func engineRoleName(route string) string             { return route + "-SluiceEngine" }
func deploymentRoleName(route, region string) string { return route + "-" + region + "-DeploymentRole" }
func executionRoleName(route, region string) string {
	return route + "-" + region + "-CloudFormationExecutionRole"
}
func keyAlias(route string) string { return "alias/" + route + "-artifacts" }

// Bootstrap returns the files that prepare the accounts of a route's aws environments.
func Bootstrap(opts BootstrapOptions, envs []BootstrapEnvironment) ([]BootstrapFile, error) {
	if !accountRe.MatchString(opts.ToolingAccount) {
		return nil, sluice.Errorf(sluice.EINVALID, "invalid tooling account %q; give its 12 digits with --tooling-account", opts.ToolingAccount)
	}
	if !regionRe.MatchString(opts.ToolingRegion) {
		return nil, sluice.Errorf(sluice.EINVALID, "invalid tooling region %q; give a region code such as eu-west-1 with --region", opts.ToolingRegion)
	}
	if len(envs) == 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "route %s has no environment with target aws; there is nothing to bootstrap", opts.Route)
	}
	if opts.ExternalID == "" {
		opts.ExternalID = "sluice-" + opts.Route
	}
	b := &bootstrap{opts: opts}
	for _, e := range envs {
		t, err := targetOf(environmentOf(opts.Route, e))
		if err != nil {
			return nil, err
		}
		b.envs = append(b.envs, resolved{name: e.Name, t: t})
		if t.ArtifactBucket != "" {
			if b.bucket != "" && b.bucket != t.ArtifactBucket {
				return nil, sluice.Errorf(sluice.EINVALID, "environments name two artifact buckets, %s and %s; one tooling account has one, name the same in each", b.bucket, t.ArtifactBucket)
			}
			b.bucket = t.ArtifactBucket
		}
	}
	if b.bucket == "" {
		b.bucket = fmt.Sprintf("%s-artifacts-%s", strings.ToLower(opts.Route), opts.ToolingAccount)
	}
	files := []BootstrapFile{{Name: "01-tooling.yaml", Account: opts.ToolingAccount, Region: opts.ToolingRegion,
		Stack: opts.Route + "-sluice-tooling", Body: b.tooling()}}
	for _, g := range b.groups() {
		files = append(files, BootstrapFile{
			Name:    fmt.Sprintf("02-role-%s-%s.yaml", g.account, g.region),
			Account: g.account, Region: g.region, Stack: fmt.Sprintf("%s-sluice-%s", opts.Route, g.region),
			Body: b.roles(g),
		})
	}
	files = append(files, BootstrapFile{Name: "README.md", Body: b.readme(files)})
	return files, nil
}

func environmentOf(route string, e BootstrapEnvironment) deploy.Environment {
	return deploy.Environment{Name: e.Name, Route: route, Config: e.Target}
}

type resolved struct {
	name string
	t    *Target
}

type bootstrap struct {
	opts   BootstrapOptions
	envs   []resolved
	bucket string
}

// group is the environments of one account and region: one role stack serves them.
type group struct {
	account, region string
	envs            []resolved
}

func (b *bootstrap) groups() []group {
	var out []group
	for _, e := range b.envs {
		i := slices.IndexFunc(out, func(g group) bool { return g.account == e.t.Account && g.region == e.t.Region })
		if i < 0 {
			out = append(out, group{account: e.t.Account, region: e.t.Region})
			i = len(out) - 1
		}
		out[i].envs = append(out[i].envs, e)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].account+out[i].region < out[j].account+out[j].region
	})
	return out
}

// Each environment's deployment role and execution role, as ARNs.
func (b *bootstrap) deploymentRole(t *Target) string {
	if t.Role != "" {
		return roleARN(b.opts.Route, t)
	}
	return arn("iam", "", t.Account, "role/"+deploymentRoleName(b.opts.Route, t.Region))
}

func (b *bootstrap) executionRole(t *Target) string {
	if t.ExecutionRole != "" {
		return executionRoleARN(t)
	}
	return arn("iam", "", t.Account, "role/"+executionRoleName(b.opts.Route, t.Region))
}

func (b *bootstrap) engineRole() string {
	return arn("iam", "", b.opts.ToolingAccount, "role/"+engineRoleName(b.opts.Route))
}

// readers are the roles of the environment accounts that read the artifacts: the execution
// roles (Lambda's code is fetched with them) and the deployment roles.
func (b *bootstrap) readers() (roles, accounts []string) {
	for _, e := range b.envs {
		for _, r := range []string{b.deploymentRole(e.t), b.executionRole(e.t)} {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
		root := arn("iam", "", e.t.Account, "root")
		if !slices.Contains(accounts, root) {
			accounts = append(accounts, root)
		}
	}
	sort.Strings(roles)
	sort.Strings(accounts)
	return roles, accounts
}

func arn(service, region, account, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, account, resource)
}

// m is an ordered mapping, so the templates read in the order CloudFormation users expect.
type m = yaml.MapSlice

func kv(pairs ...any) m {
	out := make(m, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, yaml.MapItem{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func statement(sid, effect string, principal, action, resource any, more ...any) m {
	s := kv("Sid", sid, "Effect", effect)
	if principal != nil {
		s = append(s, yaml.MapItem{Key: "Principal", Value: principal})
	}
	s = append(s, kv("Action", action, "Resource", resource)...)
	return append(s, kv(more...)...)
}

func policy(statements ...m) m {
	return kv("Version", "2012-10-17", "Statement", statements)
}

func render(header string, doc m) []byte {
	body, err := yaml.MarshalWithOptions(doc, yaml.IndentSequence(true))
	if err != nil {
		panic(fmt.Sprintf("aws: render a bootstrap template: %v", err)) // only maps, slices and strings
	}
	var buf bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
		fmt.Fprintf(&buf, "# %s\n", line)
	}
	buf.Write(body)
	return buf.Bytes()
}

// tooling is the tooling account's stack.
func (b *bootstrap) tooling() []byte {
	route, tooling := b.opts.Route, b.opts.ToolingAccount
	roles, accounts := b.readers()
	var deploymentRoles []string
	for _, e := range b.envs {
		if r := b.deploymentRole(e.t); !slices.Contains(deploymentRoles, r) {
			deploymentRoles = append(deploymentRoles, r)
		}
	}
	sort.Strings(deploymentRoles)
	prefix := "sluice/" + route + "/*"
	bucketARN := "arn:aws:s3:::" + b.bucket
	readers := kv("ArnLike", kv("aws:PrincipalArn", roles))

	key := kv("Type", "AWS::KMS::Key", "Properties", kv(
		"Description", "Encrypts the artifacts and notifications of the Sluice route "+route,
		"EnableKeyRotation", true,
		"KeyPolicy", policy(
			// In a key policy, Resource "*" means this key.
			statement("TheAccountAdministersTheKey", "Allow", kv("AWS", arn("iam", "", tooling, "root")), []string{
				"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
				"kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
				"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
			}, "*"),
			statement("TheEngineEncryptsArtifacts", "Allow", kv("AWS", b.engineRole()), []string{"kms:GenerateDataKey", "kms:Decrypt"}, "*"),
			statement("EnvironmentRolesDecryptArtifacts", "Allow", kv("AWS", accounts), []string{"kms:Decrypt", "kms:DescribeKey"}, "*",
				"Condition", readers),
			statement("EventBridgePublishesNotifications", "Allow", kv("Service", "events.amazonaws.com"), []string{"kms:GenerateDataKey", "kms:Decrypt"}, "*",
				"Condition", kv("StringEquals", kv("aws:SourceAccount", tooling))),
		),
	))
	bucket := kv("Type", "AWS::S3::Bucket", "DeletionPolicy", "Retain", "UpdateReplacePolicy", "Retain", "Properties", kv(
		"BucketName", b.bucket,
		"BucketEncryption", kv("ServerSideEncryptionConfiguration", []m{kv(
			"ServerSideEncryptionByDefault", kv("SSEAlgorithm", "aws:kms", "KMSMasterKeyID", kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
			"BucketKeyEnabled", true,
		)}),
		"PublicAccessBlockConfiguration", kv("BlockPublicAcls", true, "BlockPublicPolicy", true, "IgnorePublicAcls", true, "RestrictPublicBuckets", true),
		"OwnershipControls", kv("Rules", []m{kv("ObjectOwnership", "BucketOwnerEnforced")}),
		"VersioningConfiguration", kv("Status", "Enabled"),
	))
	bucketPolicy := kv("Type", "AWS::S3::BucketPolicy", "Properties", kv(
		"Bucket", kv("Ref", "ArtifactBucket"),
		"PolicyDocument", policy(
			statement("DenyInsecureTransport", "Deny", "*", "s3:*", []string{bucketARN, bucketARN + "/*"},
				"Condition", kv("Bool", kv("aws:SecureTransport", "false"))),
			statement("DenyUnencryptedUploads", "Deny", "*", "s3:PutObject", bucketARN+"/*",
				"Condition", kv("StringNotEquals", kv("s3:x-amz-server-side-encryption", "aws:kms"))),
			statement("EnvironmentRolesReadArtifacts", "Allow", kv("AWS", accounts), "s3:GetObject", bucketARN+"/"+prefix,
				"Condition", readers),
		),
	))
	topic := kv("Type", "AWS::SNS::Topic", "Properties", kv(
		"TopicName", route+"-sluice-notifications",
		"KmsMasterKeyId", kv("Ref", "ArtifactKey"),
	))
	topicPolicy := kv("Type", "AWS::SNS::TopicPolicy", "Properties", kv(
		"Topics", []any{kv("Ref", "NotificationTopic")},
		"PolicyDocument", policy(
			statement("EventBridgePublishes", "Allow", kv("Service", "events.amazonaws.com"), "sns:Publish", kv("Ref", "NotificationTopic"),
				"Condition", kv("StringEquals", kv("aws:SourceAccount", tooling))),
		),
	))
	enginePolicy := kv("Type", "AWS::IAM::ManagedPolicy", "Properties", kv(
		"ManagedPolicyName", engineRoleName(route)+"Policy",
		"Description", "What the Sluice engine of route "+route+" needs in the tooling account",
		"PolicyDocument", policy(
			statement("AssumeTheDeploymentRoles", "Allow", nil, "sts:AssumeRole", deploymentRoles),
			statement("WriteAndReadArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:PutObject"}, bucketARN+"/"+prefix),
			statement("EncryptArtifacts", "Allow", nil, []string{"kms:GenerateDataKey", "kms:Decrypt"}, kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
		),
	))
	engineRole := kv("Type", "AWS::IAM::Role", "Properties", kv(
		"RoleName", engineRoleName(route),
		"Description", "The role the Sluice engine of route "+route+" runs with",
		"AssumeRolePolicyDocument", policy(
			statement("PrincipalsOfTheToolingAccount", "Allow", kv("AWS", arn("iam", "", tooling, "root")), "sts:AssumeRole", nil),
		),
		"ManagedPolicyArns", []any{kv("Ref", "EnginePolicy")},
	))
	// An assume-role policy names no resource.
	dropNilResource(engineRole)

	doc := kv(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", "Sluice route "+route+": the tooling account's artifact key and bucket, notification topic and engine role",
		"Resources", kv(
			"ArtifactKey", key,
			"ArtifactKeyAlias", kv("Type", "AWS::KMS::Alias", "Properties", kv("AliasName", keyAlias(route), "TargetKeyId", kv("Ref", "ArtifactKey"))),
			"ArtifactBucket", bucket,
			"ArtifactBucketPolicy", bucketPolicy,
			"NotificationTopic", topic,
			"NotificationTopicPolicy", topicPolicy,
			"EnginePolicy", enginePolicy,
			"EngineRole", engineRole,
		),
		"Outputs", kv(
			"ArtifactBucket", kv("Value", kv("Ref", "ArtifactBucket")),
			"ArtifactKeyArn", kv("Value", kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
			"NotificationTopicArn", kv("Value", kv("Ref", "NotificationTopic")),
			"EngineRoleArn", kv("Value", kv("Fn::GetAtt", []string{"EngineRole", "Arn"})),
		),
	)
	return render(fmt.Sprintf(`Written by sluice aws bootstrap for route %s.
Deploy first, in the tooling account %s, region %s.`, route, tooling, b.opts.ToolingRegion), doc)
}

// dropNilResource removes Resource: nil from the statements of an assume-role policy.
func dropNilResource(role m) {
	for _, item := range role {
		props, ok := item.Value.(m)
		if !ok || item.Key != "Properties" {
			continue
		}
		for _, p := range props {
			if p.Key != "AssumeRolePolicyDocument" {
				continue
			}
			for _, d := range p.Value.(m) {
				if d.Key != "Statement" {
					continue
				}
				for i, s := range d.Value.([]m) {
					d.Value.([]m)[i] = slices.DeleteFunc(s, func(it yaml.MapItem) bool { return it.Key == "Resource" && it.Value == nil })
				}
			}
		}
	}
}

// roles is the stack of one environment account and region.
func (b *bootstrap) roles(g group) []byte {
	route, region, account := b.opts.Route, g.region, g.account
	var stacks, functions []string
	for _, e := range g.envs {
		// A branch pipeline's environment is <stack>-<branch>: the prefix covers it.
		stacks = append(stacks, arn("cloudformation", region, account, "stack/"+e.t.Stack+"/*"), arn("cloudformation", region, account, "stack/"+e.t.Stack+"-*/*"))
		functions = append(functions, arn("lambda", region, account, "function:"+e.t.Stack+"-*"))
	}
	exec := b.executionRole(g.envs[0].t)
	deployRole := b.deploymentRole(g.envs[0].t)
	trust := policy(
		statement("TheSluiceEngine", "Allow", kv("AWS", b.engineRole()), "sts:AssumeRole", nil,
			"Condition", kv("StringEquals", kv("sts:ExternalId", b.opts.ExternalID))),
		// The pipeline of sluice aws synth, if there is one. CodePipeline passes no external ID;
		// the account's root with the role's ARN as a condition lets the role be created later.
		statement("TheSynthesizedPipeline", "Allow", kv("AWS", arn("iam", "", b.opts.ToolingAccount, "root")), "sts:AssumeRole", nil,
			"Condition", kv("ArnEquals", kv("aws:PrincipalArn", arn("iam", "", b.opts.ToolingAccount, "role/"+b.opts.Route+"-SluicePipeline")))),
	)
	deployment := kv("Type", "AWS::IAM::Role", "Properties", kv(
		"RoleName", deployRole[strings.LastIndex(deployRole, "/")+1:],
		"Description", "Assumed by the Sluice engine of route "+route+" to deploy its stacks in this account",
		"AssumeRolePolicyDocument", trust,
		"Policies", []m{kv("PolicyName", "SluiceDeployment", "PolicyDocument", policy(
			statement("ChangeSetsOfTheRoutesStacks", "Allow", nil, []string{
				"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
				"cloudformation:DeleteChangeSet", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
				"cloudformation:DescribeStackResource", "cloudformation:DeleteStack",
			}, stacks),
			statement("TheServerlessTransform", "Allow", nil, "cloudformation:CreateChangeSet",
				arn("cloudformation", region, "aws", "transform/Serverless-2016-10-31")),
			statement("PassTheExecutionRoleToCloudFormation", "Allow", nil, "iam:PassRole", exec,
				"Condition", kv("StringEquals", kv("iam:PassedToService", "cloudformation.amazonaws.com"))),
			statement("ShiftTheFunctionsAliases", "Allow", nil, []string{
				"lambda:PublishVersion", "lambda:GetAlias", "lambda:CreateAlias", "lambda:UpdateAlias", "lambda:DeleteAlias",
			}, functions),
			// Neither action has resource-level permissions: CloudWatch only allows "*" for them.
			statement("ReadAlarmsAndMetrics", "Allow", nil, []string{"cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"}, "*"),
		))},
	))
	dropNilResource(deployment)

	toolingKey := arn("kms", b.opts.ToolingRegion, b.opts.ToolingAccount, "key/*")
	var roleARNs, stackNames []string
	for _, e := range g.envs {
		roleARNs = append(roleARNs, arn("iam", "", account, "role/"+e.t.Stack+"-*"))
		stackNames = append(stackNames, e.t.Stack)
	}
	execution := kv("Type", "AWS::IAM::Role", "Properties", kv(
		"RoleName", exec[strings.LastIndex(exec, "/")+1:],
		"Description", "CloudFormation changes the resources of the stacks of route "+route+" with this role",
		"AssumeRolePolicyDocument", policy(statement("CloudFormation", "Allow", kv("Service", "cloudformation.amazonaws.com"), "sts:AssumeRole", nil,
			"Condition", kv("StringEquals", kv("aws:SourceAccount", account)))),
		"Policies", []m{kv("PolicyName", "SluiceServerlessRoute", "PolicyDocument", policy(
			statement("TheRoutesFunctions", "Allow", nil, []string{
				"lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
				"lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:AddPermission", "lambda:RemovePermission",
				"lambda:TagResource", "lambda:UntagResource", "lambda:ListTags", "lambda:PublishVersion",
				"lambda:CreateAlias", "lambda:UpdateAlias", "lambda:GetAlias", "lambda:DeleteAlias",
			}, functions),
			statement("TheFunctionsRoles", "Allow", nil, []string{
				"iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole", "iam:AttachRolePolicy",
				"iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy",
			}, roleARNs),
			statement("PassTheFunctionsRolesToLambda", "Allow", nil, "iam:PassRole", roleARNs,
				"Condition", kv("StringEquals", kv("iam:PassedToService", "lambda.amazonaws.com"))),
			statement("TheRoutesHttpApis", "Allow", nil, []string{
				"apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource",
			}, []string{arn("apigateway", region, "", "/apis"), arn("apigateway", region, "", "/apis/*"), arn("apigateway", region, "", "/tags/*")}),
			statement("TheRoutesAlarms", "Allow", nil, []string{"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource"},
				arn("cloudwatch", region, account, "alarm:"+route+"-*")),
			statement("TheFunctionsLogs", "Allow", nil, []string{"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"},
				arn("logs", region, account, "log-group:/aws/lambda/"+route+"-*")),
			statement("ReadTheArtifacts", "Allow", nil, "s3:GetObject", "arn:aws:s3:::"+b.bucket+"/sluice/"+route+"/*"),
			statement("DecryptTheArtifacts", "Allow", nil, "kms:Decrypt", toolingKey,
				"Condition", kv("ForAnyValue:StringEquals", kv("kms:ResourceAliases", keyAlias(route)))),
		))},
	))
	dropNilResource(execution)
	doc := kv(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", fmt.Sprintf("Sluice route %s: the deployment role and CloudFormation execution role for %s in %s", route, strings.Join(envNames(g.envs), ", "), region),
		"Resources", kv("DeploymentRole", deployment, "ExecutionRole", execution),
		"Outputs", kv(
			"DeploymentRoleArn", kv("Value", kv("Fn::GetAtt", []string{"DeploymentRole", "Arn"})),
			"ExecutionRoleArn", kv("Value", kv("Fn::GetAtt", []string{"ExecutionRole", "Arn"})),
		),
	)
	return render(fmt.Sprintf(`Written by sluice aws bootstrap for route %s (stacks %s).
Deploy in account %s, region %s, after 01-tooling.yaml.`, route, strings.Join(stackNames, ", "), account, region), doc)
}

func envNames(envs []resolved) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.name)
	}
	return out
}

// readme says where each file goes and how to deploy it.
func (b *bootstrap) readme(files []BootstrapFile) []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# Bootstrapping the accounts of route %s\n\n", b.opts.Route)
	fmt.Fprintf(&w, "Written by `sluice aws bootstrap`. Deploy the stacks in file-name order, each in its own\n")
	fmt.Fprintf(&w, "account and region, with credentials of that account allowed to create IAM roles:\n\n")
	fmt.Fprintf(&w, "| order | file | account | region | stack |\n| --- | --- | --- | --- | --- |\n")
	for i, f := range files {
		fmt.Fprintf(&w, "| %d | `%s` | %s | %s | `%s` |\n", i+1, f.Name, f.Account, f.Region, f.Stack)
	}
	fmt.Fprintf(&w, "\n```sh\n")
	for _, f := range files {
		fmt.Fprintf(&w, "aws cloudformation deploy --region %s --stack-name %s --template-file %s \\\n    --capabilities CAPABILITY_NAMED_IAM   # in account %s\n",
			f.Region, f.Stack, f.Name, f.Account)
	}
	fmt.Fprintf(&w, "```\n\nThen run Sluice with the role `%s` (its policy `%sPolicy` holds\n", engineRoleName(b.opts.Route), engineRoleName(b.opts.Route))
	fmt.Fprintf(&w, "exactly what the engine needs) and say in the aws target of each environment of sluice.yaml:\n\n```yaml\n")
	for _, e := range b.envs {
		fmt.Fprintf(&w, "# %s\nartifact_bucket: %s\nartifact_kms_key: %s\nexternal_id: %s\nexecution_role: %s\n",
			e.name, b.bucket, keyAlias(b.opts.Route), b.opts.ExternalID, b.executionRole(e.t))
	}
	fmt.Fprintf(&w, "```\n")
	fmt.Fprintf(&w, "\nThe deployment roles trust only the engine role, and only with the external ID above.\n")
	fmt.Fprintf(&w, "The execution role covers the resources of a serverless route (functions, their roles,\n")
	fmt.Fprintf(&w, "HTTP APIs, alarms, log groups) whose names start with the stack's name; a route with other\n")
	fmt.Fprintf(&w, "resource types adds their permissions to it.\n")
	return w.Bytes()
}
