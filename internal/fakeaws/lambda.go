package fakeaws

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// function is a Lambda function: its unpublished $LATEST and its published versions.
type function struct {
	name, arn    string
	latest       functionVersion
	versions     []functionVersion // version N is versions[N-1]
	aliases      map[string]*alias
	lastModified time.Time
	// updateEnds is when the update under way ends; zero when none is.
	updateEnds time.Time
}

type functionVersion struct {
	Version      string
	Runtime      string
	Handler      string
	Role         string
	Description  string
	MemorySize   int
	Timeout      int
	CodeSha256   string
	CodeSize     int64
	RevisionID   string
	LastModified time.Time
	Code         codeSource // where its code is, for Config.Execution to run it
}

type alias struct {
	name, arn       string
	functionVersion string
	description     string
	weights         map[string]float64
	revisionID      string
}

// AliasChange is one state of a Lambda alias, as CreateAlias or UpdateAlias (or a stack, or a
// CodeDeploy deployment) left it.
type AliasChange struct {
	Function        string
	Alias           string
	FunctionVersion string
	// Weights is RoutingConfig.AdditionalVersionWeights: the share of traffic each other
	// version receives. Nil when the alias routes everything to FunctionVersion.
	Weights     map[string]float64
	SessionName string // the role session that changed it; empty for a stack or deployment
}

// InvokeRequest is a Lambda Invoke the fake received, for Hooks.Invoke to answer.
type InvokeRequest struct {
	Account, Region string
	Function        string // the function's name
	Qualifier       string // the alias or version asked for; empty for $LATEST
	Version         string // the version that runs, after the alias's weights
	Payload         []byte
}

// InvokeResult is what an invoked function returns.
type InvokeResult struct {
	Payload []byte
	// FunctionError is "Unhandled" or "Handled" for a function that failed; empty if it
	// succeeded.
	FunctionError string
}

var lambdaProtocol = restJSONProtocol{}

var (
	aliasNamePattern    = regexp.MustCompile(`^(?:[a-zA-Z0-9-_]*[a-zA-Z-_][a-zA-Z0-9-_]*)$`)
	functionNamePattern = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov)?-[a-z]+-\d{1}):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9-_]{1,64})(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)
	lambdaPath          = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)(?:/(code|versions|aliases|invocations)(?:/([^/]+))?)?$`)
)

// restJSONProtocol is Lambda's REST-JSON: the operation is the method and path.
type restJSONProtocol struct{}

type lambdaRoute struct {
	op       string
	function string
	alias    string
}

func routeLambda(r *request) lambdaRoute {
	path, _, _ := strings.Cut(r.http.RequestURI, "?")
	m := lambdaPath.FindStringSubmatch(path)
	if m == nil {
		return lambdaRoute{}
	}
	fn, _ := url.PathUnescape(m[1])
	sub, _ := url.PathUnescape(m[3])
	route := lambdaRoute{function: fn, alias: sub}
	switch method := r.http.Method; {
	case m[2] == "" && method == http.MethodGet:
		route.op = "GetFunction"
	case m[2] == "code" && sub == "" && method == http.MethodPut:
		route.op = "UpdateFunctionCode"
	case m[2] == "versions" && sub == "" && method == http.MethodPost:
		route.op = "PublishVersion"
	case m[2] == "aliases" && sub == "" && method == http.MethodPost:
		route.op = "CreateAlias"
	case m[2] == "aliases" && sub != "" && method == http.MethodGet:
		route.op = "GetAlias"
	case m[2] == "aliases" && sub != "" && method == http.MethodPut:
		route.op = "UpdateAlias"
	case m[2] == "aliases" && sub != "" && method == http.MethodDelete:
		route.op = "DeleteAlias"
	case m[2] == "invocations" && sub == "" && method == http.MethodPost:
		route.op = "Invoke"
	}
	return route
}

func (restJSONProtocol) operation(r *request) string { return routeLambda(r).op }

// restResult is a REST reply: a status, headers and a JSON body (or raw bytes).
type restResult struct {
	status  int
	headers map[string]string
	body    any
	raw     []byte
}

func (restJSONProtocol) serve(r *request) (any, error) {
	route := routeLambda(r)
	if route.op == "" {
		return nil, &apiError{Code: "UnknownOperationException", Message: "the fake does not serve " + r.http.Method + " " + r.http.URL.Path, Status: 404}
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	fn, qualifier, err := reg.lookupFunction(r, route.function)
	if err != nil {
		return nil, err
	}
	if now := r.s.cfg.Now(); !fn.updateEnds.IsZero() && !now.Before(fn.updateEnds) {
		fn.updateEnds = time.Time{}
	}
	if q := r.http.URL.Query().Get("Qualifier"); q != "" {
		qualifier = q
	}
	switch route.op {
	case "GetFunction":
		return reg.getFunction(fn, qualifier)
	case "UpdateFunctionCode":
		return reg.updateFunctionCode(r, fn)
	case "PublishVersion":
		return reg.publishVersion(r, fn)
	case "CreateAlias":
		return reg.createAlias(r, fn)
	case "GetAlias":
		a := fn.aliases[route.alias]
		if a == nil {
			return nil, notFound("Alias not found: %s:%s", fn.arn, route.alias)
		}
		return restResult{status: 200, body: aliasJSON(a)}, nil
	case "UpdateAlias":
		return reg.updateAlias(r, fn, route.alias)
	case "DeleteAlias":
		// As Lambda: deleting an alias that does not exist is not an error.
		delete(fn.aliases, route.alias)
		return restResult{status: 204, raw: []byte{}}, nil
	case "Invoke":
		return reg.invoke(r, fn, qualifier)
	}
	return nil, fmt.Errorf("unrouted operation %s", route.op)
}

func (restJSONProtocol) writeResult(w http.ResponseWriter, r *request, result any) {
	res := result.(restResult)
	for k, v := range res.headers {
		w.Header().Set(k, v)
	}
	if res.raw != nil || res.body == nil {
		w.Header().Set("X-Amzn-RequestId", r.requestID)
		w.WriteHeader(res.status)
		w.Write(res.raw)
		return
	}
	writeJSON(w, r, res.status, "application/json", res.body)
}

func (restJSONProtocol) writeError(w http.ResponseWriter, r *request, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	kind := "User"
	if e.Server {
		kind = "Service"
	}
	writeJSON(w, r, e.status(), "application/json", map[string]string{"Type": kind, "message": e.Message})
}

func (restJSONProtocol) authError(f *authFailure) *apiError { return authError(jsonAuthCodes, f) }

func notFound(format string, args ...any) *apiError {
	return &apiError{Code: "ResourceNotFoundException", Message: fmt.Sprintf(format, args...), Status: 404}
}

func invalidParameter(format string, args ...any) *apiError {
	return errorf("InvalidParameterValueException", format, args...)
}

// lookupFunction finds a function of the caller's account by name or ARN; an ARN may carry a
// qualifier.
func (reg *region) lookupFunction(r *request, name string) (*function, string, error) {
	m := functionNamePattern.FindStringSubmatch(name)
	if m == nil {
		return nil, "", invalidParameter("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", name)
	}
	owner := m[3]
	if owner == "" {
		owner = m[4]
	}
	if (owner != "" && owner != reg.account) || (m[2] != "" && m[2] != reg.name) {
		return nil, "", &apiError{Code: "AccessDeniedException", Status: 403, Message: fmt.Sprintf(
			"User: %s is not authorized to perform: lambda:%s on resource: %s because no resource-based policy allows the lambda:%s action", r.principalARN(), r.operation, name, r.operation)}
	}
	fn := reg.functions[m[5]]
	if fn == nil {
		return nil, "", notFound("Function not found: %s", functionARN(reg.name, reg.account, m[5]))
	}
	return fn, m[7], nil
}

func (fn *function) version(q string) (functionVersion, bool) {
	if q == "" || q == "$LATEST" {
		return fn.latest, true
	}
	if a := fn.aliases[q]; a != nil {
		q = a.functionVersion
		if q == "$LATEST" {
			return fn.latest, true
		}
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > len(fn.versions) {
		return functionVersion{}, false
	}
	return fn.versions[n-1], true
}

func (fn *function) configuration(v functionVersion) map[string]any {
	arn := fn.arn
	if v.Version != "$LATEST" {
		arn += ":" + v.Version
	}
	return map[string]any{
		"FunctionName": fn.name, "FunctionArn": arn, "Runtime": v.Runtime, "Role": v.Role, "Handler": v.Handler,
		"CodeSize": v.CodeSize, "Description": v.Description, "Timeout": v.Timeout, "MemorySize": v.MemorySize,
		"LastModified": v.LastModified.UTC().Format("2006-01-02T15:04:05.000-0700"), "CodeSha256": v.CodeSha256,
		"Version": v.Version, "RevisionId": v.RevisionID, "State": "Active", "LastUpdateStatus": fn.updateStatus(v),
		"PackageType": "Zip", "Architectures": []string{"x86_64"},
	}
}

func (fn *function) updateStatus(v functionVersion) string {
	if v.Version == "$LATEST" && !fn.updateEnds.IsZero() {
		return "InProgress"
	}
	return "Successful"
}

// busy refuses an operation while an update is under way, as Lambda does.
func (fn *function) busy() error {
	if fn.updateEnds.IsZero() {
		return nil
	}
	return &apiError{Code: "ResourceConflictException", Status: 409, Message: "The operation cannot be performed at this time. An update is in progress for resource: " + fn.arn}
}

func (reg *region) getFunction(fn *function, qualifier string) (any, error) {
	v, ok := fn.version(qualifier)
	if !ok {
		return nil, notFound("Function not found: %s:%s", fn.arn, qualifier)
	}
	return restResult{status: 200, body: map[string]any{
		"Configuration": fn.configuration(v),
		"Code": map[string]string{"RepositoryType": "S3",
			"Location": "https://awslambda-" + reg.name + "-tasks.s3." + reg.name + ".amazonaws.com/snapshots/" + reg.account + "/" + fn.name + "-" + v.CodeSha256[:8]},
	}}, nil
}

func (reg *region) updateFunctionCode(r *request, fn *function) (any, error) {
	var in struct {
		ZipFile         []byte
		S3Bucket        string
		S3Key           string
		S3ObjectVersion string
		ImageUri        string
		Publish         bool
		DryRun          bool
		RevisionId      string
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	sources := 0
	for _, given := range []bool{in.ZipFile != nil, in.S3Bucket != "" || in.S3Key != "", in.ImageUri != ""} {
		if given {
			sources++
		}
	}
	switch {
	case sources == 0:
		return nil, invalidParameter("Please provide a source for function code.")
	case sources > 1:
		return nil, invalidParameter("Please do not provide more than one source for function code.")
	case in.ImageUri != "":
		return nil, invalidParameter("Please don't provide ImageUri when updating a function with packageType Zip.")
	case (in.S3Bucket == "") != (in.S3Key == ""):
		return nil, invalidParameter("Please provide both S3Bucket and S3Key.")
	case in.RevisionId != "" && in.RevisionId != fn.latest.RevisionID:
		return nil, &apiError{Code: "PreconditionFailedException", Status: 412, Message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
	}
	if err := fn.busy(); err != nil {
		return nil, err
	}
	code := in.ZipFile
	if in.S3Bucket != "" {
		data, err := r.s.s3.readObject(reg.account, in.S3Bucket, in.S3Key)
		if err != nil {
			return nil, invalidParameter("Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %s", "NoSuchKey", err.Error())
		}
		code = data
	}
	if len(code) == 0 {
		return nil, invalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	if in.DryRun {
		return restResult{status: 200, body: fn.configuration(fn.latest)}, nil
	}
	sum := sha256.Sum256(code)
	fn.latest.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	fn.latest.CodeSize = int64(len(code))
	fn.latest.Code = codeSource{Bucket: in.S3Bucket, Key: in.S3Key, Env: fn.latest.Code.Env}
	if in.ZipFile != nil {
		fn.latest.Code.Zip = string(in.ZipFile)
	}
	fn.latest.RevisionID = newRequestID()
	fn.latest.LastModified = r.s.cfg.Now()
	if in.Publish {
		v := fn.publish(r.s.cfg.Now(), "")
		return restResult{status: 200, body: fn.configuration(v)}, nil
	}
	fn.updateEnds = r.s.cfg.Now().Add(r.s.cfg.LambdaUpdateDelay)
	return restResult{status: 200, body: fn.configuration(fn.latest)}, nil
}

// publish makes $LATEST a version, unless the newest version already has its code and
// configuration, in which case that version is returned as Lambda does.
func (fn *function) publish(now time.Time, description string) functionVersion {
	if n := len(fn.versions); n > 0 && sameConfiguration(fn.latest, fn.versions[n-1]) {
		return fn.versions[n-1]
	}
	v := fn.latest
	v.Version = strconv.Itoa(len(fn.versions) + 1)
	v.RevisionID = newRequestID()
	v.LastModified = now
	if description != "" {
		v.Description = description
	}
	fn.versions = append(fn.versions, v)
	fn.latest.RevisionID = newRequestID()
	return v
}

func (reg *region) publishVersion(r *request, fn *function) (any, error) {
	var in struct {
		CodeSha256  string
		Description string
		RevisionId  string
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	if in.CodeSha256 != "" && in.CodeSha256 != fn.latest.CodeSha256 {
		return nil, invalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, fn.latest.CodeSha256)
	}
	if in.RevisionId != "" && in.RevisionId != fn.latest.RevisionID {
		return nil, &apiError{Code: "PreconditionFailedException", Status: 412, Message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
	}
	if err := fn.busy(); err != nil {
		return nil, err
	}
	v := fn.publish(r.s.cfg.Now(), in.Description)
	return restResult{status: 201, body: fn.configuration(v)}, nil
}

type aliasInput struct {
	Name            string
	FunctionVersion *string
	Description     *string
	RoutingConfig   *struct {
		AdditionalVersionWeights map[string]float64
	}
	RevisionId string
}

func aliasJSON(a *alias) map[string]any {
	out := map[string]any{"AliasArn": a.arn, "Name": a.name, "FunctionVersion": a.functionVersion, "Description": a.description, "RevisionId": a.revisionID}
	if len(a.weights) > 0 {
		out["RoutingConfig"] = map[string]any{"AdditionalVersionWeights": a.weights}
	}
	return out
}

// checkAlias validates an alias's version and weights as Lambda does.
func (fn *function) checkAlias(version string, weights map[string]float64) error {
	if version != "$LATEST" {
		if _, ok := fn.version(version); !ok || fn.aliases[version] != nil {
			return notFound("Function not found: %s:%s", fn.arn, version)
		}
	}
	if len(weights) > 1 {
		return invalidParameter("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range weights {
		if w < 0 || w > 1 {
			return invalidParameter("1 validation error detected: Value '%v' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]", w)
		}
		if v == version {
			return invalidParameter("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
		if version == "$LATEST" || v == "$LATEST" {
			return invalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if _, err := strconv.Atoi(v); err != nil {
			return invalidParameter("Invalid function version %s in AdditionalVersionWeights", v)
		}
		if _, ok := fn.version(v); !ok {
			return notFound("Function not found: %s:%s", fn.arn, v)
		}
	}
	return nil
}

func (reg *region) createAlias(r *request, fn *function) (any, error) {
	var in aliasInput
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" || len(in.Name) > 128 || !aliasNamePattern.MatchString(in.Name) {
		return nil, invalidParameter("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", in.Name)
	}
	if in.FunctionVersion == nil || *in.FunctionVersion == "" {
		return nil, invalidParameter("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null")
	}
	if fn.aliases[in.Name] != nil {
		return nil, &apiError{Code: "ResourceConflictException", Status: 409, Message: "Alias already exists: " + fn.arn + ":" + in.Name}
	}
	var weights map[string]float64
	if in.RoutingConfig != nil {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if err := fn.checkAlias(*in.FunctionVersion, weights); err != nil {
		return nil, err
	}
	a := &alias{name: in.Name, arn: fn.arn + ":" + in.Name, functionVersion: *in.FunctionVersion, weights: weights, revisionID: newRequestID()}
	if in.Description != nil {
		a.description = *in.Description
	}
	fn.aliases[in.Name] = a
	reg.recordAlias(fn, a, r.cred.sessionName)
	return restResult{status: 201, body: aliasJSON(a)}, nil
}

func (reg *region) updateAlias(r *request, fn *function, name string) (any, error) {
	var in aliasInput
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	a := fn.aliases[name]
	if a == nil {
		return nil, notFound("Alias not found: %s:%s", fn.arn, name)
	}
	if in.RevisionId != "" && in.RevisionId != a.revisionID {
		return nil, &apiError{Code: "PreconditionFailedException", Status: 412, Message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
	}
	version, weights := a.functionVersion, a.weights
	if in.FunctionVersion != nil {
		version = *in.FunctionVersion
	}
	if in.RoutingConfig != nil {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if err := fn.checkAlias(version, weights); err != nil {
		return nil, err
	}
	a.functionVersion, a.weights, a.revisionID = version, weights, newRequestID()
	if len(a.weights) == 0 {
		a.weights = nil
	}
	if in.Description != nil {
		a.description = *in.Description
	}
	reg.recordAlias(fn, a, r.cred.sessionName)
	return restResult{status: 200, body: aliasJSON(a)}, nil
}

func (reg *region) recordAlias(fn *function, a *alias, session string) {
	var weights map[string]float64
	if len(a.weights) > 0 {
		weights = maps.Clone(a.weights)
	}
	reg.aliasHistory = append(reg.aliasHistory, AliasChange{Function: fn.name, Alias: a.name, FunctionVersion: a.functionVersion, Weights: weights, SessionName: session})
}

func (reg *region) invoke(r *request, fn *function, qualifier string) (any, error) {
	invocationType := r.http.Header.Get("X-Amz-Invocation-Type")
	switch invocationType {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		return nil, invalidParameter("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invocationType)
	}
	v, ok := fn.version(qualifier)
	if !ok {
		return nil, notFound("Function not found: %s:%s", fn.arn, qualifier)
	}
	v = fn.route(qualifier, v)
	if invocationType == "DryRun" {
		return restResult{status: 204}, nil
	}
	req := InvokeRequest{Account: reg.account, Region: reg.name, Function: fn.name, Qualifier: qualifier, Version: v.Version, Payload: r.body}
	hook := r.s.hooks.invoke
	result := InvokeResult{Payload: []byte("null")}
	if r.s.exec != nil && v.Code.runnable() {
		// The function's own code runs, without the lock: an invocation takes its time.
		func() {
			r.s.mu.Unlock()
			defer r.s.mu.Lock()
			result = r.s.exec.invoke(reg.account, reg.name, fn.name, qualifier, v, r.body)
		}()
	} else if hook != nil {
		// The hook runs without the lock, so it may call the Server's own methods; the lock is
		// taken again even if the hook panics, for the caller's deferred unlock.
		func() {
			r.s.mu.Unlock()
			defer r.s.mu.Lock()
			result = hook(req)
		}()
	}
	if invocationType == "Event" {
		return restResult{status: 202, raw: []byte{}}, nil
	}
	headers := map[string]string{"X-Amz-Executed-Version": v.Version, "Content-Type": "application/json"}
	if result.FunctionError != "" {
		headers["X-Amz-Function-Error"] = result.FunctionError
	}
	payload := result.Payload
	if payload == nil {
		payload = []byte("null")
	}
	return restResult{status: 200, headers: headers, raw: payload}, nil
}

// putFunctionFromStack creates or updates the function a stack's resource describes. A SAM
// function with AutoPublishAlias points its alias at a version with the new code and
// configuration (publishing one if none has it): all at once, or, if shift is not nil and the
// alias moves, through a CodeDeploy deployment whose ID it returns.
func (reg *region) putFunctionFromStack(name, typ string, props map[string]any, now time.Time, shift *Deployment) string {
	fn := reg.functions[name]
	if fn == nil {
		fn = &function{name: name, arn: functionARN(reg.name, reg.account, name), aliases: map[string]*alias{}}
		reg.functions[name] = fn
	}
	code := props["Code"]
	if typ == samFunction {
		code = map[string]any{"CodeUri": props["CodeUri"], "InlineCode": props["InlineCode"]}
	}
	sum := sha256.Sum256([]byte(canonicalJSON(code)))
	v := functionVersion{
		Version: "$LATEST", Runtime: scalarString(props["Runtime"]), Handler: scalarString(props["Handler"]),
		Role: scalarString(props["Role"]), Description: scalarString(props["Description"]),
		MemorySize: 128, Timeout: 3, CodeSha256: base64.StdEncoding.EncodeToString(sum[:]), CodeSize: int64(len(canonicalJSON(code))),
		RevisionID: newRequestID(), LastModified: now, Code: codeFromProperties(typ, props),
	}
	if v.Role == "" {
		v.Role = "arn:aws:iam::" + reg.account + ":role/" + name + "-role"
	}
	if n, err := strconv.Atoi(scalarString(props["MemorySize"])); err == nil {
		v.MemorySize = n
	}
	if n, err := strconv.Atoi(scalarString(props["Timeout"])); err == nil {
		v.Timeout = n
	}
	fn.latest = v
	aliasName := scalarString(props["AutoPublishAlias"])
	if typ != samFunction || aliasName == "" {
		return ""
	}
	// The stack's AWS::Lambda::Version for this code may exist already (a rollback goes back to
	// it); otherwise the stack publishes one.
	target, found := fn.versionLike(fn.latest)
	if !found {
		target = fn.publish(now, "")
	}
	a := fn.aliases[aliasName]
	if a == nil {
		a = &alias{name: aliasName, arn: fn.arn + ":" + aliasName}
		fn.aliases[aliasName] = a
	} else if shift != nil && a.functionVersion != target.Version {
		d := &deployment{Deployment: *shift, id: newDeploymentID(), status: DeploymentInProgress, created: now}
		d.Function, d.Alias, d.From, d.To = name, aliasName, a.functionVersion, target.Version
		reg.deployments[d.id] = d
		return d.id
	}
	if a.functionVersion != target.Version || len(a.weights) > 0 {
		a.functionVersion, a.weights, a.revisionID = target.Version, nil, newRequestID()
		reg.recordAlias(fn, a, "")
	}
	return ""
}

// versionLike finds a published version with v's code and configuration.
func (fn *function) versionLike(v functionVersion) (functionVersion, bool) {
	for i := len(fn.versions) - 1; i >= 0; i-- {
		if sameConfiguration(v, fn.versions[i]) {
			return fn.versions[i], true
		}
	}
	return functionVersion{}, false
}

// sameConfiguration tells whether two versions have the same code and configuration.
func sameConfiguration(a, b functionVersion) bool {
	a.Version, a.RevisionID, a.LastModified, a.Description = b.Version, b.RevisionID, b.LastModified, b.Description
	return a == b
}
