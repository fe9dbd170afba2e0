package fakeaws

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Stack statuses, as CloudFormation names them.
const (
	reviewInProgress                  = "REVIEW_IN_PROGRESS"
	createInProgress                  = "CREATE_IN_PROGRESS"
	createComplete                    = "CREATE_COMPLETE"
	createFailed                      = "CREATE_FAILED"
	rollbackInProgress                = "ROLLBACK_IN_PROGRESS"
	rollbackComplete                  = "ROLLBACK_COMPLETE"
	rollbackFailed                    = "ROLLBACK_FAILED"
	updateInProgress                  = "UPDATE_IN_PROGRESS"
	updateCompleteCleanupInProgress   = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	updateComplete                    = "UPDATE_COMPLETE"
	updateFailed                      = "UPDATE_FAILED"
	updateRollbackInProgress          = "UPDATE_ROLLBACK_IN_PROGRESS"
	updateRollbackCleanupInProgress   = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
	updateRollbackComplete            = "UPDATE_ROLLBACK_COMPLETE"
	updateRollbackFailed              = "UPDATE_ROLLBACK_FAILED"
	deleteInProgress                  = "DELETE_IN_PROGRESS"
	deleteComplete                    = "DELETE_COMPLETE"
	deleteFailed                      = "DELETE_FAILED"
	stackResourceType                 = "AWS::CloudFormation::Stack"
	changeSetCreatePending            = "CREATE_PENDING"
	changeSetCreateInProgress         = "CREATE_IN_PROGRESS"
	changeSetCreateComplete           = "CREATE_COMPLETE"
	changeSetFailed                   = "FAILED"
	executionUnavailable              = "UNAVAILABLE"
	executionAvailable                = "AVAILABLE"
	executionInProgress               = "EXECUTE_IN_PROGRESS"
	executionComplete                 = "EXECUTE_COMPLETE"
	executionFailed                   = "EXECUTE_FAILED"
	executionObsolete                 = "OBSOLETE"
	noChangesReason                   = "The submitted information didn't contain changes. Submit different information to create a change set."
	userInitiated                     = "User Initiated"
	samFunction                       = "AWS::Serverless::Function"
	lambdaFunction                    = "AWS::Lambda::Function"
	cloudWatchAlarm                   = "AWS::CloudWatch::Alarm"
	stackStatusesThatAcceptChangeSets = "CREATE_COMPLETE UPDATE_COMPLETE UPDATE_ROLLBACK_COMPLETE IMPORT_COMPLETE IMPORT_ROLLBACK_COMPLETE"
)

// stack is one CloudFormation stack. Server.mu guards it.
type stack struct {
	name, id       string
	status, reason string
	created        time.Time
	updated        time.Time
	deleted        bool
	template       *template         // what the stack runs; nil until its first change set executes
	params         map[string]string // the values it runs with
	paramOrder     []string
	capabilities   []string
	roleARN        string // the execution role CloudFormation acts with; empty for the caller
	resources      map[string]*stackResource
	outputs        []stackOutput
	events         []stackEvent // oldest first
	changeSets     []*changeSet
	lastChangeSet  string
	failures       map[string]string // test hook: logical ID → reason its next operation fails
	rollbackReason string            // test hook: if set, the next rollback fails with it
}

type stackResource struct {
	Type       string
	PhysicalID string
	Properties map[string]any // as resolved when last applied
}

type stackOutput struct {
	OutputKey, OutputValue, Description, ExportName string
}

type stackEvent struct {
	StackId              string
	EventId              string
	StackName            string
	LogicalResourceId    string
	PhysicalResourceId   string
	ResourceType         string
	Timestamp            string
	ResourceStatus       string
	ResourceStatusReason string `xml:",omitempty"`
}

// changeSet is a reviewed difference between a stack and a template.
type changeSet struct {
	name, id        string
	stack           *stack
	changeSetType   string // CREATE or UPDATE
	status          string
	executionStatus string
	statusReason    string
	description     string
	created         time.Time
	template        *template
	params          map[string]string
	paramOrder      []string
	capabilities    []string
	roleARN         string
	changes         []resourceChange
}

type resourceChange struct {
	Action       string // Add, Modify, Remove
	LogicalID    string
	PhysicalID   string
	ResourceType string
	Replacement  string // True, False, Conditional; empty for Add and Remove
	Details      []changeDetail
	Before       string // properties as JSON, for IncludePropertyValues
	After        string
}

type changeDetail struct {
	Name               string
	RequiresRecreation string
	ChangeType         string // Add, Remove, Modify
	Before, After      string
}

func (st *stack) event(now time.Time, logicalID, physicalID, resourceType, status, reason string) {
	st.events = append(st.events, stackEvent{
		StackId: st.id, EventId: newRequestID(), StackName: st.name,
		LogicalResourceId: logicalID, PhysicalResourceId: physicalID, ResourceType: resourceType,
		Timestamp: now.UTC().Format(time.RFC3339Nano), ResourceStatus: status, ResourceStatusReason: reason,
	})
}

func (st *stack) stackEvent(now time.Time, status, reason string) {
	st.status, st.reason = status, reason
	st.event(now, st.name, st.id, stackResourceType, status, reason)
}

// inProgress tells whether an operation is under way on the stack.
func (st *stack) inProgress() bool {
	return strings.HasSuffix(st.status, "_IN_PROGRESS") && st.status != reviewInProgress
}

// replacementProperties are the properties whose change replaces a resource, for the types a
// serverless route uses. Any other property updates in place.
var replacementProperties = map[string][]string{
	lambdaFunction:                 {"FunctionName", "PackageType"},
	samFunction:                    {"FunctionName", "PackageType"},
	"AWS::S3::Bucket":              {"BucketName"},
	"AWS::IAM::Role":               {"RoleName", "Path"},
	"AWS::DynamoDB::Table":         {"TableName", "KeySchema"},
	cloudWatchAlarm:                {"AlarmName"},
	"AWS::Lambda::Alias":           {"FunctionName", "Name"},
	"AWS::Lambda::Version":         {"FunctionName", "CodeSha256", "Description"},
	"AWS::SQS::Queue":              {"QueueName", "FifoQueue"},
	"AWS::SNS::Topic":              {"TopicName"},
	"AWS::KMS::Key":                {},
	"AWS::ApiGatewayV2::Api":       {},
	"AWS::Serverless::HttpApi":     {},
	"AWS::Serverless::SimpleTable": {"TableName"},
}

// diffResources computes a change set's changes: what the new template adds, modifies and
// removes, property by property, with parameter references already resolved on both sides.
func diffResources(st *stack, next *template, nextParams map[string]string) []resourceChange {
	before := map[string]templateResource{}
	if st.template != nil {
		before = st.template.resources
	}
	var changes []resourceChange
	for _, id := range slices.Sorted(maps.Keys(next.resources)) {
		r := next.resources[id]
		after := resolveParameters(r.Properties, nextParams)
		old, existed := before[id]
		if !existed {
			changes = append(changes, resourceChange{Action: "Add", LogicalID: id, ResourceType: r.Type, After: canonicalJSON(after)})
			continue
		}
		oldProps := resolveParameters(old.Properties, st.params)
		physical := ""
		if sr := st.resources[id]; sr != nil {
			physical = sr.PhysicalID
		}
		if old.Type != r.Type {
			changes = append(changes, resourceChange{Action: "Modify", LogicalID: id, PhysicalID: physical, ResourceType: r.Type,
				Replacement: "True", Before: canonicalJSON(oldProps), After: canonicalJSON(after)})
			continue
		}
		var details []changeDetail
		replacement := "False"
		for _, name := range slices.Sorted(maps.Keys(unionKeys(oldProps, after))) {
			b, bok := oldProps[name]
			a, aok := after[name]
			if bok && aok && canonicalJSON(a) == canonicalJSON(b) {
				continue
			}
			d := changeDetail{Name: name, RequiresRecreation: "Never", ChangeType: "Modify"}
			switch {
			case !bok:
				d.ChangeType = "Add"
			case !aok:
				d.ChangeType = "Remove"
			}
			if bok {
				d.Before = scalarString(b)
			}
			if aok {
				d.After = scalarString(a)
			}
			if slices.Contains(replacementProperties[r.Type], name) {
				d.RequiresRecreation = "Always"
				replacement = "True"
			}
			details = append(details, d)
		}
		if len(details) > 0 {
			changes = append(changes, resourceChange{Action: "Modify", LogicalID: id, PhysicalID: physical, ResourceType: r.Type,
				Replacement: replacement, Details: details, Before: canonicalJSON(oldProps), After: canonicalJSON(after)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(before)) {
		if _, ok := next.resources[id]; ok {
			continue
		}
		physical := ""
		if sr := st.resources[id]; sr != nil {
			physical = sr.PhysicalID
		}
		changes = append(changes, resourceChange{Action: "Remove", LogicalID: id, PhysicalID: physical, ResourceType: before[id].Type,
			Before: canonicalJSON(resolveParameters(before[id].Properties, st.params))})
	}
	return changes
}

func unionKeys(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// resolveParameters replaces {"Ref": parameter} with the parameter's value throughout v.
func resolveParameters(props map[string]any, params map[string]string) map[string]any {
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["Ref"].(string); ok && len(v) == 1 {
				if p, ok := params[ref]; ok {
					return p
				}
			}
			out := make(map[string]any, len(v))
			for k, x := range v {
				out[k] = walk(x)
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = walk(x)
			}
			return out
		}
		return v
	}
	out, _ := walk(props).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// resolver evaluates intrinsic functions against a stack's parameters and physical resources,
// to fake values where AWS would have real ones.
type resolver struct {
	account, region string
	st              *stack
	params          map[string]string
	resources       map[string]*stackResource
	implicit        map[string]templateResource
}

func (x *resolver) ref(name string) (string, bool) {
	switch name {
	case "AWS::AccountId":
		return x.account, true
	case "AWS::Region":
		return x.region, true
	case "AWS::StackName":
		return x.st.name, true
	case "AWS::StackId":
		return x.st.id, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::NoValue":
		return "", true
	}
	if v, ok := x.params[name]; ok {
		return v, true
	}
	if r := x.resources[name]; r != nil {
		return r.PhysicalID, true
	}
	if _, ok := x.implicit[name]; ok {
		return x.implicitPhysicalID(name), true
	}
	return "", false
}

func (x *resolver) implicitPhysicalID(name string) string {
	if base, ok := strings.CutSuffix(name, ".Alias"); ok {
		if r := x.resources[base]; r != nil {
			return functionARN(x.region, x.account, r.PhysicalID) + ":" + scalarString(r.Properties["AutoPublishAlias"])
		}
	}
	return fakeID(x.st.id + name)
}

func (x *resolver) getAtt(resource, attribute string) string {
	r := x.resources[resource]
	physical, typ := fakeID(x.st.id+resource), x.implicit[resource].Type
	if r != nil {
		physical, typ = r.PhysicalID, r.Type
	}
	switch {
	case attribute == "Arn":
		return resourceARN(typ, x.region, x.account, physical)
	case attribute == "ApiEndpoint":
		return "https://" + physical + ".execute-api." + x.region + ".amazonaws.com"
	}
	return physical + "." + attribute
}

// value evaluates v: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select and Fn::Base64; other
// functions are left as they are.
func (x *resolver) value(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				switch k {
				case "Ref":
					if s, ok := x.ref(scalarString(arg)); ok {
						return s
					}
				case "Fn::GetAtt":
					res, attr := getAttParts(arg)
					return x.getAtt(res, attr)
				case "Fn::Sub":
					text, vars := subParts(arg)
					return subVariable.ReplaceAllStringFunc(text, func(m string) string {
						name := strings.TrimSpace(m[2 : len(m)-1])
						if val, ok := vars[name]; ok {
							return scalarString(x.value(val))
						}
						if s, ok := x.ref(name); ok {
							return s
						}
						if res, attr, ok := strings.Cut(name, "."); ok {
							return x.getAtt(res, attr)
						}
						return m
					})
				case "Fn::Join":
					if parts, ok := arg.([]any); ok && len(parts) == 2 {
						var items []string
						for _, item := range asList(x.value(parts[1])) {
							items = append(items, scalarString(item))
						}
						return strings.Join(items, scalarString(parts[0]))
					}
				case "Fn::Select":
					if parts, ok := arg.([]any); ok && len(parts) == 2 {
						var i int
						fmt.Sscan(scalarString(x.value(parts[0])), &i)
						if list := asList(x.value(parts[1])); i >= 0 && i < len(list) {
							return list[i]
						}
					}
				case "Fn::FindInMap":
					if args := asList(arg); len(args) >= 3 && x.st.template != nil {
						keys := make([]string, 3)
						for i := range keys {
							keys[i] = scalarString(x.value(args[i]))
						}
						top, _ := x.st.template.mappings[keys[0]].(map[string]any)
						second, _ := top[keys[1]].(map[string]any)
						if v, ok := second[keys[2]]; ok {
							return v
						}
						if len(args) == 4 {
							if def, ok := args[3].(map[string]any); ok {
								return x.value(def["DefaultValue"])
							}
						}
					}
				case "Fn::Base64":
					return base64.StdEncoding.EncodeToString([]byte(scalarString(x.value(arg))))
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = x.value(item)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = x.value(item)
		}
		return out
	}
	return v
}

func fakeID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

func functionARN(region, account, name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}

func resourceARN(typ, region, account, physical string) string {
	switch typ {
	case lambdaFunction, samFunction:
		return functionARN(region, account, physical)
	case "AWS::IAM::Role":
		return "arn:aws:iam::" + account + ":role/" + physical
	case "AWS::S3::Bucket":
		return "arn:aws:s3:::" + physical
	case cloudWatchAlarm:
		return "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:" + physical
	}
	service := "cloudformation"
	if parts := strings.Split(typ, "::"); len(parts) == 3 {
		service = strings.ToLower(parts[1])
	}
	return "arn:aws:" + service + ":" + region + ":" + account + ":" + physical
}

// physicalName is the name AWS would give a new resource: its name property, or the stack
// name, logical ID and a random suffix.
func physicalName(st *stack, logicalID, typ string, props map[string]any) string {
	nameProperty := map[string]string{
		lambdaFunction: "FunctionName", samFunction: "FunctionName", "AWS::IAM::Role": "RoleName",
		"AWS::S3::Bucket": "BucketName", cloudWatchAlarm: "AlarmName", "AWS::DynamoDB::Table": "TableName",
		"AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
	}[typ]
	if n, ok := props[nameProperty].(string); ok && n != "" {
		return n
	}
	switch typ {
	case "AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi", "AWS::ApiGateway::RestApi", "AWS::Serverless::Api":
		return fakeID(st.id + logicalID + randomHex(4))
	}
	name := st.name + "-" + logicalID
	if len(name) > 50 {
		name = name[:50]
	}
	name += "-" + strings.ToUpper(randomHex(6))
	if typ == "AWS::S3::Bucket" {
		name = strings.ToLower(name)
	}
	return name
}
