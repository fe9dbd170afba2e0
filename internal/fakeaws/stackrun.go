package fakeaws

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// This file runs stack operations: each resource step takes Config.StackStepDelay, writes the
// events CloudFormation writes and applies the resource to the fake's other services (a Lambda
// function, a CloudWatch alarm), so that a stack's outcome is visible the way it is in AWS.

// pause waits one step; false if the server is closing.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// background runs f in a goroutine that Close waits for.
func (s *Server) background(f func()) {
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		f()
	}()
}

// executionOrder sorts resources so that each comes after those it references.
func executionOrder(t *template) []string {
	deps := map[string][]string{}
	for id, r := range t.resources {
		seen := map[string]bool{}
		references(r.Properties, func(name string) {
			base, _, _ := strings.Cut(name, ".")
			seen[base] = true
		})
		for _, d := range r.DependsOn {
			seen[d] = true
		}
		for name := range seen {
			if _, ok := t.resources[name]; ok && name != id {
				deps[id] = append(deps[id], name)
			}
		}
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string)
	visit = func(id string) {
		if state[id] != 0 {
			return // done, or a cycle: CloudFormation refuses those; the fake just breaks it
		}
		state[id] = 1
		deps[id] = slices.Sorted(slices.Values(deps[id]))
		for _, d := range deps[id] {
			visit(d)
		}
		state[id] = 2
		order = append(order, id)
	}
	for _, id := range slices.Sorted(maps.Keys(t.resources)) {
		visit(id)
	}
	return order
}

// execution is what a change set's execution must remember to roll back.
type execution struct {
	creating      bool
	oldTemplate   *template
	oldParams     map[string]string
	oldParamOrder []string
	oldResources  map[string]stackResource
	changes       map[string]resourceChange
}

// beginExecution puts the stack in CREATE_IN_PROGRESS or UPDATE_IN_PROGRESS at once, as
// ExecuteChangeSet does before it returns. Server.mu is held.
func (s *Server) beginExecution(st *stack, cs *changeSet) *execution {
	now := s.cfg.Now()
	x := &execution{
		creating:    cs.changeSetType == "CREATE",
		oldTemplate: st.template, oldParams: st.params, oldParamOrder: st.paramOrder,
		oldResources: map[string]stackResource{}, changes: map[string]resourceChange{},
	}
	for id, r := range st.resources {
		x.oldResources[id] = *r
	}
	for _, c := range cs.changes {
		x.changes[c.LogicalID] = c
	}
	st.template, st.params, st.paramOrder, st.capabilities = cs.template, cs.params, cs.paramOrder, cs.capabilities
	if cs.roleARN != "" {
		st.roleARN = cs.roleARN
	}
	st.updated = now
	if x.creating {
		st.stackEvent(now, createInProgress, userInitiated)
	} else {
		st.stackEvent(now, updateInProgress, userInitiated)
	}
	return x
}

// executeChangeSet runs a change set on its stack to completion or rollback.
func (s *Server) executeChangeSet(reg *region, st *stack, cs *changeSet, x *execution) {
	s.mu.Lock()
	creating, changes := x.creating, x.changes
	oldTemplate, oldParams, oldParamOrder, oldResources := x.oldTemplate, x.oldParams, x.oldParamOrder, x.oldResources
	delay := s.cfg.StackStepDelay
	s.mu.Unlock()

	var done []string // resources added or modified so far, in order
	failed := ""
	for _, id := range executionOrder(cs.template) {
		c, ok := changes[id]
		if !ok || c.Action == "Remove" {
			continue
		}
		if !s.pause(delay) {
			return
		}
		s.mu.Lock()
		now := s.cfg.Now()
		typ := cs.template.resources[id].Type
		inProgress, complete, failStatus := updateInProgress, updateComplete, updateFailed
		if c.Action == "Add" {
			inProgress, complete, failStatus = createInProgress, createComplete, createFailed
		}
		props := reg.resolver(st).value(resolveParameters(cs.template.resources[id].Properties, cs.params)).(map[string]any)
		physical := c.PhysicalID
		if c.Action == "Add" || c.Replacement == "True" {
			physical = physicalName(st, id, typ, props)
		}
		st.event(now, id, "", typ, inProgress, "")
		if why, ok := st.failures[id]; ok {
			delete(st.failures, id)
			st.event(now, id, physical, typ, failStatus, why)
			failed = id
			done = append(done, id) // a failed resource is rolled back too
			s.mu.Unlock()
			break
		}
		st.resources[id] = &stackResource{Type: typ, PhysicalID: physical, Properties: props}
		deploymentID := reg.applyResource(s, st, id, c.Action, now, false)
		done = append(done, id)
		s.mu.Unlock()
		if deploymentID != "" {
			// SAM's DeploymentPreference: the resource is done when its CodeDeploy deployment
			// is, and fails if the deployment does.
			why, ok := s.awaitDeployment(reg, deploymentID, delay)
			if !ok {
				return
			}
			if why != "" {
				s.mu.Lock()
				st.event(s.cfg.Now(), id, physical, typ, failStatus, why)
				failed = id
				s.mu.Unlock()
				break
			}
		}
		s.mu.Lock()
		st.event(s.cfg.Now(), id, physical, typ, complete, "")
		s.mu.Unlock()
	}

	if failed == "" {
		if !creating {
			s.mu.Lock()
			st.stackEvent(s.cfg.Now(), updateCompleteCleanupInProgress, "")
			s.mu.Unlock()
		}
		for _, c := range cs.changes {
			if c.Action != "Remove" {
				continue
			}
			if !s.pause(delay) || !s.removeResource(reg, st, c.LogicalID) {
				return
			}
		}
		s.mu.Lock()
		now := s.cfg.Now()
		st.outputs = reg.outputs(st)
		if creating {
			st.stackEvent(now, createComplete, "")
		} else {
			st.stackEvent(now, updateComplete, "")
		}
		cs.executionStatus = executionComplete
		s.mu.Unlock()
		return
	}

	// Roll back: undo what was done, newest first.
	s.mu.Lock()
	now := s.cfg.Now()
	cs.executionStatus = executionFailed
	st.template, st.params, st.paramOrder = oldTemplate, oldParams, oldParamOrder
	if creating {
		st.stackEvent(now, rollbackInProgress, "The following resource(s) failed to create: ["+failed+"]. Rollback requested by user.")
	} else {
		st.stackEvent(now, updateRollbackInProgress, "The following resource(s) failed to update: ["+failed+"]. ")
	}
	rollbackReason := st.rollbackReason
	st.rollbackReason = ""
	s.mu.Unlock()
	for i := len(done) - 1; i >= 0; i-- {
		id := done[i]
		if !s.pause(delay) {
			return
		}
		old, existed := oldResources[id]
		if !existed {
			if !s.removeResource(reg, st, id) {
				return
			}
			continue
		}
		s.mu.Lock()
		now := s.cfg.Now()
		st.event(now, id, old.PhysicalID, old.Type, updateInProgress, "")
		if rollbackReason != "" {
			st.event(now, id, old.PhysicalID, old.Type, updateFailed, rollbackReason)
			st.stackEvent(now, updateRollbackFailed, "The following resource(s) failed to update: ["+id+"]. ")
			s.mu.Unlock()
			return
		}
		restored := old
		st.resources[id] = &restored
		reg.applyResource(s, st, id, "Modify", now, true)
		st.event(now, id, old.PhysicalID, old.Type, updateComplete, "")
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.cfg.Now()
	switch {
	case creating && rollbackReason != "":
		st.stackEvent(now, rollbackFailed, rollbackReason)
	case creating:
		st.stackEvent(now, rollbackComplete, "")
	default:
		st.stackEvent(now, updateRollbackCleanupInProgress, "")
		st.stackEvent(now, updateRollbackComplete, "")
	}
}

// removeResource deletes one resource of a stack, with its events; false if the server is
// closing.
func (s *Server) removeResource(reg *region, st *stack, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	r := st.resources[id]
	if r == nil {
		return true
	}
	now := s.cfg.Now()
	st.event(now, id, r.PhysicalID, r.Type, deleteInProgress, "")
	reg.applyResource(s, st, id, "Remove", now, false)
	delete(st.resources, id)
	st.event(now, id, r.PhysicalID, r.Type, deleteComplete, "")
	return true
}

// deleteStack deletes a stack's resources and then the stack.
func (s *Server) deleteStack(reg *region, st *stack) {
	s.mu.Lock()
	ids := slices.Sorted(maps.Keys(st.resources))
	delay := s.cfg.StackStepDelay
	s.mu.Unlock()
	for i := len(ids) - 1; i >= 0; i-- {
		if !s.pause(delay) {
			return
		}
		s.mu.Lock()
		if why, ok := st.failures[ids[i]]; ok {
			delete(st.failures, ids[i])
			r := st.resources[ids[i]]
			now := s.cfg.Now()
			st.event(now, ids[i], r.PhysicalID, r.Type, deleteFailed, why)
			st.stackEvent(now, deleteFailed, "The following resource(s) failed to delete: ["+ids[i]+"]. ")
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !s.removeResource(reg, st, ids[i]) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.stackEvent(s.cfg.Now(), deleteComplete, "")
	st.deleted = true
}

func (reg *region) resolver(st *stack) *resolver {
	x := &resolver{account: reg.account, region: reg.name, st: st, params: st.params, resources: st.resources}
	if st.template != nil {
		x.implicit = st.template.implicitResources()
	}
	return x
}

// outputs evaluates the template's Outputs against the stack as it now is.
func (reg *region) outputs(st *stack) []stackOutput {
	if st.template == nil {
		return nil
	}
	x := reg.resolver(st)
	var out []stackOutput
	for _, name := range slices.Sorted(maps.Keys(st.template.outputs)) {
		o := st.template.outputs[name]
		so := stackOutput{OutputKey: name, OutputValue: scalarString(x.value(o.Value)), Description: o.Description}
		if e, ok := o.Export.(map[string]any); ok {
			so.ExportName = scalarString(x.value(e["Name"]))
		}
		out = append(out, so)
	}
	return out
}

// applyResource makes a stack's resource real in the fake's other services. A SAM function
// with a DeploymentPreference whose alias moves starts a CodeDeploy deployment, unless the
// stack is rolling back, and applyResource returns its ID.
func (reg *region) applyResource(s *Server, st *stack, id, action string, now time.Time, rollingBack bool) string {
	r := st.resources[id]
	if r == nil {
		return ""
	}
	switch r.Type {
	case lambdaFunction, samFunction:
		if action == "Remove" {
			delete(reg.functions, r.PhysicalID)
			return ""
		}
		var shift *Deployment
		if pref, ok := r.Properties["DeploymentPreference"].(map[string]any); ok && r.Type == samFunction && !rollingBack && scalarString(pref["Enabled"]) != "false" {
			shift = &Deployment{
				Application: reg.implicitResource(st, "ServerlessDeploymentApplication", "AWS::CodeDeploy::Application").PhysicalID,
				Group:       reg.implicitResource(st, id+"DeploymentGroup", "AWS::CodeDeploy::DeploymentGroup").PhysicalID,
				Config:      "CodeDeployDefault.Lambda" + scalarString(pref["Type"]),
			}
		}
		return reg.putFunctionFromStack(r.PhysicalID, r.Type, r.Properties, now, shift)
	case cloudWatchAlarm:
		if action == "Remove" {
			delete(reg.alarms, r.PhysicalID)
			return ""
		}
		reg.putAlarmFromStack(r.PhysicalID, r.Properties, now)
	}
	return ""
}

// implicitResource is a resource SAM adds to the stack (a CodeDeploy application or group),
// made on first use.
func (reg *region) implicitResource(st *stack, id, typ string) *stackResource {
	r := st.resources[id]
	if r == nil {
		r = &stackResource{Type: typ, PhysicalID: physicalName(st, id, typ, nil), Properties: map[string]any{}}
		st.resources[id] = r
	}
	return r
}

// awaitDeployment waits for a CodeDeploy deployment to end: "" if it succeeded, else why it
// did not; false if the server is closing.
func (s *Server) awaitDeployment(reg *region, id string, delay time.Duration) (string, bool) {
	for {
		s.mu.Lock()
		d := reg.deployments[id]
		status, code, text := d.status, d.errorCode, d.errorText
		s.mu.Unlock()
		switch status {
		case DeploymentSucceeded:
			return "", true
		case DeploymentFailed, DeploymentStopped:
			return fmt.Sprintf("CodeDeploy deployment %s %s: %s (%s)", id, strings.ToLower(status), text, code), true
		}
		if !s.pause(delay) {
			return "", false
		}
	}
}
