package fakeaws

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var cloudFormationProtocol = &queryProtocol{
	namespace: "http://cloudformation.amazonaws.com/doc/2010-05-15/",
	version:   "2010-05-15",
	handlers: map[string]func(*request, url.Values) (any, error){
		"CreateChangeSet":       createChangeSet,
		"DescribeChangeSet":     describeChangeSet,
		"ExecuteChangeSet":      executeChangeSet,
		"DeleteChangeSet":       deleteChangeSet,
		"ListChangeSets":        listChangeSets,
		"DescribeStacks":        describeStacks,
		"DescribeStackEvents":   describeStackEvents,
		"DescribeStackResource": describeStackResource,
		"DeleteStack":           deleteStackAction,
	},
}

var (
	stackNamePattern     = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)
	changeSetNamePattern = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)
	capabilityNames      = []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
)

// queryList reads an awsQuery list of scalars: Name.member.1, Name.member.2, …
func queryList(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		k := name + ".member." + strconv.Itoa(i)
		if !form.Has(k) {
			return out
		}
		out = append(out, form.Get(k))
	}
}

// queryStructs reads an awsQuery list of structures: Name.member.1.Field, …
func queryStructs(form url.Values, name string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		prefix := name + ".member." + strconv.Itoa(i) + "."
		m := map[string]string{}
		for k, v := range form {
			if field, ok := strings.CutPrefix(k, prefix); ok {
				m[field] = v[0]
			}
		}
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

// namedStack finds the live stack the request's StackName names; Server.mu is held.
func (r *request) namedStack(form url.Values) (*stack, error) {
	name := form.Get("StackName")
	if name == "" {
		return nil, missingParameter("stackName")
	}
	st := r.state().findStack(name)
	if st == nil {
		return nil, validation("Stack [%s] does not exist", name)
	}
	return st, nil
}

// namedChangeSet finds the change set the request's ChangeSetName (and StackName) name;
// Server.mu is held.
func (r *request) namedChangeSet(form url.Values) (*changeSet, error) {
	if form.Get("ChangeSetName") == "" {
		return nil, missingParameter("changeSetName")
	}
	return r.state().findChangeSet(form.Get("ChangeSetName"), form.Get("StackName"))
}

func missingParameter(field string) *apiError {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

func changeSetNotFound(name string) *apiError {
	return &apiError{Code: "ChangeSetNotFound", Status: 404, Message: fmt.Sprintf("ChangeSet [%s] does not exist", name)}
}

func validation(format string, args ...any) *apiError {
	return errorf("ValidationError", format, args...)
}

// findStack finds a live stack by name, or any stack (deleted ones too) by ID.
func (reg *region) findStack(nameOrID string) *stack {
	for i := len(reg.stacks) - 1; i >= 0; i-- {
		st := reg.stacks[i]
		if st.id == nameOrID || (st.name == nameOrID && !st.deleted) {
			return st
		}
	}
	return nil
}

func (reg *region) findChangeSet(nameOrID, stackName string) (*changeSet, error) {
	if strings.HasPrefix(nameOrID, "arn:") {
		for _, st := range reg.stacks {
			for _, cs := range st.changeSets {
				if cs.id == nameOrID {
					return cs, nil
				}
			}
		}
		return nil, changeSetNotFound(nameOrID)
	}
	if stackName == "" {
		return nil, validation("StackName must be specified if ChangeSetName is not specified as an ARN.")
	}
	st := reg.findStack(stackName)
	if st == nil {
		return nil, changeSetNotFound(nameOrID)
	}
	for _, cs := range st.changeSets {
		if cs.name == nameOrID {
			return cs, nil
		}
	}
	return nil, changeSetNotFound(nameOrID)
}

// requiredCapabilities says which capabilities a template needs to be acknowledged.
func requiredCapabilities(t *template) string {
	need := ""
	for _, r := range t.resources {
		switch {
		case strings.HasPrefix(r.Type, "AWS::IAM::"):
			for _, p := range []string{"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"} {
				if _, ok := r.Properties[p]; ok {
					return "CAPABILITY_NAMED_IAM"
				}
			}
			need = "CAPABILITY_IAM"
		case r.Type == samFunction:
			if _, ok := r.Properties["Role"]; !ok {
				need = "CAPABILITY_IAM"
			}
		}
	}
	return need
}

type createChangeSetResult struct {
	Id      string
	StackId string
}

func createChangeSet(r *request, form url.Values) (any, error) {
	stackName, name := form.Get("StackName"), form.Get("ChangeSetName")
	csType := form.Get("ChangeSetType")
	if csType == "" {
		csType = "UPDATE"
	}
	switch {
	case stackName == "":
		return nil, missingParameter("stackName")
	case !stackNamePattern.MatchString(stackName):
		return nil, validation("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", stackName)
	case name == "":
		return nil, missingParameter("changeSetName")
	case !changeSetNamePattern.MatchString(name):
		return nil, validation("1 validation error detected: Value '%s' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name)
	case csType != "CREATE" && csType != "UPDATE":
		if csType == "IMPORT" {
			return nil, validation("the fake does not implement ChangeSetType IMPORT")
		}
		return nil, validation("1 validation error detected: Value '%s' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [UPDATE, IMPORT, CREATE]", csType)
	}
	capabilities := queryList(form, "Capabilities")
	for _, c := range capabilities {
		if !slices.Contains(capabilityNames, c) {
			return nil, validation("1 validation error detected: Value '[%s]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]", c)
		}
	}
	body, usePrevious := form.Get("TemplateBody"), form.Get("UsePreviousTemplate") == "true"
	if form.Get("TemplateURL") != "" {
		return nil, validation("the fake takes templates as TemplateBody only, not TemplateURL")
	}
	if (body == "") == !usePrevious {
		return nil, validation("Specify exactly one of TemplateBody, TemplateURL or UsePreviousTemplate")
	}

	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	roleARN := form.Get("RoleARN")
	if roleARN != "" {
		// CloudFormation assumes the execution role: it must exist in the stack's account.
		if role, ok := r.s.roles[roleARN]; !ok || role.Account != r.account {
			return nil, validation("Role %s is invalid or cannot be assumed", roleARN)
		}
	}
	reg := r.state()
	st := reg.findStack(stackName)
	switch {
	case csType == "CREATE" && st != nil && st.status != reviewInProgress:
		return nil, errorf("AlreadyExistsException", "Stack [%s] already exists and cannot be created again with the changeSet [%s].", stackName, name)
	case csType == "UPDATE" && (st == nil || st.status == reviewInProgress):
		return nil, validation("Stack [%s] does not exist", stackName)
	case csType == "UPDATE" && !strings.Contains(stackStatusesThatAcceptChangeSets, st.status):
		return nil, validation("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	if st != nil {
		for _, cs := range st.changeSets {
			if cs.name == name {
				return nil, errorf("AlreadyExistsException", "ChangeSet %s already exists", name)
			}
		}
	}
	var t *template
	if usePrevious {
		if st == nil || st.template == nil {
			return nil, validation("UsePreviousTemplate can only be used with an existing stack")
		}
		t = st.template.source
	} else {
		var err error
		if t, err = parseTemplate(body); err != nil {
			return nil, err
		}
	}
	params, order, err := changeSetParameters(t, st, queryStructs(form, "Parameters"))
	if err != nil {
		return nil, err
	}
	x := &resolver{account: r.account, region: r.region, st: &stack{name: stackName}}
	if st != nil {
		x.st = st
	}
	if t, err = t.withConditions(params, func(name string) (string, bool) {
		if name == "AWS::StackId" && x.st.id == "" {
			return "", false // not known before the stack exists
		}
		return x.ref(name)
	}); err != nil {
		return nil, err
	}
	if need := requiredCapabilities(t); need != "" && !slices.Contains(capabilities, need) && !(need == "CAPABILITY_IAM" && slices.Contains(capabilities, "CAPABILITY_NAMED_IAM")) {
		return nil, errorf("InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
	}

	now := r.s.cfg.Now()
	if st == nil {
		st = &stack{
			name: stackName, created: now, status: reviewInProgress, resources: map[string]*stackResource{},
			id:       fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", r.region, r.account, stackName, newRequestID()),
			failures: map[string]string{},
		}
		reg.stacks = append(reg.stacks, st)
		st.stackEvent(now, reviewInProgress, userInitiated)
	}
	cs := &changeSet{
		name: name, stack: st, changeSetType: csType,
		id:          fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/%s/%s", r.region, r.account, name, newRequestID()),
		status:      changeSetCreatePending,
		description: form.Get("Description"), created: now,
		template: t, params: params, paramOrder: order, capabilities: capabilities, roleARN: roleARN,
		executionStatus: executionUnavailable,
	}
	cs.changes = diffResources(st, t, params)
	st.changeSets = append(st.changeSets, cs)
	noChanges := len(cs.changes) == 0 && st.template != nil && canonicalJSON(templateValue(st.template)) == canonicalJSON(templateValue(t)) && mapsEqual(st.params, params)
	delay := r.s.cfg.ChangeSetDelay
	r.s.background(func() {
		if !r.s.pause(delay) {
			return
		}
		r.s.mu.Lock()
		cs.status = changeSetCreateInProgress
		r.s.mu.Unlock()
		if !r.s.pause(delay) {
			return
		}
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		if noChanges {
			cs.status, cs.statusReason = changeSetFailed, noChangesReason
			return
		}
		cs.status, cs.executionStatus = changeSetCreateComplete, executionAvailable
	})
	return createChangeSetResult{Id: cs.id, StackId: st.id}, nil
}

// templateValue is what a template says, for comparing two templates.
func templateValue(t *template) any {
	resources := map[string]any{}
	for id, r := range t.resources {
		resources[id] = map[string]any{"Type": r.Type, "Properties": r.Properties}
	}
	outputs := map[string]any{}
	for id, o := range t.outputs {
		outputs[id] = map[string]any{"Value": o.Value, "Description": o.Description}
	}
	return map[string]any{"Resources": resources, "Outputs": outputs}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// changeSetParameters checks the given parameters against the template: each is declared,
// each without a default is given, previous values exist.
func changeSetParameters(t *template, st *stack, given []map[string]string) (map[string]string, []string, error) {
	values := map[string]string{}
	var unknown []string
	for _, p := range given {
		key := p["ParameterKey"]
		if _, ok := t.parameters[key]; !ok {
			unknown = append(unknown, key)
			continue
		}
		if p["UsePreviousValue"] == "true" {
			prev, ok := "", false
			if st != nil {
				prev, ok = st.params[key]
			}
			if !ok {
				return nil, nil, validation("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", key)
			}
			values[key] = prev
			continue
		}
		values[key] = p["ParameterValue"]
	}
	if len(unknown) > 0 {
		return nil, nil, validation("Parameters: [%s] do not exist in the template", strings.Join(unknown, ", "))
	}
	var missing []string
	order := slices.Sorted(func(yield func(string) bool) {
		for k := range t.parameters {
			if !yield(k) {
				return
			}
		}
	})
	for _, key := range order {
		p := t.parameters[key]
		if _, ok := values[key]; !ok {
			if p.Default == nil {
				missing = append(missing, key)
				continue
			}
			values[key] = *p.Default
		}
		if _, err := strconv.ParseFloat(values[key], 64); p.Type == "Number" && err != nil {
			return nil, nil, validation("Parameter '%s' must be a number.", key)
		}
		if len(p.AllowedValue) > 0 && !slices.Contains(p.AllowedValue, values[key]) {
			return nil, nil, validation("Parameter '%s' must be one of AllowedValues", key)
		}
	}
	if len(missing) > 0 {
		return nil, nil, validation("Parameters: [%s] must have values", strings.Join(missing, ", "))
	}
	return values, order, nil
}

type parameterXML struct {
	ParameterKey   string
	ParameterValue string
}

type changeXML struct {
	Type           string
	ResourceChange struct {
		Action             string
		LogicalResourceId  string
		PhysicalResourceId string `xml:",omitempty"`
		ResourceType       string
		Replacement        string      `xml:",omitempty"`
		Scope              []string    `xml:"Scope>member"`
		Details            []detailXML `xml:"Details>member"`
		BeforeContext      string      `xml:",omitempty"`
		AfterContext       string      `xml:",omitempty"`
	}
}

type detailXML struct {
	Target struct {
		Attribute           string
		Name                string
		RequiresRecreation  string
		Path                string
		BeforeValue         *string `xml:",omitempty"`
		AfterValue          *string `xml:",omitempty"`
		AttributeChangeType string
	}
	Evaluation   string
	ChangeSource string
}

type describeChangeSetResult struct {
	ChangeSetName       string
	ChangeSetId         string
	StackId             string
	StackName           string
	Description         string         `xml:",omitempty"`
	Parameters          []parameterXML `xml:"Parameters>member"`
	CreationTime        string
	ExecutionStatus     string
	Status              string
	StatusReason        string      `xml:",omitempty"`
	Capabilities        []string    `xml:"Capabilities>member"`
	Changes             []changeXML `xml:"Changes>member"`
	IncludeNestedStacks bool
}

func describeChangeSet(r *request, form url.Values) (any, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	cs, err := r.namedChangeSet(form)
	if err != nil {
		return nil, err
	}
	withValues := form.Get("IncludePropertyValues") == "true"
	res := describeChangeSetResult{
		ChangeSetName: cs.name, ChangeSetId: cs.id, StackId: cs.stack.id, StackName: cs.stack.name,
		Description: cs.description, CreationTime: cs.created.UTC().Format(time.RFC3339Nano),
		ExecutionStatus: cs.executionStatus, Status: cs.status, StatusReason: cs.statusReason,
		Capabilities: cs.capabilities,
	}
	for _, k := range cs.paramOrder {
		v := cs.params[k]
		if cs.template.parameters[k].NoEcho {
			v = "****"
		}
		res.Parameters = append(res.Parameters, parameterXML{k, v})
	}
	if cs.status != changeSetCreateComplete {
		return res, nil // changes are listed once the change set is created
	}
	for _, c := range cs.changes {
		var x changeXML
		x.Type = "Resource"
		rc := &x.ResourceChange
		rc.Action, rc.LogicalResourceId, rc.PhysicalResourceId, rc.ResourceType, rc.Replacement = c.Action, c.LogicalID, c.PhysicalID, c.ResourceType, c.Replacement
		if c.Action == "Modify" {
			rc.Scope = []string{"Properties"}
		}
		for _, d := range c.Details {
			var dx detailXML
			dx.Target.Attribute, dx.Target.Name, dx.Target.RequiresRecreation = "Properties", d.Name, d.RequiresRecreation
			dx.Target.Path, dx.Target.AttributeChangeType = "/Properties/"+d.Name, d.ChangeType
			if withValues {
				if d.ChangeType != "Add" {
					dx.Target.BeforeValue = &d.Before
				}
				if d.ChangeType != "Remove" {
					dx.Target.AfterValue = &d.After
				}
			}
			dx.Evaluation, dx.ChangeSource = "Static", "DirectModification"
			rc.Details = append(rc.Details, dx)
		}
		if withValues {
			if c.Before != "" {
				rc.BeforeContext = `{"Properties":` + c.Before + `}`
			}
			if c.After != "" {
				rc.AfterContext = `{"Properties":` + c.After + `}`
			}
		}
		res.Changes = append(res.Changes, x)
	}
	return res, nil
}

func executeChangeSet(r *request, form url.Values) (any, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	cs, err := r.namedChangeSet(form)
	if err != nil {
		return nil, err
	}
	st := cs.stack
	if cs.status != changeSetCreateComplete || cs.executionStatus != executionAvailable {
		return nil, errorf("InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed in its current status of [%s]", cs.id, cs.status)
	}
	ready := st.status == reviewInProgress
	if cs.changeSetType == "UPDATE" {
		ready = strings.Contains(stackStatusesThatAcceptChangeSets, st.status)
	}
	if !ready {
		return nil, errorf("InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed because stack [%s] is in %s state", cs.id, st.name, st.status)
	}
	cs.executionStatus = executionInProgress
	// Executing a change set makes the stack's other change sets obsolete, and CloudFormation
	// deletes them.
	st.changeSets = []*changeSet{cs}
	st.lastChangeSet = cs.id
	x := r.s.beginExecution(st, cs)
	r.s.background(func() { r.s.executeChangeSet(reg, st, cs, x) })
	return nil, nil
}

func deleteChangeSet(r *request, form url.Values) (any, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	cs, err := r.namedChangeSet(form)
	if err != nil {
		return nil, err
	}
	if cs.executionStatus == executionInProgress || cs.status == changeSetCreatePending || cs.status == changeSetCreateInProgress {
		return nil, errorf("InvalidChangeSetStatus", "ChangeSet [%s] cannot be deleted in its current status", cs.id)
	}
	st := cs.stack
	st.changeSets = slices.DeleteFunc(st.changeSets, func(c *changeSet) bool { return c == cs })
	return nil, nil
}

type changeSetSummaryXML struct {
	StackId         string
	StackName       string
	ChangeSetId     string
	ChangeSetName   string
	ExecutionStatus string
	Status          string
	StatusReason    string `xml:",omitempty"`
	CreationTime    string
	Description     string `xml:",omitempty"`
}

type listChangeSetsResult struct {
	Summaries []changeSetSummaryXML `xml:"Summaries>member"`
}

func listChangeSets(r *request, form url.Values) (any, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st, err := r.namedStack(form)
	if err != nil {
		return nil, err
	}
	var res listChangeSetsResult
	for _, cs := range st.changeSets {
		res.Summaries = append(res.Summaries, changeSetSummaryXML{
			StackId: st.id, StackName: st.name, ChangeSetId: cs.id, ChangeSetName: cs.name,
			ExecutionStatus: cs.executionStatus, Status: cs.status, StatusReason: cs.statusReason,
			CreationTime: cs.created.UTC().Format(time.RFC3339Nano), Description: cs.description,
		})
	}
	return res, nil
}

type stackXML struct {
	StackId                     string
	StackName                   string
	ChangeSetId                 string `xml:",omitempty"`
	CreationTime                string
	LastUpdatedTime             string `xml:",omitempty"`
	StackStatus                 string
	StackStatusReason           string           `xml:",omitempty"`
	Parameters                  []parameterXML   `xml:"Parameters>member"`
	Capabilities                []string         `xml:"Capabilities>member"`
	Outputs                     []stackOutputXML `xml:"Outputs>member"`
	DisableRollback             bool
	EnableTerminationProtection bool
	RoleARN                     string `xml:",omitempty"`
}

type stackOutputXML struct {
	OutputKey   string
	OutputValue string
	Description string `xml:",omitempty"`
	ExportName  string `xml:",omitempty"`
}

type describeStacksResult struct {
	Stacks []stackXML `xml:"Stacks>member"`
}

func describeStacks(r *request, form url.Values) (any, error) {
	name := form.Get("StackName")
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	var stacks []*stack
	if name != "" {
		st := reg.findStack(name)
		if st == nil {
			return nil, validation("Stack with id %s does not exist", name)
		}
		stacks = []*stack{st}
	} else {
		for _, st := range reg.stacks {
			if !st.deleted {
				stacks = append(stacks, st)
			}
		}
	}
	var res describeStacksResult
	for _, st := range stacks {
		x := stackXML{
			StackId: st.id, StackName: st.name, ChangeSetId: st.lastChangeSet,
			CreationTime: st.created.UTC().Format(time.RFC3339Nano),
			StackStatus:  st.status, StackStatusReason: st.reason, Capabilities: st.capabilities, RoleARN: st.roleARN,
		}
		if !st.updated.IsZero() {
			x.LastUpdatedTime = st.updated.UTC().Format(time.RFC3339Nano)
		}
		for _, k := range st.paramOrder {
			v := st.params[k]
			if st.template != nil && st.template.parameters[k].NoEcho {
				v = "****"
			}
			x.Parameters = append(x.Parameters, parameterXML{k, v})
		}
		for _, o := range st.outputs {
			x.Outputs = append(x.Outputs, stackOutputXML(o))
		}
		res.Stacks = append(res.Stacks, x)
	}
	return res, nil
}

type describeStackEventsResult struct {
	StackEvents []stackEvent `xml:"StackEvents>member"`
	NextToken   string       `xml:",omitempty"`
}

// eventsPage is how many events one DescribeStackEvents page holds, as in AWS.
const eventsPage = 100

func describeStackEvents(r *request, form url.Values) (any, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st, err := r.namedStack(form)
	if err != nil {
		return nil, err
	}
	// A token is the index of the newest event the next page holds, so that events written
	// while a caller pages do not shift what it has not read yet.
	next := len(st.events) - 1
	if tok := form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n >= len(st.events) {
			return nil, validation("Invalid NextToken")
		}
		next = n
	}
	var res describeStackEventsResult
	for ; next >= 0 && len(res.StackEvents) < eventsPage; next-- {
		res.StackEvents = append(res.StackEvents, st.events[next])
	}
	if next >= 0 {
		res.NextToken = strconv.Itoa(next)
	}
	return res, nil
}

func deleteStackAction(r *request, form url.Values) (any, error) {
	name := form.Get("StackName")
	if name == "" {
		return nil, missingParameter("stackName")
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	st := reg.findStack(name)
	if st == nil || st.deleted || st.status == deleteInProgress {
		return nil, nil // deleting what is gone or going succeeds, as in AWS
	}
	if st.inProgress() {
		return nil, validation("Stack [%s] cannot be deleted while in status %s", st.name, st.status)
	}
	st.changeSets = nil
	st.stackEvent(r.s.cfg.Now(), deleteInProgress, userInitiated)
	r.s.background(func() { r.s.deleteStack(reg, st) })
	return nil, nil
}
