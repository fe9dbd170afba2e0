package aws

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// Synth turns a route into the CloudFormation template of a native AWS CodePipeline (V2) that
// runs the same route with no Sluice server: a CodeConnections source with triggers, CodeBuild
// projects for the build, the checks and the tests, and per aws environment a change set that is
// created, approved where the route asks, and executed with the environment's deployment role,
// with its CloudWatch alarms as a stage condition that rolls the stage back. What has no
// CodePipeline equivalent is returned as notes, each saying what synth did about it.

// SynthOptions are what the pipeline needs beyond the route.
type SynthOptions struct {
	ToolingAccount string
	ToolingRegion  string
	// Pipelines are the route's branch and pull-request pipelines (sluice.yaml's pipelines).
	Pipelines spec.Pipelines
}

// SynthResult is the pipeline's template and the notes about what it could not express.
type SynthResult struct {
	Template []byte
	Notes    []string
}

var notBuildName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Synth writes the pipeline of p.
func Synth(p *plan.Plan, opts SynthOptions) (*SynthResult, error) {
	if !accountRe.MatchString(opts.ToolingAccount) {
		return nil, sluice.Errorf(sluice.EINVALID, "invalid tooling account %q; give its 12 digits with --tooling-account", opts.ToolingAccount)
	}
	if !regionRe.MatchString(opts.ToolingRegion) {
		return nil, sluice.Errorf(sluice.EINVALID, "invalid tooling region %q; give a region code such as eu-west-1 with --region", opts.ToolingRegion)
	}
	s := &synth{p: p, opts: opts, b: &bootstrap{opts: BootstrapOptions{Route: p.Name, ToolingAccount: opts.ToolingAccount, ToolingRegion: opts.ToolingRegion}, buckets: map[string]string{}}}
	for _, env := range p.Environments {
		t, ok := env.TargetConfig.(*Target)
		if !ok {
			s.note("environment %s has target %s, which CodePipeline cannot deploy to: the pipeline leaves it out", env.Name, env.Target)
			continue
		}
		t, _ = targetOf(environmentOf(p.Name, BootstrapEnvironment{Name: env.Name, Target: t}))
		s.envs = append(s.envs, synthEnv{plan: env, t: t})
	}
	if len(s.envs) == 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "route %s has no environment with target aws; a CodePipeline would deploy nothing", p.Name)
	}
	for _, e := range s.envs {
		s.b.envs = append(s.b.envs, resolved{name: e.plan.Name, t: e.t})
	}
	if err := s.b.chooseBuckets(); err != nil {
		return nil, err
	}
	doc := s.template()
	body, err := yaml.MarshalWithOptions(doc, yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return nil, fmt.Errorf("render the pipeline: %w", err)
	}
	header := fmt.Sprintf("# Written by sluice aws synth for route %s: a CodePipeline V2 running the same route.\n# Deploy in the tooling account %s, region %s, after the stacks of sluice aws bootstrap.\n", p.Name, opts.ToolingAccount, opts.ToolingRegion)
	return &SynthResult{Template: append([]byte(header), body...), Notes: s.notes}, nil
}

type synthEnv struct {
	plan plan.Environment
	t    *Target
}

type synth struct {
	p     *plan.Plan
	opts  SynthOptions
	b     *bootstrap
	envs  []synthEnv
	notes []string
	// projects are the CodeBuild projects, by logical ID, in order.
	projects m
}

// only is the aws environments among names, in the route's order.
func (s *synth) only(names []string) []synthEnv {
	var out []synthEnv
	for _, e := range s.envs {
		if slices.Contains(names, e.plan.Name) {
			out = append(out, e)
		}
	}
	return out
}

func (s *synth) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

var notAlphanumeric = regexp.MustCompile(`[^A-Za-z0-9]+`)

// logicalID makes a CloudFormation logical ID of parts.
func logicalID(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		for _, w := range notAlphanumeric.Split(p, -1) {
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

// baseDirectory is the one folder the build's artifact is, which becomes the root of the
// build output (a Lambda bootstrap must be at the zip's root); "" when it is several paths.
func (s *synth) baseDirectory() string {
	var build *plan.Action
	for i := range s.p.Stages {
		for j := range s.p.Stages[i].Actions {
			if s.p.Stages[i].Actions[j].Kind == sluice.KindBuild {
				build = &s.p.Stages[i].Actions[j]
			}
		}
	}
	if build == nil || len(build.Artifact) != 1 || !strings.HasSuffix(build.Artifact[0], "/") {
		return ""
	}
	return strings.TrimSuffix(build.Artifact[0], "/")
}

func (s *synth) project(id, name, buildspec string, env map[string]string, timeout sluice.Duration) {
	for _, p := range s.projects {
		if p.Key == id {
			return // another pipeline of the route runs it too
		}
	}
	vars := []m{}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		vars = append(vars, kv("Name", k, "Value", env[k], "Type", "PLAINTEXT"))
	}
	minutes := 60
	if timeout > 0 {
		minutes = max(5, int((time.Duration(timeout)+time.Minute-1)/time.Minute))
	}
	s.projects = append(s.projects, yaml.MapItem{Key: id, Value: kv("Type", "AWS::CodeBuild::Project", "Properties", kv(
		"Name", s.p.Name+"-"+name,
		"ServiceRole", kv("Fn::GetAtt", []string{"BuildRole", "Arn"}),
		"EncryptionKey", kv("Ref", "ArtifactKeyArn"),
		"Artifacts", kv("Type", "CODEPIPELINE"),
		"Source", kv("Type", "CODEPIPELINE", "BuildSpec", buildspec),
		"Environment", kv("Type", "LINUX_CONTAINER", "ComputeType", "BUILD_GENERAL1_SMALL",
			"Image", "aws/codebuild/amazonlinux-x86_64-standard:5.0", "EnvironmentVariables", vars),
		"TimeoutInMinutes", minutes,
		"LogsConfig", kv("CloudWatchLogs", kv("Status", "ENABLED", "GroupName", "/aws/codebuild/"+s.p.Name)),
	))})
}

func buildspec(commands []string, artifacts []string, base string, exported bool) string {
	spec := kv("version", "0.2")
	if exported {
		spec = append(spec, yaml.MapItem{Key: "env", Value: kv("exported-variables", []string{"SLUICE_ARTIFACT"})})
	}
	spec = append(spec, yaml.MapItem{Key: "phases", Value: kv("build", kv("commands", commands))})
	if len(artifacts) > 0 {
		a := kv("files", artifacts)
		if base != "" {
			a = append(a, yaml.MapItem{Key: "base-directory", Value: base})
		}
		spec = append(spec, yaml.MapItem{Key: "artifacts", Value: a})
	}
	out, _ := yaml.MarshalWithOptions(spec, yaml.IndentSequence(true))
	return string(out)
}

func (s *synth) template() m {
	p := s.p
	base := s.baseDirectory()
	stages := []m{s.sourceStage()}
	// Build: the route's commands, then the artifact's digest over its files, exported so that
	// later actions (and the approval's text) name what they deploy.
	for _, st := range p.Stages {
		for _, a := range st.Actions {
			switch a.Kind {
			case sluice.KindBuild:
				var files []string
				for _, path := range a.Artifact {
					rel := strings.TrimPrefix(strings.TrimSuffix(path, "/"), base)
					rel = strings.TrimPrefix(rel, "/")
					switch {
					case rel == "":
						files = append(files, "**/*")
					case strings.HasSuffix(path, "/"):
						files = append(files, rel+"/**/*")
					default:
						files = append(files, rel)
					}
				}
				digestOf := "."
				if base != "" {
					digestOf = base
				}
				commands := append(append([]string{}, a.Commands...),
					fmt.Sprintf(`export SLUICE_ARTIFACT="sha256:$(cd %s && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"`, digestOf))
				s.project("BuildProject", "build", buildspec(commands, files, base, true), a.Env, a.Timeout)
				stages = append(stages, kv("Name", "Build", "Actions", []m{codeBuildAction("Build", "BuildProject", "SourceOutput", "BuildOutput", "Build", 1, nil)}))
			case sluice.KindCheck:
				id := logicalID("Check", a.Name, "Project")
				s.project(id, "check-"+notBuildName.ReplaceAllString(a.Name, "-"), buildspec([]string{a.Run}, nil, "", false), a.Env, a.Timeout)
			}
		}
	}
	var checks []m
	for _, st := range p.Stages {
		for _, a := range st.Actions {
			if a.Kind == sluice.KindCheck {
				checks = append(checks, codeBuildAction(logicalID(a.Name), logicalID("Check", a.Name, "Project"), "SourceOutput", "", "", 1, nil))
			}
		}
	}
	if len(checks) > 0 {
		stages = append(stages, kv("Name", "Checks", "Actions", checks))
	}
	resources := kv(
		"PipelineRole", s.pipelineRole(),
		"BuildRole", s.buildRole(),
	)
	// The main pipeline, then one per branch rule and one for pull requests, each with only its
	// environments and a trigger that filters what starts it.
	var pipelines []yaml.MapItem
	pipeline := func(id, name string, envs []synthEnv, trigger m) {
		all := append([]m{}, stages...)
		for _, e := range envs {
			all = append(all, s.environmentStage(e, base))
		}
		props := kv(
			"Name", name,
			"PipelineType", "V2",
			"ExecutionMode", executionMode(p.ExecutionMode),
			"RoleArn", kv("Fn::GetAtt", []string{"PipelineRole", "Arn"}),
		)
		props = append(props, s.artifactStores()...)
		props = append(props, kv(
			"Triggers", []m{kv("ProviderType", "CodeStarSourceConnection", "GitConfiguration", append(kv("SourceActionName", "Source"), trigger...))},
			"Stages", all,
		)...)
		pipelines = append(pipelines, yaml.MapItem{Key: id, Value: kv("Type", "AWS::CodePipeline::Pipeline", "Properties", props)})
	}
	pipeline("Pipeline", p.Name, s.envs, kv("Push", []m{kv("Branches", kv("Includes", []string{s.branch()}))}))
	for i, rule := range s.opts.Pipelines.Branches {
		envs := s.only(rule.Environments)
		pipeline(fmt.Sprintf("BranchPipeline%d", i+1), p.Name+"-"+stackName("", rule.Match), envs,
			kv("Push", []m{kv("Branches", kv("Includes", []string{rule.Match}))}))
		if len(envs) > 0 {
			s.note("branches matching %s: CodePipeline runs every matching branch in one pipeline that deploys to the same stacks; Sluice gives each branch its own", rule.Match)
		}
	}
	if pr := s.opts.Pipelines.PullRequests; pr.Enabled {
		pipeline("PullRequestPipeline", p.Name+"-pull-requests", s.only(pr.Environments),
			kv("PullRequest", []m{kv("Events", []string{"OPEN", "UPDATED"}, "Branches", kv("Includes", []string{s.branch()}))}))
		if pr.Ephemeral.From != "" {
			s.note("pull requests: an ephemeral environment per pull request (pr-<number>, from %s) has no CodePipeline equivalent; the pull-request pipeline builds, checks and deploys to its environments only", pr.Ephemeral.From)
		}
	}
	resources = append(resources, s.projects...)
	resources = append(resources, pipelines...)
	resources = append(resources, yaml.MapItem{Key: "FailedExecutionRule", Value: s.failureRule(pipelines)})
	return kv(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", "Sluice route "+p.Name+" as an AWS CodePipeline (V2), written by sluice aws synth",
		"Parameters", kv(
			"ConnectionArn", kv("Type", "String", "Description", "The CodeConnections connection to the repository",
				"AllowedPattern", "^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/.+$"),
			"FullRepositoryId", kv("Type", "String", "Description", "The repository, as owner/name"),
			"ArtifactBucket", kv("Type", "String", "Default", s.b.buckets[s.opts.ToolingRegion], "Description", "The artifact bucket of sluice aws bootstrap in this region"),
			"ArtifactKeyArn", kv("Type", "String", "Description", "The artifact key's ARN (output ArtifactKeyArn of the tooling stack)"),
			"NotificationTopicArn", kv("Type", "String", "Description", "The topic failed executions are told to (output NotificationTopicArn of the tooling stack)"),
		),
		"Resources", resources,
		"Outputs", kv("PipelineName", kv("Value", kv("Ref", "Pipeline"))),
	)
}

// artifactStores is where the pipeline keeps its artifacts: the tooling region's bucket, and
// with actions in other regions, one bucket per region (ArtifactStores), each under its
// region's key (by its alias, which bootstrap gives every region's key).
func (s *synth) artifactStores() m {
	regions := s.b.regions()
	if len(regions) == 1 {
		return kv("ArtifactStore", kv("Type", "S3", "Location", kv("Ref", "ArtifactBucket"),
			"EncryptionKey", kv("Id", kv("Ref", "ArtifactKeyArn"), "Type", "KMS")))
	}
	var stores []m
	for _, region := range regions {
		store := kv("Type", "S3", "Location", s.b.buckets[region],
			"EncryptionKey", kv("Id", arn("kms", region, s.opts.ToolingAccount, keyAlias(s.p.Name)), "Type", "KMS"))
		if region == s.opts.ToolingRegion {
			store = kv("Type", "S3", "Location", kv("Ref", "ArtifactBucket"), "EncryptionKey", kv("Id", kv("Ref", "ArtifactKeyArn"), "Type", "KMS"))
		}
		stores = append(stores, kv("Region", region, "ArtifactStore", store))
	}
	return kv("ArtifactStores", stores)
}

func (s *synth) branch() string {
	if s.p.Source.Branch != "" {
		return s.p.Source.Branch
	}
	return "main"
}

func executionMode(mode sluice.ExecutionMode) string {
	switch strings.ToLower(string(mode)) {
	case "queued":
		return "QUEUED"
	case "parallel":
		return "PARALLEL"
	}
	return "SUPERSEDED"
}

func (s *synth) sourceStage() m {
	return kv("Name", "Source", "Actions", []m{kv(
		"Name", "Source",
		"ActionTypeId", kv("Category", "Source", "Owner", "AWS", "Provider", "CodeStarSourceConnection", "Version", "1"),
		"Configuration", kv("ConnectionArn", kv("Ref", "ConnectionArn"), "FullRepositoryId", kv("Ref", "FullRepositoryId"),
			"BranchName", s.branch(), "OutputArtifactFormat", "CODE_ZIP"),
		"OutputArtifacts", []m{kv("Name", "SourceOutput")},
		"Namespace", "Source",
		"RunOrder", 1,
	)})
}

func codeBuildAction(name, project, input, output, namespace string, order int, env []m) m {
	config := kv("ProjectName", kv("Ref", project))
	if len(env) > 0 {
		// CodeBuild reads [{"name":..,"value":..,"type":..}], a JSON array of plain objects.
		plain := make([]map[string]any, len(env))
		for i, e := range env {
			plain[i] = map[string]any{}
			for _, item := range e {
				plain[i][item.Key.(string)] = item.Value
			}
		}
		js, _ := json.Marshal(plain)
		config = append(config, yaml.MapItem{Key: "EnvironmentVariables", Value: string(js)})
	}
	a := kv("Name", name,
		"ActionTypeId", kv("Category", "Build", "Owner", "AWS", "Provider", "CodeBuild", "Version", "1"),
		"Configuration", config,
		"InputArtifacts", []m{kv("Name", input)},
	)
	if output != "" {
		a = append(a, yaml.MapItem{Key: "OutputArtifacts", Value: []m{kv("Name", output)}})
	}
	if namespace != "" {
		a = append(a, yaml.MapItem{Key: "Namespace", Value: namespace})
	}
	return append(a, yaml.MapItem{Key: "RunOrder", Value: order})
}

func (s *synth) environmentStage(e synthEnv, base string) m {
	t, name := e.t, e.plan.Name
	ns := logicalID("Deploy", name)
	deployRole := s.b.deploymentRole(t)
	execRole := s.b.executionRole(t)
	template := strings.TrimPrefix(strings.TrimPrefix(t.Template, base), "/")
	params := map[string]any{}
	for k, v := range t.Parameters {
		params[k] = v
	}
	if t.ArtifactBucket != "" || t.Function != "" {
		// The build output itself is the code: CloudFormation refuses parameters a template
		// does not declare, so these are passed only to a route whose code goes through S3
		// (whose template declares them, as the engine checks).
		params[ParamArtifactBucket] = map[string]any{"Fn::GetArtifactAtt": []string{"BuildOutput", "BucketName"}}
		params[ParamArtifactKey] = map[string]any{"Fn::GetArtifactAtt": []string{"BuildOutput", "ObjectKey"}}
	}
	if t.Code != "" {
		s.note("environment %s: code %s is Sluice's own packing; in the pipeline the whole build output is the function's code", e.plan.Name, t.Code)
	}
	overrides, _ := json.Marshal(params)
	cfn := func(action, mode string, order int) m {
		config := kv("ActionMode", mode, "StackName", t.Stack, "ChangeSetName", "sluice-pipeline")
		if mode == "CHANGE_SET_REPLACE" {
			config = append(config, kv("TemplatePath", "BuildOutput::"+template,
				"Capabilities", "CAPABILITY_IAM,CAPABILITY_NAMED_IAM,CAPABILITY_AUTO_EXPAND",
				"RoleArn", execRole, "ParameterOverrides", string(overrides))...)
		}
		a := kv("Name", action,
			"ActionTypeId", kv("Category", "Deploy", "Owner", "AWS", "Provider", "CloudFormation", "Version", "1"),
			"Configuration", config, "RoleArn", deployRole, "Region", t.Region)
		if mode == "CHANGE_SET_REPLACE" {
			a = append(a, yaml.MapItem{Key: "InputArtifacts", Value: []m{kv("Name", "BuildOutput")}})
		} else {
			a = append(a, yaml.MapItem{Key: "Namespace", Value: ns})
		}
		return append(a, yaml.MapItem{Key: "RunOrder", Value: order})
	}
	actions := []m{cfn("CreateChangeSet", "CHANGE_SET_REPLACE", 1)}
	order := 2
	for _, st := range s.p.Stages {
		if st.Environment != name {
			continue
		}
		for _, a := range st.Actions {
			switch {
			case a.Approval != nil:
				link := fmt.Sprintf("https://%s.console.aws.amazon.com/cloudformation/home?region=%s#/stacks/changesets/changes?stackId=%s&changeSetId=sluice-pipeline", t.Region, t.Region, t.Stack)
				actions = append(actions, kv("Name", "Approve",
					"ActionTypeId", kv("Category", "Approval", "Owner", "AWS", "Provider", "Manual", "Version", "1"),
					"Configuration", kv("CustomData", fmt.Sprintf("Review change set sluice-pipeline of stack %s in account %s (%s), artifact #{Build.SLUICE_ARTIFACT}, then approve or reject.", t.Stack, t.Account, t.Region),
						"ExternalEntityLink", link),
					"RunOrder", order))
				order++
				if len(a.Approval.Approvers) > 0 {
					s.note("environment %s: approvers %s cannot be written into a CodePipeline approval; grant codepipeline:PutApprovalResult on the stage to those people only", name, strings.Join(a.Approval.Approvers, ", "))
				}
			case a.Kind == sluice.KindExecuteChangeSet:
				if a.Strategy != nil && a.Strategy.Type != sluice.AllAtOnce {
					s.note("environment %s: the %s traffic shift is Sluice's own; the pipeline executes the change set at once (give the template a SAM DeploymentPreference to shift with CodeDeploy)", name, a.Strategy)
				}
				if len(a.Alarms) > 0 {
					s.note("environment %s: Sluice's metric alarms on the new version (%s) have no CodePipeline equivalent; name CloudWatch alarms in cloudwatch_alarms to roll the stage back", name, alarmNames(a.Alarms))
				}
				if a.Hooks != nil && (a.Hooks.PreTraffic != "" || a.Hooks.PostTraffic != "") {
					s.note("environment %s: pre/post-traffic hooks have no CodePipeline equivalent without CodeDeploy; the pipeline does not run them", name)
				}
			}
		}
	}
	actions = append(actions, cfn("ExecuteChangeSet", "CHANGE_SET_EXECUTE", order))
	order++
	for _, st := range s.p.Stages {
		if st.Environment != name {
			continue
		}
		for _, a := range st.Actions {
			if a.Kind != sluice.KindTest {
				continue
			}
			id := logicalID("Test", name, a.Name, "Project")
			s.project(id, "test-"+notBuildName.ReplaceAllString(name+"-"+a.Name, "-"), buildspec([]string{a.Run}, nil, "", false), a.Env, a.Timeout)
			var env []m
			env = append(env, kv("name", "SLUICE_ENVIRONMENT", "value", name, "type", "PLAINTEXT"),
				kv("name", "SLUICE_ARTIFACT", "value", "#{Build.SLUICE_ARTIFACT}", "type", "PLAINTEXT"),
				kv("name", "SLUICE_REVISION", "value", "#{Source.CommitId}", "type", "PLAINTEXT"))
			if t.EndpointOutput != "" {
				env = append(env, kv("name", "SLUICE_ENDPOINT", "value", "#{"+ns+"."+t.EndpointOutput+"}", "type", "PLAINTEXT"))
			}
			actions = append(actions, codeBuildAction(logicalID(a.Name), id, "SourceOutput", "", "", order, env))
		}
	}
	stage := kv("Name", name, "Actions", actions)
	if len(t.Alarms) > 0 {
		var rules []m
		for _, alarm := range t.Alarms {
			rules = append(rules, kv("Name", logicalID("Alarm", alarm),
				"RuleTypeId", kv("Category", "Rule", "Owner", "AWS", "Provider", "CloudWatchAlarm", "Version", "1"),
				"Configuration", kv("AlarmName", alarm, "WaitTime", "5"),
				"RoleArn", deployRole, "Region", t.Region))
		}
		stage = append(stage, kv(
			"OnSuccess", kv("Conditions", []m{kv("Result", "ROLLBACK", "Rules", rules)}),
			"OnFailure", kv("Result", "ROLLBACK"),
		)...)
	}
	return stage
}

func alarmNames(alarms []sluice.Alarm) string {
	var names []string
	for _, a := range alarms {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

func (s *synth) pipelineRole() m {
	route, tooling, region := s.p.Name, s.opts.ToolingAccount, s.opts.ToolingRegion
	keys, byAlias := s.b.keysByAlias()
	var deployRoles []string
	for _, e := range s.envs {
		r := s.b.deploymentRole(e.t)
		if !slices.Contains(deployRoles, r) {
			deployRoles = append(deployRoles, r)
		}
	}
	sort.Strings(deployRoles)
	role := kv("Type", "AWS::IAM::Role", "Properties", kv(
		"RoleName", route+"-SluicePipeline",
		"AssumeRolePolicyDocument", policy(statement("CodePipeline", "Allow", kv("Service", "codepipeline.amazonaws.com"), "sts:AssumeRole", nil,
			"Condition", kv("StringEquals", kv("aws:SourceAccount", tooling)))),
		"Policies", []m{kv("PolicyName", "SluicePipeline", "PolicyDocument", policy(
			statement("UseTheConnection", "Allow", nil, []string{"codestar-connections:UseConnection", "codeconnections:UseConnection"}, kv("Ref", "ConnectionArn")),
			statement("PipelineArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}, s.pipelineObjects()),
			statement("ArtifactBuckets", "Allow", nil, []string{"s3:GetBucketVersioning", "s3:GetBucketLocation"}, s.b.bucketARNs("")),
			statement("ArtifactKeys", "Allow", nil, []string{"kms:GenerateDataKey", "kms:Decrypt"}, keys, "Condition", byAlias),
			statement("RunTheBuilds", "Allow", nil, []string{"codebuild:StartBuild", "codebuild:BatchGetBuilds"}, arn("codebuild", region, tooling, "project/"+route+"-*")),
			statement("AssumeTheDeploymentRoles", "Allow", nil, "sts:AssumeRole", deployRoles),
		))},
	))
	return role
}

// pipelineObjects are the objects of the route's pipelines in every artifact bucket: CodePipeline
// keeps a pipeline's artifacts under the first 20 characters of its name, which begins with the
// route's.
func (s *synth) pipelineObjects() []string {
	return s.b.bucketARNs("/" + s.p.Name[:min(len(s.p.Name), 20)] + "*")
}

func (s *synth) buildRole() m {
	route, tooling, region := s.p.Name, s.opts.ToolingAccount, s.opts.ToolingRegion
	keys, byAlias := s.b.keysByAlias()
	role := kv("Type", "AWS::IAM::Role", "Properties", kv(
		"RoleName", route+"-SluiceBuild",
		"AssumeRolePolicyDocument", policy(statement("CodeBuild", "Allow", kv("Service", "codebuild.amazonaws.com"), "sts:AssumeRole", nil,
			"Condition", kv("StringEquals", kv("aws:SourceAccount", tooling)))),
		"Policies", []m{kv("PolicyName", "SluiceBuild", "PolicyDocument", policy(
			statement("Logs", "Allow", nil, []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
				[]string{arn("logs", region, tooling, "log-group:/aws/codebuild/"+route), arn("logs", region, tooling, "log-group:/aws/codebuild/"+route+":*")}),
			statement("PipelineArtifacts", "Allow", nil, []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}, s.pipelineObjects()),
			statement("ArtifactKeys", "Allow", nil, []string{"kms:GenerateDataKey", "kms:Decrypt"}, keys, "Condition", byAlias),
		))},
	))
	return role
}

// failureRule tells the notification topic, in words, that an execution failed.
func (s *synth) failureRule(pipelines []yaml.MapItem) m {
	var names []any
	for _, p := range pipelines {
		names = append(names, kv("Ref", p.Key))
	}
	return kv("Type", "AWS::Events::Rule", "Properties", kv(
		"Description", "Tells the route's topic when an execution of a pipeline of route "+s.p.Name+" fails",
		"EventPattern", kv("source", []string{"aws.codepipeline"},
			"detail-type", []string{"CodePipeline Pipeline Execution State Change"},
			"detail", kv("state", []string{"FAILED"}, "pipeline", names)),
		"Targets", []m{kv("Id", "NotificationTopic", "Arn", kv("Ref", "NotificationTopicArn"),
			"InputTransformer", kv(
				"InputPathsMap", kv("pipeline", "$.detail.pipeline", "execution", "$.detail.execution-id", "region", "$.region"),
				"InputTemplate", `"Pipeline <pipeline> failed (execution <execution>). See https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>/executions/<execution>/timeline?region=<region>"`,
			))},
	))
}
