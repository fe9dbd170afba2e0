package lint

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/lint/cfnspec"
	"github.com/sluicehq/sluice/lint/template"
	"github.com/sluicehq/sluice/spec"
)

// Schema rule IDs. Each names one kind of mistake against the resource specification or the
// template format.
const (
	RuleParse         = "T000" // the template cannot be read
	RuleSection       = "T001" // unknown or malformed top-level section
	RuleDuplicateKey  = "T002" // a key written twice in one mapping
	RuleResource      = "T010" // a malformed resource entry (no Type, bad logical ID, unknown key)
	RuleResourceType  = "T011" // a resource type the specification does not have
	RuleProperty      = "T012" // a property the type does not have
	RuleRequired      = "T013" // a required property is missing
	RuleValueType     = "T014" // a value of the wrong type
	RuleAllowedValue  = "T015" // a value outside the allowed values
	RuleRef           = "T020" // Ref to nothing
	RuleGetAtt        = "T021" // Fn::GetAtt to nothing, or an attribute the type does not have
	RuleSub           = "T022" // Fn::Sub variable that names nothing
	RuleDependsOn     = "T023" // DependsOn a resource that does not exist
	RuleCondition     = "T024" // a condition that does not exist
	RuleMapping       = "T025" // Fn::FindInMap of a mapping or key that does not exist
	RuleFunction      = "T026" // an unknown or malformed intrinsic function
	RuleParameter     = "T030" // a malformed parameter
	RuleOutput        = "T031" // a malformed output
	RuleSuppression   = "T040" // a malformed suppression
	samTransform      = "AWS::Serverless-2016-10-31"
	customServiceType = "AWS::CloudFormation::CustomResource"
)

var sections = []string{
	"AWSTemplateFormatVersion", "Conditions", "Description", "Globals", "Hooks", "Mappings",
	"Metadata", "Outputs", "Parameters", "Resources", "Rules", "Transform",
}

var resourceKeys = []string{
	"Condition", "CreationPolicy", "DeletionPolicy", "DependsOn", "Metadata", "Properties",
	"Type", "UpdatePolicy", "UpdateReplacePolicy", "Version",
}

var policyValues = map[string][]string{
	"DeletionPolicy":      {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"},
	"UpdateReplacePolicy": {"Delete", "Retain", "Snapshot"},
}

var pseudoParameters = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

var parameterTypes = []string{"String", "Number", "List<Number>", "CommaDelimitedList"}

var logicalID = regexp.MustCompile(`^[A-Za-z0-9]+$`)

func (c *checker) checkSchema() {
	c.duplicates(c.root, "")
	for _, e := range c.root.Entries {
		if !contains(sections, e.Key.Value) {
			c.errorf(RuleSection, e.Key, "", e.Key.Value, "unknown section %q%s", e.Key.Value, orKnown(e.Key.Value, sections))
		}
	}
	c.readTransform()
	c.collect()
	if c.macro != nil {
		c.report(SeverityWarning, RuleSection, c.macro, "", "Transform", "the template uses the macro %q, which Sluice cannot expand: its resources are not checked against the specification, only the security rules run; lint the processed template (aws cloudformation get-template --template-stage Processed) for a full check", c.macro.Value)
		for _, r := range c.order {
			c.readResourceType(r)
		}
		return
	}
	c.checkParameters()
	for _, r := range c.order {
		c.checkResource(r)
	}
	c.checkGlobals()
	c.checkOutputs()
	c.checkReferences()
}

// readResourceType sets the type and properties of r without checking them.
func (c *checker) readResourceType(r *resource) {
	if r.node.Kind != template.Mapping {
		return
	}
	if t := r.node.Get("Type"); t.IsString() {
		r.typ = t.Value
		r.def = c.db.Resource(r.typ)
	}
	r.properties = r.node.Get("Properties")
}

// duplicates reports keys written twice in one mapping: CloudFormation keeps one of them
// silently, or refuses the template, depending on the format.
func (c *checker) duplicates(n *template.Node, path string) {
	switch n.Kind {
	case template.Mapping:
		seen := make(map[string]bool, len(n.Entries))
		for _, e := range n.Entries {
			p := join(path, e.Key.Value)
			if seen[e.Key.Value] {
				c.errorf(RuleDuplicateKey, e.Key, resourceOf(p), p, "%q is written twice in this mapping; keep one", e.Key.Value)
			}
			seen[e.Key.Value] = true
			c.duplicates(e.Value, p)
		}
	case template.Sequence:
		for i, it := range n.Items {
			c.duplicates(it, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// readTransform notes the SAM transform, and macros: a template that names a macro other than
// AWS's own transforms is checked only for what a macro cannot change, since the macro may
// rewrite anything.
func (c *checker) readTransform() {
	t := c.root.Get("Transform")
	if t == nil {
		return
	}
	names := []*template.Node{t}
	if t.Kind == template.Sequence {
		names = t.Items
	}
	for _, n := range names {
		switch {
		case n.Kind != template.Scalar:
		case n.Value == samTransform:
			c.sam = true
		case n.Value == "AWS::LanguageExtensions" || n.Value == "AWS::CodeDeployBlueGreen":
		default:
			c.macro = n
		}
	}
}

// collect reads the names the template defines: parameters, conditions, mappings, resources.
func (c *checker) collect() {
	for _, sec := range []struct {
		name string
		into map[string]*template.Node
	}{{"Parameters", c.parameters}, {"Conditions", c.conditions}, {"Mappings", c.mappings}} {
		n := c.root.Get(sec.name)
		if n == nil {
			continue
		}
		if n.Kind != template.Mapping {
			c.errorf(RuleSection, n, "", sec.name, "%s must be a mapping of names, got %s", sec.name, n.Describe())
			continue
		}
		for _, e := range n.Entries {
			if _, dup := sec.into[e.Key.Value]; !dup {
				sec.into[e.Key.Value] = e.Value
			}
		}
	}
	res, ok := c.root.Entry("Resources")
	if !ok {
		c.errorf(RuleSection, c.root, "", "Resources", "the template has no Resources section; every template declares at least one resource")
		return
	}
	if res.Value.Kind != template.Mapping || len(res.Value.Entries) == 0 {
		c.errorf(RuleSection, res.Value, "", "Resources", "Resources must be a mapping of logical IDs to resources, got %s", res.Value.Describe())
		return
	}
	for _, e := range res.Value.Entries {
		id := e.Key.Value
		if strings.HasPrefix(id, "Fn::ForEach::") {
			continue // expanded by the AWS::LanguageExtensions transform; not checked here
		}
		if _, dup := c.resources[id]; dup {
			continue
		}
		r := &resource{id: id, key: e.Key, node: e.Value}
		c.resources[id] = r
		c.order = append(c.order, r)
	}
}

func (c *checker) checkParameters() {
	params := c.root.Get("Parameters")
	if params == nil || params.Kind != template.Mapping {
		return
	}
	for _, e := range params.Entries {
		path := "Parameters." + e.Key.Value
		if !logicalID.MatchString(e.Key.Value) {
			c.errorf(RuleParameter, e.Key, "", path, "parameter name %q must be letters and digits only", e.Key.Value)
		}
		if e.Value.Kind != template.Mapping {
			c.errorf(RuleParameter, e.Value, "", path, "a parameter is a mapping with at least Type, got %s", e.Value.Describe())
			continue
		}
		for _, k := range e.Value.Entries {
			if !contains(parameterKeys, k.Key.Value) {
				c.errorf(RuleParameter, k.Key, "", join(path, k.Key.Value), "%q is not a key of a parameter%s", k.Key.Value, orKnown(k.Key.Value, parameterKeys))
			}
		}
		t, ok := e.Value.Entry("Type")
		if !ok {
			c.errorf(RuleParameter, e.Key, "", path, "parameter %s has no Type; add Type: String (or Number, CommaDelimitedList, an AWS-specific type)", e.Key.Value)
			continue
		}
		v := t.Value.Value
		if t.Value.Kind != template.Scalar || !(contains(parameterTypes, v) || strings.HasPrefix(v, "AWS::") || strings.HasPrefix(v, "List<AWS::")) {
			c.errorf(RuleParameter, t.Value, "", path+".Type", "%s is not a parameter type%s", t.Value.Describe(), orKnown(v, parameterTypes))
		}
		c.checkDefault(e.Value, v, path)
	}
}

var parameterKeys = []string{
	"AllowedPattern", "AllowedValues", "ConstraintDescription", "Default", "Description", "MaxLength",
	"MaxValue", "MinLength", "MinValue", "NoEcho", "Type",
}

// checkDefault checks a parameter's Default against its Type and AllowedValues: CloudFormation
// refuses a stack whose default does not fit, but only when it is created.
func (c *checker) checkDefault(param *template.Node, typ, path string) {
	def := param.Get("Default")
	if def == nil || def.Kind != template.Scalar || def.Type == template.Null {
		return
	}
	if typ == "Number" && !isNumber(def, false) {
		c.errorf(RuleParameter, def, "", path+".Default", "the Default of a Number parameter must be a number, got %s", def.Describe())
		return
	}
	allowed := param.Get("AllowedValues")
	if allowed == nil || allowed.Kind != template.Sequence || typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
		return
	}
	var values []string
	for _, a := range allowed.Items {
		if a.Kind != template.Scalar {
			return
		}
		values = append(values, a.Value)
	}
	if !contains(values, def.Value) {
		c.errorf(RuleParameter, def, "", path+".Default", "the Default %q is not one of the AllowedValues%s", def.Value, orKnown(def.Value, values))
	}
}

func (c *checker) checkResource(r *resource) {
	path := "Resources." + r.id
	if !logicalID.MatchString(r.id) {
		c.errorf(RuleResource, r.key, r.id, path, "logical ID %q must be letters and digits only", r.id)
	}
	if r.node.Kind != template.Mapping {
		c.errorf(RuleResource, r.node, r.id, path, "a resource is a mapping with at least Type, got %s", r.node.Describe())
		return
	}
	for _, e := range r.node.Entries {
		if e.Key.Value == "Connectors" && c.sam {
			continue // SAM's embedded connectors
		}
		if !contains(resourceKeys, e.Key.Value) {
			c.errorf(RuleResource, e.Key, r.id, join(path, e.Key.Value), "%q is not a resource attribute%s", e.Key.Value, orKnown(e.Key.Value, resourceKeys))
		}
	}
	for key, values := range policyValues {
		if v := r.node.Get(key); v != nil && v.Kind == template.Scalar && !contains(values, v.Value) {
			c.errorf(RuleResource, v, r.id, join(path, key), "%s %q is not a policy%s", key, v.Value, orKnown(v.Value, values))
		}
	}
	t, ok := r.node.Entry("Type")
	if !ok {
		c.errorf(RuleResource, r.key, r.id, path, "resource %s has no Type; add Type: AWS::Service::Resource", r.id)
		return
	}
	if !t.Value.IsString() {
		c.errorf(RuleResource, t.Value, r.id, path+".Type", "Type must be a resource type name, got %s", t.Value.Describe())
		return
	}
	r.typ = t.Value.Value
	if props, ok := r.node.Entry("Properties"); ok {
		r.properties = props.Value
	}
	if strings.HasPrefix(r.typ, "Custom::") || r.typ == customServiceType {
		if r.properties == nil || (r.properties.Kind == template.Mapping && r.properties.Get("ServiceToken") == nil) {
			c.errorf(RuleRequired, t.Key, r.id, path+".Properties", "custom resource %s has no ServiceToken; add the ARN of the Lambda function or SNS topic that serves it", r.id)
		}
		return
	}
	if strings.HasSuffix(r.typ, "::MODULE") {
		return // a registry module: its properties are its own
	}
	r.def = c.db.Resource(r.typ)
	if r.def == nil {
		sev := SeverityError
		msg := "unknown resource type %q%s"
		guess := c.suggestType(r.typ)
		if !strings.HasPrefix(r.typ, "AWS::") && !strings.HasPrefix(r.typ, "Alexa::") && guess == "" {
			// Third-party registry types are real but not in the specification.
			sev, msg = SeverityWarning, "resource type %q is not in the CloudFormation specification%s; if it is a registry extension, its properties are not checked"
		}
		hint := ""
		if guess != "" {
			hint = fmt.Sprintf("; did you mean %q?", guess)
		}
		c.report(sev, RuleResourceType, t.Value, r.id, path+".Type", msg, r.typ, hint)
		return
	}
	if r.def.Transform == samTransform && !c.sam {
		c.errorf(RuleResourceType, t.Value, r.id, path+".Type", "%s needs the SAM transform; add Transform: %s at the top of the template", r.typ, samTransform)
	}
	if r.def.Open {
		return
	}
	at := t.Key
	if r.properties != nil {
		at = r.node.Entries[indexOf(r.node, "Properties")].Key
	}
	v := &valueCheck{res: r.id, typ: r.typ, lenient: r.def.Transform != ""}
	props := r.properties
	if props == nil {
		props = &template.Node{Kind: template.Mapping, Line: at.Line, Col: at.Col}
	}
	c.checkProperties(props, r.def.Properties, r.def.PropertyNames, at, path+".Properties", v, "")
}

// suggestType returns the resource type closest to an unknown one, once per name: comparing
// with 1,800 names is the costliest thing a check does.
func (c *checker) suggestType(name string) string {
	if guess, ok := c.typeGuesses[name]; ok {
		return guess
	}
	guess := spec.Suggest(name, c.db.TypeNames())
	c.typeGuesses[name] = guess
	return guess
}

// valueCheck is the context of a property value being checked.
type valueCheck struct {
	res string // the resource's logical ID
	typ string // its type, for messages
	// lenient skips what is inside structures: SAM's nested structures in the specification
	// lag SAM itself, so only SAM's top level is held to it.
	lenient bool
}

// checkProperties checks a mapping of properties against their definitions. at is where a
// missing required property is reported; nested says whether this is a structure inside a
// resource's properties.
func (c *checker) checkProperties(n *template.Node, defs map[string]*cfnspec.Property, names func() []string, at *template.Node, path string, v *valueCheck, structName string) {
	nested := structName != ""
	if c.intrinsicValue(n, path, v, func(branch *template.Node, p string) {
		c.checkProperties(branch, defs, names, branch, p, v, structName)
	}) {
		return
	}
	if n.Kind != template.Mapping {
		c.errorf(RuleValueType, n, v.res, path, "expects a mapping of properties, got %s", n.Describe())
		return
	}
	if nested && v.lenient {
		return
	}
	for _, e := range n.Entries {
		p := join(path, e.Key.Value)
		def, ok := defs[e.Key.Value]
		if !ok {
			c.errorf(RuleProperty, e.Key, v.res, p, "%q is not a property of %s%s", e.Key.Value, v.what(structName), orKnown(e.Key.Value, names()))
			continue
		}
		c.checkValue(e.Value, def.Type, p, v)
	}
	for _, name := range names() {
		if defs[name].Required && n.Get(name) == nil {
			c.errorf(RuleRequired, at, v.res, join(path, name), "%s requires %s; add it", v.what(structName), name)
		}
	}
}

// what names the structure being checked: the resource type, or a structure in it.
func (v *valueCheck) what(structName string) string {
	if structName == "" {
		return v.typ
	}
	return structName + " (in " + v.typ + ")"
}

// intrinsicValue handles a value that is an intrinsic function call: Fn::If checks both
// branches with check; any other function is taken to produce a value of the right type (what
// it resolves to is only known at deploy time). It reports whether n was a call.
func (c *checker) intrinsicValue(n *template.Node, path string, v *valueCheck, check func(*template.Node, string)) bool {
	name, arg, ok := n.Intrinsic()
	if !ok || name == "Condition" {
		return false
	}
	if name == "Fn::If" && arg.Kind == template.Sequence && len(arg.Items) == 3 {
		for i, branch := range arg.Items[1:] {
			if fn, a, ok := branch.Intrinsic(); ok && fn == "Ref" && a.Value == "AWS::NoValue" {
				continue
			}
			check(branch, fmt.Sprintf("%s.Fn::If[%d]", path, i+1))
		}
	}
	return true
}

func (c *checker) checkValue(n *template.Node, t cfnspec.Type, path string, v *valueCheck) {
	if c.intrinsicValue(n, path, v, func(branch *template.Node, p string) { c.checkValue(branch, t, p, v) }) {
		return
	}
	if n.Kind == template.Scalar && n.Type == template.Null && t.Kind != cfnspec.JSON {
		c.errorf(RuleValueType, n, v.res, path, "has no value; give it one or remove the key")
		return
	}
	switch t.Kind {
	case cfnspec.String:
		if n.Kind != template.Scalar {
			c.errorf(RuleValueType, n, v.res, path, "expects a string, got %s", n.Describe())
			return
		}
		if len(t.Allowed) > 0 && !contains(t.Allowed, n.Value) {
			c.errorf(RuleAllowedValue, n, v.res, path, "%q is not an allowed value%s", n.Value, orKnown(n.Value, t.Allowed))
		}
	case cfnspec.Number, cfnspec.Integer:
		if !isNumber(n, t.Kind == cfnspec.Integer) {
			c.errorf(RuleValueType, n, v.res, path, "expects %s, got %s", map[cfnspec.Kind]string{cfnspec.Number: "a number", cfnspec.Integer: "a whole number"}[t.Kind], n.Describe())
			return
		}
		if len(t.Allowed) > 0 && !contains(t.Allowed, n.Value) {
			c.errorf(RuleAllowedValue, n, v.res, path, "%s is not an allowed value; allowed: %s", n.Value, strings.Join(t.Allowed, ", "))
		}
	case cfnspec.Boolean:
		if n.Kind != template.Scalar || !(n.Type == template.Bool || strings.EqualFold(n.Value, "true") || strings.EqualFold(n.Value, "false")) {
			c.errorf(RuleValueType, n, v.res, path, "expects true or false, got %s", n.Describe())
		}
	case cfnspec.JSON:
		// A policy document or any other free-form value: a mapping, or a string holding one.
	case cfnspec.Tag:
		c.checkProperties(n, tagProperties, tagNames, n, path, v, "a tag")
	case cfnspec.List:
		if n.Kind != template.Sequence {
			c.errorf(RuleValueType, n, v.res, path, "expects a list, got %s", n.Describe())
			return
		}
		for i, it := range n.Items {
			c.checkValue(it, *t.Element, fmt.Sprintf("%s[%d]", path, i), v)
		}
	case cfnspec.Map:
		if n.Kind != template.Mapping {
			c.errorf(RuleValueType, n, v.res, path, "expects a mapping, got %s", n.Describe())
			return
		}
		for _, e := range n.Entries {
			c.checkValue(e.Value, *t.Element, join(path, e.Key.Value), v)
		}
	case cfnspec.Struct:
		st := c.db.Type(t.Ref)
		c.checkProperties(n, st.Properties, st.PropertyNames, n, path, v, st.Name)
	case cfnspec.Union:
		c.checkUnion(n, t, path, v)
	}
}

// checkUnion accepts n when any alternative accepts it, and otherwise reports what the
// alternative that came closest found.
func (c *checker) checkUnion(n *template.Node, t cfnspec.Type, path string, v *valueCheck) {
	start := len(c.findings)
	var best []Finding
	for i, alt := range t.Union {
		c.checkValue(n, alt, path, v)
		found := append([]Finding(nil), c.findings[start:]...)
		c.findings = c.findings[:start]
		if len(found) == 0 {
			return
		}
		if i == 0 || len(found) < len(best) {
			best = found
		}
	}
	c.findings = append(c.findings, best...)
}

var tagProperties = map[string]*cfnspec.Property{
	"Key":   {Type: cfnspec.Type{Kind: cfnspec.String}, Required: true},
	"Value": {Type: cfnspec.Type{Kind: cfnspec.String}, Required: true},
}

func tagNames() []string { return []string{"Key", "Value"} }

func isNumber(n *template.Node, whole bool) bool {
	if n.Kind != template.Scalar || n.Type == template.Bool || n.Type == template.Null {
		return false
	}
	if whole {
		if _, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return true
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		return err == nil && f == float64(int64(f))
	}
	_, err := strconv.ParseFloat(n.Value, 64)
	return err == nil
}

// checkGlobals checks SAM's Globals: each section names a SAM type and holds its properties.
func (c *checker) checkGlobals() {
	g, ok := c.root.Entry("Globals")
	if !ok {
		return
	}
	if !c.sam {
		c.errorf(RuleSection, g.Key, "", "Globals", "Globals is a SAM section; add Transform: %s or remove it", samTransform)
		return
	}
	if g.Value.Kind != template.Mapping {
		c.errorf(RuleSection, g.Value, "", "Globals", "Globals must be a mapping of SAM resource kinds (Function, Api, ...), got %s", g.Value.Describe())
		return
	}
	kinds := []string{"Api", "CapacityProvider", "Function", "HttpApi", "LayerVersion", "SimpleTable", "StateMachine", "WebSocketApi"}
	for _, e := range g.Value.Entries {
		path := "Globals." + e.Key.Value
		def := c.db.Resource("AWS::Serverless::" + e.Key.Value)
		if !contains(kinds, e.Key.Value) || def == nil {
			c.errorf(RuleSection, e.Key, "", path, "%q has no globals%s", e.Key.Value, orKnown(e.Key.Value, kinds))
			continue
		}
		if e.Value.Kind != template.Mapping {
			c.errorf(RuleValueType, e.Value, "", path, "expects a mapping of properties, got %s", e.Value.Describe())
			continue
		}
		for _, p := range e.Value.Entries {
			if _, ok := def.Properties[p.Key.Value]; !ok && !def.Open {
				c.errorf(RuleProperty, p.Key, "", join(path, p.Key.Value), "%q is not a property of AWS::Serverless::%s%s", p.Key.Value, e.Key.Value, orKnown(p.Key.Value, def.PropertyNames()))
			}
		}
	}
}

func (c *checker) checkOutputs() {
	outs := c.root.Get("Outputs")
	if outs == nil {
		return
	}
	if outs.Kind != template.Mapping {
		c.errorf(RuleSection, outs, "", "Outputs", "Outputs must be a mapping of names to outputs, got %s", outs.Describe())
		return
	}
	keys := []string{"Condition", "Description", "Export", "Value"}
	for _, e := range outs.Entries {
		path := "Outputs." + e.Key.Value
		if strings.HasPrefix(e.Key.Value, "Fn::ForEach::") {
			continue // expanded by the AWS::LanguageExtensions transform
		}
		if e.Value.Kind != template.Mapping {
			c.errorf(RuleOutput, e.Value, "", path, "an output is a mapping with at least Value, got %s", e.Value.Describe())
			continue
		}
		if e.Value.Get("Value") == nil {
			c.errorf(RuleOutput, e.Key, "", path, "output %s has no Value; add one", e.Key.Value)
		}
		for _, k := range e.Value.Entries {
			if !contains(keys, k.Key.Value) {
				c.errorf(RuleOutput, k.Key, "", join(path, k.Key.Value), "%q is not a key of an output%s", k.Key.Value, orKnown(k.Key.Value, keys))
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func indexOf(n *template.Node, key string) int {
	for i, e := range n.Entries {
		if e.Key.Value == key {
			return i
		}
	}
	return -1
}

func join(path, key string) string {
	if path == "" || key == "" {
		return path + key
	}
	return path + "." + key
}

// resourceOf returns the logical ID in a path under Resources, or "".
func resourceOf(path string) string {
	rest, ok := strings.CutPrefix(path, "Resources.")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	id, _, _ = strings.Cut(id, "[")
	return id
}

// orKnown returns a suggestion for word among candidates, or the list of them when it is short.
func orKnown(word string, candidates []string) string {
	if s := didYouMean(word, candidates); s != "" {
		return s
	}
	return knownList(candidates)
}
