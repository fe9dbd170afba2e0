package fakeaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/lambdarun"
)

// This file is the fake's optional execution mode (Config.Execution), for `sluice demo --aws`
// and for tests that need real behaviour rather than arranged answers:
//
//   - A function version remembers where its code is (CloudFormation's Code S3Bucket/S3Key, SAM's
//     CodeUri, UpdateFunctionCode) and its resolved Environment.Variables; Invoke runs that code
//     through lambdarun, one pool of sandboxes per version, picking the version by the alias's
//     weights. A pool is closed once no alias serves its version and it has been idle for
//     idlePool, and when the fake closes.
//   - Each invocation is recorded as Lambda records it in CloudWatch: AWS/Lambda Invocations,
//     Errors and Duration with the dimension sets FunctionName; FunctionName+Resource; and
//     FunctionName+Resource+ExecutedVersion (the last two for a qualified invocation).
//   - Alarms are evaluated from those metrics every Execution.AlarmInterval (1s by default) over
//     their last EvaluationPeriods periods, each Execution.AlarmPeriod long if set (a demo's
//     alarm looks at seconds, not minutes) or the alarm's own Period; their state (OK, ALARM,
//     INSUFFICIENT_DATA) is computed, with a StateReason and StateReasonData as CloudWatch
//     gives them.
//   - HTTP APIs a stack creates (AWS::Serverless::HttpApi, AWS::ApiGatewayV2::Api) are served on
//     their own 127.0.0.1 port, and the stack's outputs name that URL in place of
//     https://ID.execute-api.REGION.amazonaws.com. Each request goes to the API's Lambda
//     integration (the x-amazon-apigateway-integration uri of its definition, its quick-create
//     Target, or an AWS::ApiGatewayV2::Integration of the same stack), through the alias's
//     weights, as payload format 2.0. SAM's implicit API (a function's HttpApi event without an
//     ApiId) is not served.

// Execution configures the execution mode. The zero value uses the defaults below.
type Execution struct {
	// AlarmInterval is how often alarms are evaluated. If zero, 1s.
	AlarmInterval time.Duration
	// AlarmPeriod, if non-zero, is the period every alarm is evaluated over, in place of its
	// own Period, and the Period DescribeAlarms reports (so a client that waits for an alarm to
	// judge waits as long as the simulation takes). If zero, each alarm's Period (seconds) is used.
	AlarmPeriod time.Duration
	// Instances is how many invocations of one version may run at once. If zero, 4.
	Instances int
	// Log receives the functions' output (and START/END/REPORT lines). If nil, it is discarded.
	Log io.Writer
}

const (
	// idlePool is how long a version no alias serves keeps its sandboxes.
	idlePool = 10 * time.Second
	// metricRetention is how long recorded data points are kept.
	metricRetention = time.Hour
)

// codeSource is where a function version's code is: an S3 object or a zip given inline.
type codeSource struct {
	Bucket, Key string
	Zip         string // the zip's bytes
	Env         string // the environment variables as a JSON object; "" for none
}

func (c codeSource) runnable() bool { return c.Zip != "" || c.Bucket != "" && c.Key != "" }

// codeFromProperties reads a stack function's code location and environment from its resolved
// properties: SAM's CodeUri ({Bucket, Key} or s3://bucket/key), CloudFormation's Code
// ({S3Bucket, S3Key}), or the zip itself (Server.PutFunction).
func codeFromProperties(typ string, props map[string]any) codeSource {
	var c codeSource
	if typ == samFunction {
		switch uri := props["CodeUri"].(type) {
		case map[string]any:
			c.Bucket, c.Key = scalarString(uri["Bucket"]), scalarString(uri["Key"])
		case string:
			if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
				c.Bucket, c.Key, _ = strings.Cut(rest, "/")
			}
		}
	} else {
		switch code := props["Code"].(type) {
		case map[string]any:
			c.Bucket, c.Key = scalarString(code["S3Bucket"]), scalarString(code["S3Key"])
		case string:
			c.Zip = code
		}
	}
	if env, ok := props["Environment"].(map[string]any); ok {
		if vars, ok := env["Variables"].(map[string]any); ok && len(vars) > 0 {
			m := map[string]string{}
			for k, v := range vars {
				m[k] = scalarString(v)
			}
			b, _ := json.Marshal(m)
			c.Env = string(b)
		}
	}
	return c
}

// route picks the version an invocation of qualifier runs: an alias sends each of its
// additional versions its share of invocations, and v (its main version) the rest.
func (fn *function) route(qualifier string, v functionVersion) functionVersion {
	a := fn.aliases[qualifier]
	if a == nil {
		return v
	}
	roll := rand.Float64()
	for _, other := range slices.Sorted(maps.Keys(a.weights)) {
		if roll < a.weights[other] {
			if ov, ok := fn.version(other); ok {
				return ov
			}
			break
		}
		roll -= a.weights[other]
	}
	return v
}

// executor runs functions' code, evaluates alarms and serves HTTP APIs.
type executor struct {
	s   *Server
	cfg Execution
	ctx context.Context // ends when the fake closes

	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	pools map[string]*pool
	apis  map[string]*servedAPI // by account/region/API ID
}

type pool struct {
	account, region, function, version string
	fn                                 *lambdarun.Function
	lastUsed                           time.Time
}

type servedAPI struct {
	url    string
	server *http.Server
}

func newExecutor(s *Server, cfg Execution) *executor {
	if cfg.AlarmInterval <= 0 {
		cfg.AlarmInterval = time.Second
	}
	if cfg.Instances <= 0 {
		cfg.Instances = 4
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &executor{s: s, cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		pools: map[string]*pool{}, apis: map[string]*servedAPI{}}
	go e.loop()
	return e
}

// close stops the evaluation, the APIs and every sandbox.
func (e *executor) close() {
	e.cancel()
	<-e.done
	e.mu.Lock()
	apis, pools := e.apis, e.pools
	e.apis, e.pools = map[string]*servedAPI{}, map[string]*pool{}
	e.mu.Unlock()
	for _, a := range apis {
		a.server.Close()
	}
	for _, p := range pools {
		p.fn.Close()
	}
}

// loop evaluates the alarms every interval and closes the pools no longer needed.
func (e *executor) loop() {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.AlarmInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
		served := e.s.evaluate(e.cfg.AlarmPeriod)
		e.sweep(served)
	}
}

// evaluate evaluates every alarm from the recorded metrics, drops old data points and returns
// the versions some alias serves (account/region/function/version).
func (s *Server) evaluate(period time.Duration) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	served := map[string]bool{}
	for _, a := range s.accounts {
		for _, reg := range a.regions {
			reg.metrics = slices.DeleteFunc(reg.metrics, func(p MetricPoint) bool { return now.Sub(p.Time) > metricRetention })
			for _, al := range reg.alarms {
				reg.evaluateWindow(al, period, now)
			}
			for _, fn := range reg.functions {
				for _, al := range fn.aliases {
					served[poolName(reg.account, reg.name, fn.name, al.functionVersion)] = true
					for v := range al.weights {
						served[poolName(reg.account, reg.name, fn.name, v)] = true
					}
				}
			}
		}
	}
	return served
}

func poolName(account, region, function, version string) string {
	return account + "/" + region + "/" + function + "/" + version
}

// sweep closes the pools of versions no alias serves that have been idle a while.
func (e *executor) sweep(served map[string]bool) {
	e.mu.Lock()
	var idle []*pool
	for k, p := range e.pools {
		if !served[poolName(p.account, p.region, p.function, p.version)] && time.Since(p.lastUsed) > idlePool {
			idle = append(idle, p)
			delete(e.pools, k)
		}
	}
	e.mu.Unlock()
	for _, p := range idle {
		p.fn.Close()
	}
}

// evaluateWindow computes an alarm's state from its metric's data points over its last
// EvaluationPeriods periods, the newest ending now (where a test's injected points are judged
// by evaluateAlarm as they arrive, real traffic is judged as time passes). s.mu is held.
func (reg *region) evaluateWindow(a *alarm, period time.Duration, now time.Time) {
	if period <= 0 {
		period = time.Duration(a.Period) * time.Second
	}
	n := max(1, a.EvaluationPeriods)
	values := make([][]float64, n) // values[i]: the period ending i periods ago
	for _, p := range reg.metrics {
		if p.Namespace != a.Namespace || p.MetricName != a.MetricName || !maps.Equal(p.Dimensions, a.Dimensions) {
			continue
		}
		age := now.Sub(p.Time)
		if age < 0 || age >= period*time.Duration(n) {
			continue
		}
		i := int(age / period)
		values[i] = append(values[i], p.Value)
	}
	var recent []float64
	breaching, evaluated := 0, 0
	for i := n - 1; i >= 0; i-- {
		if len(values[i]) == 0 {
			switch a.TreatMissingData {
			case "breaching":
				evaluated++
				breaching++
			case "notBreaching":
				evaluated++
			}
			continue
		}
		v := statistic(a.Statistic, values[i])
		recent = append(recent, v)
		evaluated++
		if a.breaches(v) {
			breaching++
		}
	}
	state := "OK"
	switch {
	case evaluated == 0 && a.TreatMissingData == "ignore":
		return
	case evaluated == 0:
		state = "INSUFFICIENT_DATA"
	case breaching == evaluated:
		state = "ALARM"
	}
	if state == a.state {
		return
	}
	var points []string
	for _, v := range recent {
		points = append(points, fmt.Sprintf("%g (%s)", v, now.UTC().Format("02/01/06 15:04:05")))
	}
	comparison := map[string]string{
		"GreaterThanThreshold": "greater than", "GreaterThanOrEqualToThreshold": "greater than or equal to",
		"LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
	}[a.ComparisonOperator]
	switch state {
	case "ALARM":
		a.reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] was %s the threshold (%g).", breaching, n, strings.Join(points, ", "), comparison, a.Threshold)
	case "OK":
		a.reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] was not %s the threshold (%g).", evaluated-breaching, n, strings.Join(points, ", "), comparison, a.Threshold)
	default:
		a.reason = fmt.Sprintf("Insufficient Data: %d datapoints were unknown.", n)
	}
	a.state, a.updated = state, now
	a.reasonData = stateReasonData(a, recent)
}

// invoke runs a version's code for Lambda's Invoke and answers as Invoke does.
func (e *executor) invoke(account, region, function, qualifier string, v functionVersion, payload []byte) InvokeResult {
	res, err := e.run(account, region, function, qualifier, v, payload)
	if err != nil {
		doc, _ := json.Marshal(map[string]string{"errorType": "Runtime.Unavailable", "errorMessage": err.Error()})
		return InvokeResult{Payload: doc, FunctionError: "Unhandled"}
	}
	return InvokeResult{Payload: res.Payload, FunctionError: res.FunctionError}
}

// run runs one invocation of a version and records its metrics. An error means it could not
// run at all (the code is missing or unusable, the fake is closing); it is counted as an error.
func (e *executor) run(account, region, function, qualifier string, v functionVersion, payload []byte) (lambdarun.Result, error) {
	p, err := e.pool(account, region, function, v)
	var res lambdarun.Result
	if err == nil {
		res, err = p.fn.Invoke(e.ctx, payload)
	}
	failed := err != nil || res.FunctionError != ""
	e.s.recordInvocation(account, region, function, qualifier, v.Version, failed, res.Duration)
	return res, err
}

// pool returns the started pool of a version, starting it on first use.
func (e *executor) pool(account, region, function string, v functionVersion) (*pool, error) {
	key := poolName(account, region, function, v.Version) + "/" + v.CodeSha256 + "/" + v.Code.Env
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, lambdarun.ErrClosed
	}
	if p := e.pools[key]; p != nil {
		p.lastUsed = time.Now()
		return p, nil
	}
	code := []byte(v.Code.Zip)
	if len(code) == 0 {
		var err error
		if code, err = e.s.s3.readAnyObject(v.Code.Bucket, v.Code.Key); err != nil {
			return nil, fmt.Errorf("read the code of %s:%s from s3://%s/%s: %w", function, v.Version, v.Code.Bucket, v.Code.Key, err)
		}
	}
	env := map[string]string{}
	if v.Code.Env != "" {
		if err := json.Unmarshal([]byte(v.Code.Env), &env); err != nil {
			return nil, fmt.Errorf("environment of %s:%s: %w", function, v.Version, err)
		}
	}
	fn, err := lambdarun.Start(e.ctx, lambdarun.Config{
		Code: code, Env: env, FunctionName: function, Version: v.Version, Region: region, Account: account,
		Handler: v.Handler, Memory: v.MemorySize, Timeout: time.Duration(v.Timeout) * time.Second,
		Instances: e.cfg.Instances, Log: e.cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s:%s: %w", function, v.Version, err)
	}
	p := &pool{account: account, region: region, function: function, version: v.Version, fn: fn, lastUsed: time.Now()}
	e.pools[key] = p
	return p, nil
}

// readAnyObject reads an object for Lambda, which the bucket's policy lets read the code of
// functions in other accounts.
func (f *s3Front) readAnyObject(bucket, key string) ([]byte, error) {
	f.mu.Lock()
	owner, ok := f.owners[bucket]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no bucket %s", bucket)
	}
	return f.readObject(owner, bucket, key)
}

// recordInvocation adds an invocation's data points as Lambda publishes them.
func (s *Server) recordInvocation(account, region, function, qualifier, version string, failed bool, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.regionLocked(account, region)
	now := s.cfg.Now()
	sets := []map[string]string{{"FunctionName": function}}
	if qualifier != "" && qualifier != "$LATEST" {
		resource := function + ":" + qualifier
		sets = append(sets, map[string]string{"FunctionName": function, "Resource": resource},
			map[string]string{"FunctionName": function, "Resource": resource, "ExecutedVersion": version})
	}
	errs := 0.0
	if failed {
		errs = 1
	}
	for _, dims := range sets {
		for name, value := range map[string]float64{"Invocations": 1, "Errors": errs, "Duration": float64(took) / float64(time.Millisecond)} {
			reg.metrics = append(reg.metrics, MetricPoint{Namespace: "AWS/Lambda", MetricName: name, Dimensions: dims, Time: now, Value: value})
		}
	}
}

// putAliasFromStack creates, updates or removes the alias an AWS::Lambda::Alias describes, as
// the stack's own change: its FunctionVersion, without weights.
func (reg *region) putAliasFromStack(props map[string]any, remove bool) {
	m := functionNamePattern.FindStringSubmatch(scalarString(props["FunctionName"]))
	name := scalarString(props["Name"])
	if m == nil || reg.functions[m[5]] == nil || name == "" {
		return
	}
	fn := reg.functions[m[5]]
	if remove {
		delete(fn.aliases, name)
		return
	}
	version := scalarString(props["FunctionVersion"])
	if _, ok := fn.version(version); !ok {
		return
	}
	a := fn.aliases[name]
	if a == nil {
		a = &alias{name: name, arn: fn.arn + ":" + name}
		fn.aliases[name] = a
	}
	a.functionVersion, a.weights, a.revisionID = version, nil, newRequestID()
	a.description = scalarString(props["Description"])
	reg.recordAlias(fn, a, "")
}

// Resource types the execution mode makes real beyond functions and alarms.
const (
	lambdaAlias     = "AWS::Lambda::Alias"
	httpAPI         = "AWS::Serverless::HttpApi"
	apiGatewayV2API = "AWS::ApiGatewayV2::Api"
)

// applyAPI starts serving a stack's HTTP API on loopback, or stops it when the API is removed.
// s.mu is held.
func (e *executor) applyAPI(reg *region, st *stack, logicalID, action string) {
	r := st.resources[logicalID]
	if r == nil {
		return
	}
	key := reg.account + "/" + reg.name + "/" + r.PhysicalID
	e.mu.Lock()
	defer e.mu.Unlock()
	if action == "Remove" {
		if a := e.apis[key]; a != nil {
			a.server.Close()
			delete(e.apis, key)
		}
		return
	}
	if e.apis[key] != nil || e.ctx.Err() != nil {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return // the API keeps its execute-api URL, which answers nothing
	}
	account, region, apiID := reg.account, reg.name, r.PhysicalID
	api := &lambdarun.HTTPAPI{APIID: apiID, Account: account, Invoke: func(_ context.Context, payload []byte) (lambdarun.Result, error) {
		return e.invokeAPI(account, region, st, apiID, payload)
	}}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: time.Minute}
	e.apis[key] = &servedAPI{url: "http://" + ln.Addr().String(), server: srv}
	go func() { _ = srv.Serve(ln) }()
}

// invokeAPI runs one request of an API through its integration.
func (e *executor) invokeAPI(account, region string, st *stack, apiID string, payload []byte) (lambdarun.Result, error) {
	e.s.mu.Lock()
	reg := e.s.regionLocked(account, region)
	function, qualifier, err := integrationTarget(st, apiID)
	var v functionVersion
	if err == nil {
		fn := reg.functions[function]
		var ok bool
		if fn != nil {
			v, ok = fn.version(qualifier)
		}
		if !ok {
			err = fmt.Errorf("the integration's function %s:%s does not exist", function, qualifier)
		} else {
			v = fn.route(qualifier, v)
		}
	}
	e.s.mu.Unlock()
	if err != nil {
		return lambdarun.Result{}, err
	}
	if !v.Code.runnable() {
		return lambdarun.Result{}, fmt.Errorf("version %s of %s has no code in S3 the fake can run", v.Version, function)
	}
	return e.run(account, region, function, qualifier, v, payload)
}

// integrationTarget finds the function (and qualifier) an API's requests go to. s.mu is held.
func integrationTarget(st *stack, apiID string) (function, qualifier string, err error) {
	var uri string
	for _, r := range st.resources {
		switch {
		case r.PhysicalID == apiID && (r.Type == httpAPI || r.Type == apiGatewayV2API):
			if t := scalarString(r.Properties["Target"]); t != "" {
				uri = t
			} else if u := findIntegrationURI(r.Properties); u != "" {
				uri = u
			}
		case r.Type == "AWS::ApiGatewayV2::Integration" && scalarString(r.Properties["ApiId"]) == apiID && uri == "":
			uri = scalarString(r.Properties["IntegrationUri"])
		}
	}
	if uri == "" {
		return "", "", errors.New("the API has no Lambda integration")
	}
	target := uri
	if _, rest, ok := strings.Cut(uri, "/functions/"); ok {
		target, _, _ = strings.Cut(rest, "/invocations")
	}
	// A Ref to an AWS::Lambda::Alias of the stack names the alias.
	for _, r := range st.resources {
		if r.Type == lambdaAlias && r.PhysicalID == target {
			target = scalarString(r.Properties["FunctionName"]) + ":" + scalarString(r.Properties["Name"])
		}
	}
	m := functionNamePattern.FindStringSubmatch(target)
	if m == nil {
		return "", "", fmt.Errorf("the API's integration %s is not a Lambda function", uri)
	}
	return m[5], m[7], nil
}

// findIntegrationURI returns the first x-amazon-apigateway-integration uri in an OpenAPI
// definition.
func findIntegrationURI(v any) string {
	switch v := v.(type) {
	case map[string]any:
		if in, ok := v["x-amazon-apigateway-integration"].(map[string]any); ok {
			if u := scalarString(in["uri"]); u != "" {
				return u
			}
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if u := findIntegrationURI(v[k]); u != "" {
				return u
			}
		}
	case []any:
		for _, x := range v {
			if u := findIntegrationURI(x); u != "" {
				return u
			}
		}
	}
	return ""
}

// servedOutputs replaces, in a stack's outputs, the execute-api URL of each API the fake serves
// with its loopback URL. s.mu is held.
func (s *Server) servedOutputs(reg *region, st *stack, outs []stackOutput) []stackOutput {
	if s.exec == nil {
		return outs
	}
	s.exec.mu.Lock()
	defer s.exec.mu.Unlock()
	for _, r := range st.resources {
		a := s.exec.apis[reg.account+"/"+reg.name+"/"+r.PhysicalID]
		if a == nil {
			continue
		}
		public := "https://" + r.PhysicalID + ".execute-api." + reg.name + ".amazonaws.com"
		for i := range outs {
			outs[i].OutputValue = strings.ReplaceAll(outs[i].OutputValue, public, a.url)
		}
	}
	return outs
}

// APIURL returns the loopback URL an HTTP API is served at with Config.Execution, or false.
func (s *Server) APIURL(account, region, apiID string) (string, bool) {
	if s.exec == nil {
		return "", false
	}
	s.exec.mu.Lock()
	defer s.exec.mu.Unlock()
	a := s.exec.apis[account+"/"+region+"/"+apiID]
	if a == nil {
		return "", false
	}
	return a.url, true
}

// StackResource returns the physical ID of a stack's resource, such as the name of the
// function a template declares.
func (s *Server) StackResource(account, region, stackName, logicalID string) (physicalID string, err error) {
	err = s.withStack(account, region, stackName, func(st *stack) {
		if r := st.resources[logicalID]; r != nil {
			physicalID = r.PhysicalID
		}
	})
	if err == nil && physicalID == "" {
		err = fmt.Errorf("stack %s has no resource %s", stackName, logicalID)
	}
	return physicalID, err
}
