package fakeaws

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// This file holds what tests use to arrange the fake's state and to read what happened: the
// things a person or AWS itself would do outside the API calls Sluice makes.

type hooks struct {
	invoke func(InvokeRequest) InvokeResult
}

// OnInvoke sets the function that answers Lambda Invoke (a pre- or post-traffic hook); nil
// restores the default, a success returning null. It runs without the fake's lock held.
func (s *Server) OnInvoke(f func(InvokeRequest) InvokeResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.invoke = f
}

// withStack runs f on a stack with the lock held.
func (s *Server) withStack(account, region, name string, f func(st *stack)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.regionLocked(account, region).findStack(name)
	if st == nil {
		return fmt.Errorf("no stack %q in account %s, %s", name, account, region)
	}
	f(st)
	return nil
}

// FailResource makes the next operation on a stack's resource fail with reason (its
// CREATE_FAILED, UPDATE_FAILED or DELETE_FAILED event says it), so that the stack rolls back.
func (s *Server) FailResource(account, region, stackName, logicalID, reason string) error {
	return s.withStack(account, region, stackName, func(st *stack) { st.failures[logicalID] = reason })
}

// FailRollback makes the stack's next rollback fail with reason: an update then ends
// UPDATE_ROLLBACK_FAILED, a creation ROLLBACK_FAILED.
func (s *Server) FailRollback(account, region, stackName, reason string) error {
	return s.withStack(account, region, stackName, func(st *stack) { st.rollbackReason = reason })
}

// SetStackStatus puts a stack in a status, as if an operation were stuck in it (such as
// UPDATE_IN_PROGRESS or UPDATE_ROLLBACK_FAILED).
func (s *Server) SetStackStatus(account, region, stackName, status, reason string) error {
	return s.withStack(account, region, stackName, func(st *stack) { st.stackEvent(s.cfg.Now(), status, reason) })
}

// StackStatus returns a stack's status.
func (s *Server) StackStatus(account, region, stackName string) (status string, err error) {
	err = s.withStack(account, region, stackName, func(st *stack) { status = st.status })
	return status, err
}

// PutFunction creates a Lambda function with code, as if deployed earlier, and returns its
// ARN. Creating one that exists replaces its $LATEST code.
func (s *Server) PutFunction(account, region, name string, code []byte) (string, error) {
	if !functionNamePattern.MatchString(name) || strings.Contains(name, ":") {
		return "", fmt.Errorf("function %q: a name is 1-64 letters, digits, - and _", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.regionLocked(account, region)
	reg.putFunctionFromStack(name, lambdaFunction, map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Code": string(code)}, s.cfg.Now(), nil)
	return reg.functions[name].arn, nil
}

// AliasHistory returns every state an alias was put in, oldest first: by CreateAlias and
// UpdateAlias, by stacks and by CodeDeploy deployments.
func (s *Server) AliasHistory(account, region, function, alias string) []AliasChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AliasChange
	for _, c := range s.regionLocked(account, region).aliasHistory {
		if c.Function == function && c.Alias == alias {
			out = append(out, c)
		}
	}
	return out
}

// CreateKey creates a symmetric KMS key with aliases ("alias/name" or "name") and returns its
// ARN.
func (s *Server) CreateKey(account, region, description string, aliases ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.regionLocked(account, region).createKey(description, s.cfg.Now(), aliases...)
	if err != nil {
		return "", err
	}
	return k.arn, nil
}

// createManagedKey makes the AWS managed key an alias such as alias/aws/s3 names.
func (reg *region) createManagedKey(alias string, now time.Time) {
	k, _ := reg.createKey("Default key that protects my "+strings.TrimPrefix(alias, "alias/aws/")+" data when no other key is defined", now)
	reg.keyAliases[alias] = k.id
}

// RequireSSEKMS makes PutObject into bucket refuse, with AccessDenied as a bucket policy
// would, any object not encrypted with SSE-KMS under keyARN (any key if keyARN is empty).
func (s *Server) RequireSSEKMS(bucket, keyARN string) {
	s.s3.mu.Lock()
	defer s.s3.mu.Unlock()
	s.s3.requireKMS[bucket] = keyARN
}

// Encryption returns how an object was stored, from the headers of the PutObject that
// stored it.
func (s *Server) Encryption(bucket, key string) (ObjectEncryption, bool) {
	s.s3.mu.Lock()
	defer s.s3.mu.Unlock()
	e, ok := s.s3.encryption[bucket+"/"+key]
	return e, ok
}

// PutAlarm creates or replaces a metric alarm, in state INSUFFICIENT_DATA when new.
func (s *Server) PutAlarm(account, region string, a Alarm) error {
	if a.Name == "" || len(a.Name) > 255 {
		return fmt.Errorf("alarm name %q: 1-255 characters", a.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regionLocked(account, region).putAlarm(a, s.cfg.Now())
	return nil
}

// SetAlarmState puts an alarm in OK, ALARM or INSUFFICIENT_DATA with a reason, as CloudWatch
// does when it evaluates the alarm. StateReasonData lists datapoints as the recent values; if
// none are given, the numbers CloudWatch's reason text puts in brackets ("Threshold Crossed:
// 1 datapoint [7.0 (29/11/26 10:00:00)] was greater than the threshold (1.0).") are used.
func (s *Server) SetAlarmState(account, region, name, state, reason string, datapoints ...float64) error {
	if !slices.Contains(alarmStates, state) {
		return fmt.Errorf("alarm state %q: one of %s", state, strings.Join(alarmStates, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.regionLocked(account, region).alarms[name]
	if a == nil {
		return fmt.Errorf("no alarm %q in account %s, %s", name, account, region)
	}
	if len(datapoints) == 0 {
		datapoints = reasonDatapoints(reason)
	}
	a.state, a.reason, a.updated = state, reason, s.cfg.Now()
	a.reasonData = stateReasonData(a, datapoints)
	return nil
}

// PutMetric adds data points that GetMetricData returns for their metric and exact set of
// dimensions (such as FunctionName, Resource and ExecutedVersion). The alarms on that metric
// are then evaluated as CloudWatch would: ALARM when each of their last EvaluationPeriods
// periods breaches the threshold, OK when the newest does not.
func (s *Server) PutMetric(account, region string, points ...MetricPoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.regionLocked(account, region)
	for _, p := range points {
		p.Dimensions = maps.Clone(p.Dimensions)
		if p.Dimensions == nil {
			p.Dimensions = map[string]string{}
		}
		reg.metrics = append(reg.metrics, p)
	}
	for _, name := range slices.Sorted(maps.Keys(reg.alarms)) {
		reg.evaluateAlarm(reg.alarms[name], s.cfg.Now())
	}
}

// StartDeployment creates a CodeDeploy deployment in progress and returns its ID. It stays in
// progress until FinishDeployment or a StopDeployment call ends it.
func (s *Server) StartDeployment(account, region string, d Deployment) (string, error) {
	if d.Application == "" || d.Group == "" {
		return "", fmt.Errorf("a deployment needs an application and a deployment group")
	}
	if d.Config == "" {
		d.Config = "CodeDeployDefault.LambdaAllAtOnce"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.regionLocked(account, region)
	dep := &deployment{Deployment: d, id: newDeploymentID(), status: DeploymentInProgress, created: s.cfg.Now()}
	reg.deployments[dep.id] = dep
	return dep.id, nil
}

// FinishDeployment ends a deployment in progress: Succeeded moves its alias to To; Failed
// (with an error code and message, such as ALARM_ACTIVE) moves it back to From.
func (s *Server) FinishDeployment(account, region, id, status, code, message string) error {
	if status != DeploymentSucceeded && status != DeploymentFailed {
		return fmt.Errorf("a deployment finishes %s or %s, not %q", DeploymentSucceeded, DeploymentFailed, status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.regionLocked(account, region)
	d := reg.deployments[id]
	if d == nil || d.status != DeploymentInProgress {
		return fmt.Errorf("no deployment %s in progress in account %s, %s", id, account, region)
	}
	reg.finishDeployment(d, status, code, message, status == DeploymentFailed, s.cfg.Now())
	return nil
}

// DeploymentStatus returns a deployment's status.
func (s *Server) DeploymentStatus(account, region, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.regionLocked(account, region).deployments[id]
	if d == nil {
		return "", fmt.Errorf("no deployment %s in account %s, %s", id, account, region)
	}
	return d.status, nil
}
