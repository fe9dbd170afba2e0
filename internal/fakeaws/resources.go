package fakeaws

import (
	"net/url"
	"time"
)

type stackResourceDetailXML struct {
	StackName            string
	StackId              string
	LogicalResourceId    string
	PhysicalResourceId   string
	ResourceType         string
	LastUpdatedTimestamp string
	ResourceStatus       string
}

type describeStackResourceResult struct {
	StackResourceDetail stackResourceDetailXML
}

// describeStackResource answers DescribeStackResource: one resource of a stack by logical ID.
// Like CloudFormation, it refuses a stack or resource that does not exist with a
// ValidationError.
func describeStackResource(r *request, form url.Values) (any, error) {
	name, logical := form.Get("StackName"), form.Get("LogicalResourceId")
	if name == "" || logical == "" {
		return nil, validation("1 validation error detected: StackName and LogicalResourceId must not be null")
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.state().findStack(name)
	if st == nil {
		return nil, validation("Stack '%s' does not exist", name)
	}
	res, ok := st.resources[logical]
	if !ok {
		return nil, validation("Resource %s does not exist for stack %s", logical, name)
	}
	updated := st.updated
	if updated.IsZero() {
		updated = st.created
	}
	return describeStackResourceResult{StackResourceDetail: stackResourceDetailXML{
		StackName: st.name, StackId: st.id, LogicalResourceId: logical, PhysicalResourceId: res.PhysicalID,
		ResourceType: res.Type, LastUpdatedTimestamp: updated.UTC().Format(time.RFC3339Nano), ResourceStatus: resourceStatus(st),
	}}, nil
}

// resourceStatus is a resource's status as the stack's last operation left it.
func resourceStatus(st *stack) string {
	switch st.status {
	case "CREATE_COMPLETE":
		return "CREATE_COMPLETE"
	case "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE":
		return "UPDATE_COMPLETE"
	}
	return st.status
}
