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
	b := &bootstrap{opts: opts, buckets: map[string]string{}}
	for _, e := range envs {
		t, err := targetOf(environmentOf(opts.Route, e))
		if err != nil {
			return nil, err
		}
		b.envs = append(b.envs, resolved{name: e.Name, t: t})
	}
	if err := b.chooseBuckets(); err != nil {
		return nil, err
	}
	var files []BootstrapFile
	for _, region := range b.regions() {
		if region == opts.ToolingRegion {
			continue
		}
		files = append(files, BootstrapFile{Name: fmt.Sprintf("01-artifacts-%s.yaml", region), Account: opts.ToolingAccount, Region: region,
			Stack: opts.Route + "-sluice-artifacts", Body: b.artifacts(region)})
	}
	files = append(files, BootstrapFile{Name: "01-tooling.yaml", Account: opts.ToolingAccount, Region: opts.ToolingRegion,
		Stack: opts.Route + "-sluice-tooling", Body: b.tooling()})
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
	opts BootstrapOptions
	envs []resolved
	// buckets are the artifact buckets by region: Lambda reads code only from a bucket in its
	// own region, so each region of the route's environments has one, with a key of its own.
	buckets map[string]string
}

// chooseBuckets names the artifact bucket of each region: the one the environments there name,
// else <route>-artifacts-<tooling account>[-<region>].
func (b *bootstrap) chooseBuckets() error {
	owner := map[string]string{} // bucket → region
	for _, e := range b.envs {
		name := e.t.ArtifactBucket
		if name == "" {
			continue
		}
		if had := b.buckets[e.t.Region]; had != "" && had != name {
			return sluice.Errorf(sluice.EINVALID, "environments in %s name two artifact buckets, %s and %s; one region has one, name the same in each", e.t.Region, had, name)
		}
		if r, ok := owner[name]; ok && r != e.t.Region {
			return sluice.Errorf(sluice.EINVALID, "artifact bucket %s is named by environments in %s and %s; a bucket lives in one region and Lambda reads code only from its own region, so name one bucket per region", name, r, e.t.Region)
		}
		b.buckets[e.t.Region], owner[name] = name, e.t.Region
	}
	for _, region := range b.regions() {
		if b.buckets[region] != "" {
			continue
		}
		name := fmt.Sprintf("%s-artifacts-%s", strings.ToLower(b.opts.Route), b.opts.ToolingAccount)
		if region != b.opts.ToolingRegion {
			name += "-" + region
		}
		b.buckets[region] = name
	}
	return nil
}

// regions are the tooling region and every environment's, sorted.
func (b *bootstrap) regions() []string {
	out := []string{b.opts.ToolingRegion}
	for _, e := range b.envs {
		if !slices.Contains(out, e.t.Region) {
			out = append(out, e.t.Region)
		}
	}
	sort.Strings(out)
	return out
}

// bucketARNs are every artifact bucket's ARN, sorted.
func (b *bootstrap) bucketARNs(suffix string) []string {
	var out []string
	for _, name := range b.buckets {
		out = append(out, "arn:aws:s3:::"+name+suffix)
	}
	sort.Strings(out)
	return out
}

// artifactPrefixes are where a route's artifacts lie in its buckets: Sluice's own under
// sluice/<route>/, and those of the CodePipelines of sluice aws synth under the first 20
// characters of the pipeline's name, which begins with the route's.
func (b *bootstrap) artifactPrefixes() []string {
	pipeline := b.opts.Route[:min(len(b.opts.Route), 20)]
	return []string{"sluice/" + b.opts.Route + "/*", pipeline + "*"}
}

func (b *bootstrap) artifactObjects() []string {
	var out []string
	for _, bucket := range b.bucketARNs("") {
		for _, p := range b.artifactPrefixes() {
			out = append(out, bucket+"/"+p)
		}
	}
	return out
}

// keysByAlias is every regional artifact key of the tooling account, told apart by its alias.
func (b *bootstrap) keysByAlias() (string, m) {
	return arn("kms", "*", b.opts.ToolingAccount, "key/*"), kv("ForAnyValue:StringEquals", kv("kms:ResourceAliases", keyAlias(b.opts.Route)))
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
	s = append(s, yaml.MapItem{Key: "Action", Value: action})
	if resource != nil { // an assume-role policy names no resource
		s = append(s, yaml.MapItem{Key: "Resource", Value: resource})
	}
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

// toolingRoles are the roles of the tooling account that use the artifact keys and buckets:
// the engine, and the pipeline and its builds of sluice aws synth (which may never exist, hence
// named by condition on the account's root, which always does).
func (b *bootstrap) toolingRoles() []string {
	return []string{b.engineRole(), b.synthRole("SluicePipeline"), b.synthRole("SluiceBuild")}
}

func (b *bootstrap) synthRole(name string) string {
	return arn("iam", "", b.opts.ToolingAccount, "role/"+b.opts.Route+"-"+name)
}

// artifactStore is the key and bucket of one region, as resources of a stack in that region.
func (b *bootstrap) artifactStore(region string, eventBridge bool) m {
	route, tooling := b.opts.Route, b.opts.ToolingAccount
	roles, accounts := b.readers()
	readers := kv("ArnLike", kv("aws:PrincipalArn", roles))
	root := kv("AWS", arn("iam", "", tooling, "root"))
	statements := []m{
		// In a key policy, Resource "*" means this key.
		statement("TheAccountAdministersTheKey", "Allow", root, []string{
			"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
			"kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
			"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
		}, "*"),
		// By condition on the root rather than by name: KMS refuses a policy naming a role that
		// does not exist yet, and the engine's role comes later in the tooling stack.
		statement("ToolingRolesUseTheKey", "Allow", root, []string{"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"}, "*",
			"Condition", kv("ArnEquals", kv("aws:PrincipalArn", b.toolingRoles()))),
		statement("EnvironmentRolesDecryptArtifacts", "Allow", kv("AWS", accounts), []string{"kms:Decrypt", "kms:DescribeKey"}, "*",
			"Condition", readers),
	}
	if eventBridge {
		statements = append(statements, statement("EventBridgePublishesNotifications", "Allow", kv("Service", "events.amazonaws.com"),
			[]string{"kms:GenerateDataKey", "kms:Decrypt"}, "*", "Condition", kv("StringEquals", kv("aws:SourceAccount", tooling))))
	}
	bucket := b.buckets[region]
	bucketARN := "arn:aws:s3:::" + bucket
	var objects []string
	for _, p := range b.artifactPrefixes() {
		objects = append(objects, bucketARN+"/"+p)
	}
	return kv(
		"ArtifactKey", kv("Type", "AWS::KMS::Key", "Properties", kv(
			"Description", fmt.Sprintf("Encrypts the artifacts of the Sluice route %s in %s", route, region),
			"EnableKeyRotation", true,
			"KeyPolicy", policy(statements...),
		)),
		"ArtifactKeyAlias", kv("Type", "AWS::KMS::Alias", "Properties", kv("AliasName", keyAlias(route), "TargetKeyId", kv("Ref", "ArtifactKey"))),
		"ArtifactBucket", kv("Type", "AWS::S3::Bucket", "DeletionPolicy", "Retain", "UpdateReplacePolicy", "Retain", "Properties", kv(
			"BucketName", bucket,
			"BucketEncryption", kv("ServerSideEncryptionConfiguration", []m{kv(
				"ServerSideEncryptionByDefault", kv("SSEAlgorithm", "aws:kms", "KMSMasterKeyID", kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
				"BucketKeyEnabled", true,
			)}),
			"PublicAccessBlockConfiguration", kv("BlockPublicAcls", true, "BlockPublicPolicy", true, "IgnorePublicAcls", true, "RestrictPublicBuckets", true),
			"OwnershipControls", kv("Rules", []m{kv("ObjectOwnership", "BucketOwnerEnforced")}),
			"VersioningConfiguration", kv("Status", "Enabled"),
		)),
		"ArtifactBucketPolicy", kv("Type", "AWS::S3::BucketPolicy", "Properties", kv(
			"Bucket", kv("Ref", "ArtifactBucket"),
			"PolicyDocument", policy(
				statement("DenyInsecureTransport", "Deny", "*", "s3:*", []string{bucketARN, bucketARN + "/*"},
					"Condition", kv("Bool", kv("aws:SecureTransport", "false"))),
				statement("DenyUnencryptedUploads", "Deny", "*", "s3:PutObject", bucketARN+"/*",
					"Condition", kv("StringNotEquals", kv("s3:x-amz-server-side-encryption", "aws:kms"))),
				statement("EnvironmentRolesReadArtifacts", "Allow", kv("AWS", accounts), []string{"s3:GetObject", "s3:GetObjectVersion"}, objects,
					"Condition", readers),
			),
		)),
	)
}

// artifacts is the stack of the key and bucket of a region other than the tooling account's.
func (b *bootstrap) artifacts(region string) []byte {
	doc := kv(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", fmt.Sprintf("Sluice route %s: the artifact key and bucket of %s", b.opts.Route, region),
		"Resources", b.artifactStore(region, false),
		"Outputs", kv(
			"ArtifactBucket", kv("Value", kv("Ref", "ArtifactBucket")),
			"ArtifactKeyArn", kv("Value", kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
		),
	)
	return render(fmt.Sprintf(`Written by sluice aws bootstrap for route %s.
Deploy in the tooling account %s, region %s: Lambda functions in %s read their code from here.`, b.opts.Route, b.opts.ToolingAccount, region, region), doc)
}

// tooling is the tooling account's stack: its region's artifact store, the notification topic
// and the engine's role.
func (b *bootstrap) tooling() []byte {
	route, tooling := b.opts.Route, b.opts.ToolingAccount
	var deploymentRoles []string
	for _, e := range b.envs {
		if r := b.deploymentRole(e.t); !slices.Contains(deploymentRoles, r) {
			deploymentRoles = append(deploymentRoles, r)
		}
	}
	sort.Strings(deploymentRoles)
	keys, byAlias := b.keysByAlias()
	resources := b.artifactStore(b.opts.ToolingRegion, true)
	resources = append(resources, kv(
		"NotificationTopic", kv("Type", "AWS::SNS::Topic", "Properties", kv(
			"TopicName", route+"-sluice-notifications",
			"KmsMasterKeyId", kv("Ref", "ArtifactKey"),
		)),
		"NotificationTopicPolicy", kv("Type", "AWS::SNS::TopicPolicy", "Properties", kv(
			"Topics", []any{kv("Ref", "NotificationTopic")},
			"PolicyDocument", policy(
				statement("EventBridgePublishes", "Allow", kv("Service", "events.amazonaws.com"), "sns:Publish", kv("Ref", "NotificationTopic"),
					"Condition", kv("StringEquals", kv("aws:SourceAccount", tooling))),
			),
		)),
		"EngineRole", kv("Type", "AWS::IAM::Role", "Properties", kv(
			"RoleName", engineRoleName(route),
			"Description", "The role the Sluice engine of route "+route+" runs with",
			"AssumeRolePolicyDocument", policy(
				statement("PrincipalsOfTheToolingAccount", "Allow", kv("AWS", arn("iam", "", tooling, "root")), "sts:AssumeRole", nil),
			),
		)),
		"EnginePolicy", kv("Type", "AWS::IAM::ManagedPolicy", "Properties", kv(
			"ManagedPolicyName", engineRoleName(route)+"Policy",
			"Description", "What the Sluice engine of route "+route+" needs in the tooling account",
			"Roles", []any{kv("Ref", "EngineRole")},
			"PolicyDocument", policy(
				statement("AssumeTheDeploymentRoles", "Allow", nil, "sts:AssumeRole", deploymentRoles),
				statement("WriteAndReadArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:PutObject"}, b.bucketARNs("/sluice/"+route+"/*")),
				// Without ListBucket, S3 answers 403 rather than 404 for an artifact not uploaded yet.
				statement("ListTheRoutesArtifacts", "Allow", nil, "s3:ListBucket", b.bucketARNs(""),
					"Condition", kv("StringLike", kv("s3:prefix", "sluice/"+route+"/*"))),
				statement("EncryptArtifacts", "Allow", nil, []string{"kms:GenerateDataKey", "kms:Decrypt"}, keys, "Condition", byAlias),
			),
		)),
	)...)
	doc := kv(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", "Sluice route "+route+": the tooling account's artifact key and bucket, notification topic and engine role",
		"Resources", resources,
		"Outputs", kv(
			"ArtifactBucket", kv("Value", kv("Ref", "ArtifactBucket")),
			"ArtifactKeyArn", kv("Value", kv("Fn::GetAtt", []string{"ArtifactKey", "Arn"})),
			"NotificationTopicArn", kv("Value", kv("Ref", "NotificationTopic")),
			"EngineRoleArn", kv("Value", kv("Fn::GetAtt", []string{"EngineRole", "Arn"})),
		),
	)
	return render(fmt.Sprintf(`Written by sluice aws bootstrap for route %s.
Deploy in the tooling account %s, region %s.`, route, tooling, b.opts.ToolingRegion), doc)
}

// roles is the stack of one environment account and region.
func (b *bootstrap) roles(g group) []byte {
	route, region, account := b.opts.Route, g.region, g.account
	var stacks, functions, alarms, logs, deployments []string
	for _, e := range g.envs {
		// A branch pipeline's environment is <stack>-<branch>: the prefix covers it.
		stacks = append(stacks, arn("cloudformation", region, account, "stack/"+e.t.Stack+"/*"), arn("cloudformation", region, account, "stack/"+e.t.Stack+"-*/*"))
		// CloudFormation names a function <stack>-<logical ID>-<suffix>; a function's
		// versions and aliases are ARNs below it.
		functions = append(functions, arn("lambda", region, account, "function:"+e.t.Stack+"-*"))
		alarms = append(alarms, arn("cloudwatch", region, account, "alarm:"+e.t.Stack+"-*"))
		logs = append(logs, arn("logs", region, account, "log-group:/aws/lambda/"+e.t.Stack+"-*"))
		// SAM names a DeploymentPreference's application <stack>-ServerlessDeploymentApplication-*.
		deployments = append(deployments, arn("codedeploy", region, account, "application:"+e.t.Stack+"-*"),
			arn("codedeploy", region, account, "deploymentgroup:"+e.t.Stack+"-*"))
	}
	keys, byAlias := b.keysByAlias()
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
			statement("ShiftTheFunctionsAliasesAndInvokeTheirHooks", "Allow", nil, []string{
				"lambda:PublishVersion", "lambda:GetAlias", "lambda:CreateAlias", "lambda:UpdateAlias", "lambda:DeleteAlias",
				"lambda:GetFunction", "lambda:InvokeFunction",
			}, functions),
			// A CloudFormation action of the pipeline of sluice aws synth reads its input
			// artifact with this role.
			statement("ReadThePipelinesArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:GetObjectVersion"}, b.artifactObjects()),
			statement("DecryptThePipelinesArtifacts", "Allow", nil, "kms:Decrypt", keys, "Condition", byAlias),
			statement("FollowAndStopCodeDeployShifts", "Allow", nil, []string{"codedeploy:ListDeployments", "codedeploy:GetDeployment", "codedeploy:StopDeployment"},
				deployments),
			// Neither action has resource-level permissions: CloudWatch only allows "*" for them.
			statement("ReadAlarmsAndMetrics", "Allow", nil, []string{"cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"}, "*"),
		))},
	))

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
				"lambda:ListVersionsByFunction", "lambda:GetPolicy", "lambda:GetRuntimeManagementConfig",
				"lambda:GetFunctionCodeSigningConfig", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
			}, functions),
			statement("TheFunctionsRoles", "Allow", nil, []string{
				"iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole", "iam:AttachRolePolicy",
				"iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy",
				"iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
			}, roleARNs),
			statement("PassTheFunctionsRolesToLambda", "Allow", nil, "iam:PassRole", roleARNs,
				"Condition", kv("StringEquals", kv("iam:PassedToService", "lambda.amazonaws.com"))),
			statement("TheRoutesHttpApis", "Allow", nil, []string{
				"apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource",
			}, []string{arn("apigateway", region, "", "/apis"), arn("apigateway", region, "", "/apis/*"), arn("apigateway", region, "", "/tags/*")}),
			statement("TheRoutesAlarms", "Allow", nil, []string{"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource"},
				alarms),
			statement("TheFunctionsLogs", "Allow", nil, []string{"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"},
				logs),
			statement("ReadTheArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:GetObjectVersion"}, b.artifactObjects()),
			statement("DecryptTheArtifacts", "Allow", nil, "kms:Decrypt", keys, "Condition", byAlias),
		))},
	))
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
			e.name, b.buckets[e.t.Region], keyAlias(b.opts.Route), b.opts.ExternalID, b.executionRole(e.t))
	}
	fmt.Fprintf(&w, "```\n")
	fmt.Fprintf(&w, "\nThe deployment roles trust only the engine role, and only with the external ID above.\n")
	fmt.Fprintf(&w, "The execution role covers the resources of a serverless route (functions, their roles,\n")
	fmt.Fprintf(&w, "HTTP APIs, alarms, log groups) whose names start with the stack's name; a route with other\n")
	fmt.Fprintf(&w, "resource types adds their permissions to it.\n")
	return w.Bytes()
}
