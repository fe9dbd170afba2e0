package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// Detail is the aws provider's account of a prepared change set (sluice.ChangeSet.Detail): what
// Apply and Discard need to find the CloudFormation change set again, and what a person reviews.
// The digest covers all of it.
type Detail struct {
	Account   string `json:"account"`
	Region    string `json:"region"`
	Stack     string `json:"stack"`
	ChangeSet string `json:"change_set"` // the CloudFormation change set's name
	// ChangeSetID is its ARN: Apply executes exactly this one, not another made later under
	// the same name.
	ChangeSetID string `json:"change_set_id,omitempty"`
	Type        string `json:"type"` // CREATE or UPDATE
	// ExecutionRole is the role CloudFormation acts with, when the route names one.
	ExecutionRole string `json:"execution_role,omitempty"`
	// TemplateSHA256 is the hex SHA-256 of the template as submitted.
	TemplateSHA256 string            `json:"template_sha256"`
	Parameters     map[string]string `json:"parameters,omitempty"`
	// CodeDeploy is set when the template gives the route's function a SAM
	// DeploymentPreference: CodeDeploy shifts its alias during the stack update, and Sluice
	// observes that deployment (and stops it with rollback when canceled) instead of shifting.
	CodeDeploy bool `json:"codedeploy,omitempty"`
	// StackUnchanged is set when the stack already holds the change set's template and code but
	// the function's alias does not serve them: Apply shifts the alias without a stack update.
	StackUnchanged bool `json:"stack_unchanged,omitempty"`
	// ArtifactKey is the code's key in the artifact bucket, when it was uploaded.
	ArtifactKey string           `json:"artifact_key,omitempty"`
	Resources   []ResourceChange `json:"resources,omitempty"`
}

// ResourceChange is one resource change as DescribeChangeSet reported it.
type ResourceChange struct {
	Action      string           `json:"action"` // Add, Modify, Remove, Import, Dynamic
	LogicalID   string           `json:"logical_id"`
	PhysicalID  string           `json:"physical_id,omitempty"`
	Type        string           `json:"type"`
	Replacement string           `json:"replacement,omitempty"` // True, False, Conditional
	Details     []PropertyChange `json:"details,omitempty"`
}

// PropertyChange is one changed attribute of a resource, with its values where CloudFormation
// gave them (IncludePropertyValues).
type PropertyChange struct {
	Attribute          string `json:"attribute"` // Properties, Metadata, Tags, ...
	Path               string `json:"path,omitempty"`
	Name               string `json:"name,omitempty"`
	RequiresRecreation string `json:"requires_recreation,omitempty"`
	Before             string `json:"before,omitempty"`
	After              string `json:"after,omitempty"`
	ChangeSource       string `json:"change_source,omitempty"`
	CausingEntity      string `json:"causing_entity,omitempty"`
}

// Parameters Sluice sets itself when a template declares them.
const (
	ParamArtifactBucket = "ArtifactBucket"
	ParamArtifactKey    = "ArtifactKey"
	ParamArtifactDigest = "ArtifactDigest"
)

// changeSetLimit bounds the wait for CloudFormation to compute a change set.
const changeSetLimit = 15 * time.Minute

// Prepare uploads the artifact's code, creates the CloudFormation change set that takes the
// stack to the artifact's template and waits for it, and returns it as CloudFormation describes
// it. The change set is named after the template, parameters and change type, so preparing the
// same again finds it.
func (p *Provider) Prepare(ctx context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
	t, err := targetOf(env)
	if err != nil {
		return nil, err
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return nil, err
	}
	stack, err := p.describeStack(ctx, s, t.Stack)
	if err != nil {
		return nil, err
	}
	if err := usable(t.Stack, stack); err != nil {
		return nil, err
	}
	b, err := p.unpack(to.Artifact, t, t.ArtifactBucket != "")
	if err != nil {
		return nil, err
	}
	doc, err := readTemplate(b.template)
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "read template %s: %v", t.Template, err)
	}
	declared := doc.parameters()
	d := &Detail{Account: t.Account, Region: t.Region, Stack: t.Stack, Type: "UPDATE", Parameters: maps.Clone(t.Parameters),
		ExecutionRole: executionRoleARN(t)}
	if stack == nil || stack.StackStatus == cfntypes.StackStatusReviewInProgress {
		d.Type = "CREATE"
	}
	if d.Parameters == nil {
		d.Parameters = map[string]string{}
	}
	for name := range d.Parameters {
		if !slices.Contains(declared, name) {
			return nil, sluice.Errorf(sluice.EINVALID, "parameter %s of environment %s is not declared by template %s; declare it under Parameters or remove it", name, env.Name, t.Template)
		}
	}
	if slices.Contains(declared, ParamArtifactKey) || t.Function != "" {
		if b.code == nil {
			return nil, sluice.Errorf(sluice.EINVALID, "template %s needs the code in S3 but environment %s names no artifact bucket; set artifact_bucket and artifact_kms_key in its aws target", t.Template, env.Name)
		}
		d.ArtifactKey = artifactKey(env.Route, to.Artifact)
		if err := p.upload(ctx, t, d.ArtifactKey, b.code); err != nil {
			return nil, err
		}
	}
	for name, value := range map[string]string{ParamArtifactBucket: t.ArtifactBucket, ParamArtifactKey: d.ArtifactKey, ParamArtifactDigest: to.Artifact} {
		if slices.Contains(declared, name) {
			d.Parameters[name] = value
		}
	}
	sum := sha256.Sum256(b.template)
	d.TemplateSHA256 = hex.EncodeToString(sum[:])
	if t.Function != "" {
		d.CodeDeploy = doc.hasDeploymentPreference(t.Function)
	}
	d.ChangeSet = changeSetName(d)

	desc := fmt.Sprintf("Sluice: %s of %s at %s", short(to.Artifact), env.Route, to.Revision)
	if env.Execution != "" {
		desc += ", execution " + env.Execution
	}
	tags := []cfntypes.Tag{{Key: ptr("sluice:route"), Value: ptr(env.Route)}, {Key: ptr("sluice:environment"), Value: ptr(env.Name)}}
	empty, err := p.createChangeSet(ctx, s, d, b.template, desc, tags)
	if err != nil {
		return nil, err
	}
	if !empty {
		if d.Resources, err = p.describeChanges(ctx, s, d); err != nil {
			return nil, err
		}
	}
	cs := &sluice.ChangeSet{Environment: env.Name, From: live, To: to, Strategy: to.Strategy, Changes: changes(d.Resources)}
	if empty && t.Function != "" && stack != nil && !d.CodeDeploy {
		// The stack already has this code, but its alias may not serve it: a shift that was
		// rolled back leaves the stack updated and the alias on the old version.
		change, err := p.aliasBehind(ctx, s, t)
		if err != nil {
			return nil, err
		}
		if change != nil {
			d.StackUnchanged = true
			cs.Changes = append(cs.Changes, *change)
		}
	}
	if cs.Detail, err = json.Marshal(d); err != nil {
		return nil, err
	}
	deploy.Seal(cs)
	return cs, nil
}

// changeSetName names d's change set after what it submits: the same template, parameters and
// type give the same name, so a second Prepare finds the first one's change set.
func changeSetName(d *Detail) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", d.Stack, d.Type, d.TemplateSHA256, d.ExecutionRole)
	for _, k := range slices.Sorted(maps.Keys(d.Parameters)) {
		fmt.Fprintf(h, "%s=%s\x00", k, d.Parameters[k])
	}
	return "sluice-" + hex.EncodeToString(h.Sum(nil))[:24]
}

// createChangeSet creates d's change set unless one of that name is there to reuse, and waits
// until CloudFormation has computed it; empty is true when it holds no change.
func (p *Provider) createChangeSet(ctx context.Context, s *session, d *Detail, template []byte, desc string, tags []cfntypes.Tag) (empty bool, err error) {
	existing, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{StackName: &d.Stack, ChangeSetName: &d.ChangeSet})
	switch {
	case err == nil && existing.ExecutionStatus == cfntypes.ExecutionStatusAvailable:
		// Prepared before (a retry, or a restart): reuse it.
	case err == nil && existing.Status == cfntypes.ChangeSetStatusFailed && noChanges(existing.StatusReason):
		return true, nil
	case err == nil && inProgress(existing.Status):
	default:
		if err != nil && !notFound(err) {
			return false, fmt.Errorf("look for change set %s of stack %s: %w", d.ChangeSet, d.Stack, err)
		}
		if err == nil {
			// Executed, failed or obsolete under this name: make it anew.
			if err := p.deleteChangeSet(ctx, s, d); err != nil {
				return false, err
			}
		}
		params := make([]cfntypes.Parameter, 0, len(d.Parameters))
		for _, k := range slices.Sorted(maps.Keys(d.Parameters)) {
			params = append(params, cfntypes.Parameter{ParameterKey: ptr(k), ParameterValue: ptr(d.Parameters[k])})
		}
		var roleARN *string
		if d.ExecutionRole != "" {
			roleARN = &d.ExecutionRole
		}
		_, err = s.cfn.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
			RoleARN:   roleARN,
			StackName: &d.Stack, ChangeSetName: &d.ChangeSet, ChangeSetType: cfntypes.ChangeSetType(d.Type),
			TemplateBody: ptr(string(template)), Parameters: params, Description: ptr(desc[:min(len(desc), 1024)]),
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
			Tags:         tags,
		})
		if err != nil {
			return false, fmt.Errorf("create change set %s of stack %s: %w", d.ChangeSet, d.Stack, explain(err))
		}
	}
	var reason string
	err = p.wait(ctx, changeSetLimit, "creating change set "+d.ChangeSet, func() (bool, error) {
		out, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{StackName: &d.Stack, ChangeSetName: &d.ChangeSet})
		if err != nil {
			return false, fmt.Errorf("read change set %s of stack %s: %w", d.ChangeSet, d.Stack, err)
		}
		d.ChangeSetID = deref(out.ChangeSetId)
		if out.Status == cfntypes.ChangeSetStatusFailed {
			reason = deref(out.StatusReason)
			empty = noChanges(out.StatusReason)
			return true, nil
		}
		return out.Status == cfntypes.ChangeSetStatusCreateComplete, nil
	})
	if err != nil {
		return false, err
	}
	if reason != "" && !empty {
		return false, sluice.Errorf(sluice.EINVALID, "CloudFormation could not create change set %s of stack %s: %s", d.ChangeSet, d.Stack, reason)
	}
	return empty, nil
}

func inProgress(s cfntypes.ChangeSetStatus) bool {
	return s == cfntypes.ChangeSetStatusCreatePending || s == cfntypes.ChangeSetStatusCreateInProgress
}

// noChanges reports whether a failed change set failed only because nothing would change.
func noChanges(reason *string) bool {
	r := deref(reason)
	return strings.Contains(r, "didn't contain changes") || strings.Contains(r, "No updates are to be performed")
}

// describeChanges reads every page of the change set's description, with property values.
func (p *Provider) describeChanges(ctx context.Context, s *session, d *Detail) ([]ResourceChange, error) {
	var out []ResourceChange
	var next *string
	for {
		page, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{
			StackName: &d.Stack, ChangeSetName: &d.ChangeSet, NextToken: next, IncludePropertyValues: ptr(true),
		})
		if err != nil {
			return nil, fmt.Errorf("describe change set %s of stack %s: %w", d.ChangeSet, d.Stack, err)
		}
		for _, c := range page.Changes {
			rc := c.ResourceChange
			if rc == nil {
				continue
			}
			r := ResourceChange{Action: string(rc.Action), LogicalID: deref(rc.LogicalResourceId), PhysicalID: deref(rc.PhysicalResourceId),
				Type: deref(rc.ResourceType), Replacement: string(rc.Replacement)}
			for _, det := range rc.Details {
				pc := PropertyChange{ChangeSource: string(det.ChangeSource), CausingEntity: deref(det.CausingEntity)}
				if tg := det.Target; tg != nil {
					pc.Attribute, pc.Path, pc.Name = string(tg.Attribute), deref(tg.Path), deref(tg.Name)
					pc.RequiresRecreation = string(tg.RequiresRecreation)
					pc.Before, pc.After = deref(tg.BeforeValue), deref(tg.AfterValue)
				}
				r.Details = append(r.Details, pc)
			}
			out = append(out, r)
		}
		if page.NextToken == nil || *page.NextToken == "" {
			break
		}
		next = page.NextToken
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out, nil
}

// changes turns CloudFormation's resource changes into the lines a person reviews. Every one
// needs the change set executed, a new version of the environment, so each Replaces (whether
// CloudFormation replaces the resource is in the line's text): a change that only moved the
// engine's recorded strategy would leave the stack as it was.
func changes(rs []ResourceChange) []sluice.Change {
	var out []sluice.Change
	for _, r := range rs {
		const replaces = true
		switch {
		case r.Action == "Add":
			out = append(out, sluice.Change{Field: r.LogicalID, From: "(none)", To: "add " + r.Type, Replaces: true})
		case r.Action == "Remove":
			out = append(out, sluice.Change{Field: r.LogicalID, From: r.Type, To: "(removed)", Replaces: true})
		case len(r.Details) == 0:
			out = append(out, sluice.Change{Field: r.LogicalID, From: r.Type, To: strings.ToLower(r.Action) + replacement(r.Replacement), Replaces: replaces})
		default:
			for _, pc := range r.Details {
				field := r.LogicalID + "." + pc.Attribute
				switch {
				case pc.Path != "":
					field = r.LogicalID + strings.ReplaceAll(pc.Path, "/", ".")
				case pc.Name != "":
					field += "." + pc.Name
				}
				from, to := pc.Before, pc.After
				if from == "" && to == "" {
					to = "modified by " + sourceText(pc) + replacement(r.Replacement)
				}
				out = append(out, sluice.Change{Field: field, From: from, To: to, Replaces: replaces})
			}
		}
	}
	return out
}

func replacement(r string) string {
	switch r {
	case "True":
		return " (replaces the resource)"
	case "Conditional":
		return " (may replace the resource)"
	}
	return ""
}

func sourceText(pc PropertyChange) string {
	if pc.CausingEntity != "" {
		return pc.CausingEntity
	}
	if pc.ChangeSource != "" {
		return strings.ToLower(pc.ChangeSource)
	}
	return "CloudFormation"
}

// Discard deletes the CloudFormation change set, if it is still there.
func (p *Provider) Discard(ctx context.Context, env deploy.Environment, cs *sluice.ChangeSet) error {
	d, err := detailOf(cs)
	if err != nil || d == nil {
		return err
	}
	t, err := targetOf(env)
	if err != nil {
		return err
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return err
	}
	return p.deleteChangeSet(ctx, s, d)
}

func (p *Provider) deleteChangeSet(ctx context.Context, s *session, d *Detail) error {
	_, err := s.cfn.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{StackName: &d.Stack, ChangeSetName: ptr(d.ref())})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete change set %s of stack %s: %w", d.ChangeSet, d.Stack, err)
	}
	return nil
}

// ref names the change set for CloudFormation: its ARN when known, else its name.
func (d *Detail) ref() string {
	if d.ChangeSetID != "" {
		return d.ChangeSetID
	}
	return d.ChangeSet
}

// detailOf reads the provider's detail of cs; nil for a change set without one.
func detailOf(cs *sluice.ChangeSet) (*Detail, error) {
	if cs == nil || len(cs.Detail) == 0 {
		return nil, nil
	}
	var d Detail
	if err := json.Unmarshal(cs.Detail, &d); err != nil || d.Stack == "" || d.ChangeSet == "" {
		return nil, sluice.Errorf(sluice.ECORRUPT, "change set %s carries no readable aws detail; prepare it again", short(cs.Digest))
	}
	return &d, nil
}

// describeStack returns the stack, or nil when there is none.
func (p *Provider) describeStack(ctx context.Context, s *session, name string) (*cfntypes.Stack, error) {
	out, err := s.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stack %s: %w", name, explain(err))
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// usable reports a stack that no change set can be applied to now, and what to do about it.
func usable(name string, st *cfntypes.Stack) error {
	if st == nil {
		return nil
	}
	status := string(st.StackStatus)
	switch {
	case status == "REVIEW_IN_PROGRESS":
		return nil
	case status == "UPDATE_ROLLBACK_FAILED":
		return sluice.Errorf(sluice.ECONFLICT, "stack %s is UPDATE_ROLLBACK_FAILED (%s); fix the resource named there, run aws cloudformation continue-update-rollback --stack-name %s, and run again", name, deref(st.StackStatusReason), name)
	case status == "ROLLBACK_COMPLETE" || status == "ROLLBACK_FAILED" || status == "DELETE_FAILED":
		return sluice.Errorf(sluice.ECONFLICT, "stack %s is %s after a failed creation and cannot be updated; delete it (aws cloudformation delete-stack --stack-name %s) and run again", name, status, name)
	case strings.HasSuffix(status, "_IN_PROGRESS"):
		return sluice.Errorf(sluice.ECONFLICT, "stack %s is %s: another change is under way; wait for it to finish (aws cloudformation wait stack-update-complete --stack-name %s) and run again", name, status, name)
	}
	return nil
}

// templateDoc is a template as far as the provider reads it: the mapping of its sections.
// YAML and JSON templates both parse; short-form intrinsics (!Ref, !Sub) are tags the parser
// keeps.
type templateDoc struct{ top ast.Node }

func readTemplate(data []byte) (*templateDoc, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, errors.New("the template is empty")
	}
	switch f.Docs[0].Body.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return &templateDoc{top: f.Docs[0].Body}, nil
	}
	return nil, errors.New("the template is not a mapping of sections (Resources, Parameters, ...)")
}

// parameters returns the names under the template's Parameters.
func (d *templateDoc) parameters() []string {
	var names []string
	switch v := child(d.top, "Parameters").(type) {
	case *ast.MappingNode:
		for _, p := range v.Values {
			names = append(names, keyName(p.Key))
		}
	case *ast.MappingValueNode:
		names = append(names, keyName(v.Key))
	}
	return names
}

// hasDeploymentPreference reports whether the template's resource logical has a
// DeploymentPreference (a SAM function whose alias CodeDeploy shifts).
func (d *templateDoc) hasDeploymentPreference(logical string) bool {
	node := d.top
	for _, key := range []string{"Resources", logical, "Properties", "DeploymentPreference"} {
		if node = child(node, key); node == nil {
			return false
		}
	}
	return true
}

// child is the value at key of a mapping node, or nil.
func child(n ast.Node, key string) ast.Node {
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	case *ast.TagNode:
		return child(v.Value, key)
	}
	for _, mv := range values {
		if keyName(mv.Key) == key {
			if mv.Value == nil {
				return &ast.NullNode{}
			}
			return mv.Value
		}
	}
	return nil
}

// keyName is a mapping key's text, without quotes.
func keyName(k ast.MapKeyNode) string {
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return strings.Trim(k.String(), `"'`)
}

// explain adds what to do to the AWS errors people meet most.
func explain(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch api.ErrorCode() {
	case "AccessDenied", "AccessDeniedException":
		return fmt.Errorf("%w (the deployment role lacks a permission; `sluice aws bootstrap` writes a role with the ones Sluice needs)", err)
	case "ExpiredToken", "ExpiredTokenException":
		return fmt.Errorf("%w (the tooling account's credentials expired; refresh them and run again)", err)
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// aliasBehind returns the change that puts the function's alias on the stack's code, or nil
// when the alias serves it already.
func (p *Provider) aliasBehind(ctx context.Context, s *session, t *Target) (*sluice.Change, error) {
	fn, err := p.functionName(ctx, s, t)
	if err != nil {
		return nil, err
	}
	served, _, err := aliasVersion(ctx, s, fn, t.Alias)
	if err != nil {
		return nil, err
	}
	latest, err := s.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &fn})
	if err != nil {
		return nil, fmt.Errorf("read function %s: %w", fn, explain(err))
	}
	want := ""
	if latest.Configuration != nil {
		want = deref(latest.Configuration.CodeSha256)
	}
	from := "nothing"
	if served != "" {
		cur, err := s.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &fn, Qualifier: &served})
		if err != nil {
			return nil, fmt.Errorf("read version %s of %s: %w", served, fn, explain(err))
		}
		if cur.Configuration != nil && deref(cur.Configuration.CodeSha256) == want {
			return nil, nil
		}
		from = "version " + served
	}
	return &sluice.Change{Field: t.Function + " alias " + t.Alias, From: from, To: "the stack's code (sha256 " + want + ")", Replaces: true}, nil
}
