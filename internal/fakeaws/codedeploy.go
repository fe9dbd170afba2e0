package fakeaws

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Deployment is a CodeDeploy deployment of a Lambda alias, as tests start it with
// Server.StartDeployment (SAM's DeploymentPreference makes one in AWS).
type Deployment struct {
	Application string
	Group       string
	Config      string // such as CodeDeployDefault.LambdaLinear10PercentEvery1Minute; if empty, CodeDeployDefault.LambdaAllAtOnce
	Function    string // the function whose alias moves
	Alias       string
	// From and To are the versions the alias moves between: when the deployment succeeds the
	// alias points at To; when it is stopped with rollback, at From.
	From, To string
}

// Deployment statuses, as CodeDeploy names them.
const (
	DeploymentCreated    = "Created"
	DeploymentInProgress = "InProgress"
	DeploymentSucceeded  = "Succeeded"
	DeploymentFailed     = "Failed"
	DeploymentStopped    = "Stopped"
)

type deployment struct {
	Deployment
	id                   string
	status               string
	errorCode, errorText string
	created, completed   time.Time
	rolledBack           bool
}

var codeDeployProtocol = &jsonProtocol{
	targetPrefix: "CodeDeploy_20141006",
	handlers: map[string]func(*request) (any, error){
		"GetDeployment":   getDeployment,
		"StopDeployment":  stopDeployment,
		"ListDeployments": listDeployments,
	},
}

var deploymentIDPattern = regexp.MustCompile(`^d-[A-Z0-9]{9}$`)

func (reg *region) findDeployment(id string) (*deployment, error) {
	switch {
	case id == "":
		return nil, errorf("DeploymentIdRequiredException", "Deployment Id is required")
	case !deploymentIDPattern.MatchString(id):
		return nil, errorf("InvalidDeploymentIdException", "Specified DeploymentId is not in the valid format: %s", id)
	}
	d := reg.deployments[id]
	if d == nil {
		return nil, errorf("DeploymentDoesNotExistException", "The deployment %s could not be found in account %s.", id, reg.account)
	}
	return d, nil
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return json.Number(fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000))
}

func getDeployment(r *request) (any, error) {
	var in struct{ DeploymentId string }
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	d, err := r.state().findDeployment(in.DeploymentId)
	if err != nil {
		return nil, err
	}
	overview := map[string]int{"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
	switch d.status {
	case DeploymentCreated:
		overview["Pending"] = 1
	case DeploymentInProgress:
		overview["InProgress"] = 1
	case DeploymentSucceeded:
		overview["Succeeded"] = 1
	case DeploymentFailed, DeploymentStopped:
		overview["Failed"] = 1
	}
	info := map[string]any{
		"applicationName": d.Application, "deploymentGroupName": d.Group, "deploymentConfigName": d.Config,
		"deploymentId": d.id, "status": d.status, "createTime": epoch(d.created), "startTime": epoch(d.created),
		"computePlatform": "Lambda", "creator": "user", "deploymentOverview": overview,
	}
	if !d.completed.IsZero() {
		info["completeTime"] = epoch(d.completed)
	}
	if d.errorCode != "" {
		info["errorInformation"] = map[string]string{"code": d.errorCode, "message": d.errorText}
	}
	if d.rolledBack {
		info["rollbackInfo"] = map[string]string{"rollbackMessage": "Deployment stopped and rolled back by request"}
	}
	return map[string]any{"deploymentInfo": info}, nil
}

func stopDeployment(r *request) (any, error) {
	var in struct {
		DeploymentId        string `json:"deploymentId"`
		AutoRollbackEnabled *bool  `json:"autoRollbackEnabled"`
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	d, err := reg.findDeployment(in.DeploymentId)
	if err != nil {
		return nil, err
	}
	if d.status == DeploymentSucceeded || d.status == DeploymentFailed || d.status == DeploymentStopped {
		return nil, errorf("DeploymentAlreadyCompletedException", "The deployment %s has already completed.", d.id)
	}
	rollback := in.AutoRollbackEnabled == nil || *in.AutoRollbackEnabled
	reg.finishDeployment(d, DeploymentStopped, "DEPLOYMENT_STOPPED", "The deployment was stopped by a user", rollback, r.s.cfg.Now())
	return map[string]any{"status": "Succeeded", "statusMessage": "Deployment stopped"}, nil
}

// finishDeployment ends a deployment; a success points the alias at To, a rollback at From.
func (reg *region) finishDeployment(d *deployment, status, code, text string, rollback bool, now time.Time) {
	d.status, d.errorCode, d.errorText, d.completed, d.rolledBack = status, code, text, now, rollback
	version := ""
	switch {
	case status == DeploymentSucceeded:
		version = d.To
	case rollback:
		version = d.From
	}
	fn := reg.functions[d.Function]
	if fn == nil || version == "" {
		return
	}
	if a := fn.aliases[d.Alias]; a != nil {
		a.functionVersion, a.weights, a.revisionID = version, nil, newRequestID()
		reg.recordAlias(fn, a, "")
	}
}

// deploymentGroups lists the CodeDeploy applications and their deployment groups: those SAM
// made in stacks and those of deployments tests started.
func (reg *region) deploymentGroups() map[string]map[string]bool {
	apps := map[string]map[string]bool{}
	add := func(app, group string) {
		if apps[app] == nil {
			apps[app] = map[string]bool{}
		}
		if group != "" {
			apps[app][group] = true
		}
	}
	for _, st := range reg.stacks {
		if st.deleted {
			continue
		}
		var app string
		if r := st.resources["ServerlessDeploymentApplication"]; r != nil {
			app = r.PhysicalID
			add(app, "")
		}
		for _, r := range st.resources {
			if r.Type == "AWS::CodeDeploy::DeploymentGroup" && app != "" {
				add(app, r.PhysicalID)
			}
		}
	}
	for _, d := range reg.deployments {
		add(d.Application, d.Group)
	}
	return apps
}

func listDeployments(r *request) (any, error) {
	var in struct {
		ApplicationName     string   `json:"applicationName"`
		DeploymentGroupName string   `json:"deploymentGroupName"`
		IncludeOnlyStatuses []string `json:"includeOnlyStatuses"`
		NextToken           string   `json:"nextToken"`
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	statuses := []string{DeploymentCreated, "Queued", DeploymentInProgress, "Baking", DeploymentSucceeded, DeploymentFailed, DeploymentStopped, "Ready"}
	for _, st := range in.IncludeOnlyStatuses {
		if !slices.Contains(statuses, st) {
			return nil, errorf("InvalidDeploymentStatusException", "The deployment status %s is not valid.", st)
		}
	}
	if in.NextToken != "" {
		return nil, errorf("InvalidNextTokenException", "The next token was specified in an invalid format.")
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	apps := reg.deploymentGroups()
	switch {
	case in.DeploymentGroupName != "" && in.ApplicationName == "":
		return nil, errorf("ApplicationNameRequiredException", "The application name must be specified when the deployment group name is specified.")
	case in.ApplicationName != "" && apps[in.ApplicationName] == nil:
		return nil, errorf("ApplicationDoesNotExistException", "No application found for name: %s", in.ApplicationName)
	case in.DeploymentGroupName != "" && !apps[in.ApplicationName][in.DeploymentGroupName]:
		return nil, errorf("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s", in.DeploymentGroupName)
	}
	var found []*deployment
	for _, d := range reg.deployments {
		if (in.ApplicationName == "" || d.Application == in.ApplicationName) && (in.DeploymentGroupName == "" || d.Group == in.DeploymentGroupName) &&
			(len(in.IncludeOnlyStatuses) == 0 || slices.Contains(in.IncludeOnlyStatuses, d.status)) {
			found = append(found, d)
		}
	}
	// Newest first, as CodeDeploy lists them.
	slices.SortFunc(found, func(a, b *deployment) int { return b.created.Compare(a.created) })
	ids := []string{}
	for _, d := range found {
		ids = append(ids, d.id)
	}
	return map[string]any{"deployments": ids}, nil
}

// newDeploymentID is a CodeDeploy deployment ID: d- and nine capitals or digits.
func newDeploymentID() string {
	return "d-" + strings.ToUpper(randomHex(5))[:9]
}
