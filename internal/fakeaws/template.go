package fakeaws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// template is a parsed CloudFormation template. Intrinsic functions are kept in their long
// form ({"Ref": x}, {"Fn::GetAtt": [r, a]}), whichever form the template used.
type template struct {
	body       string
	transform  bool // AWS::Serverless-2016-10-31
	parameters map[string]templateParameter
	resources  map[string]templateResource
	outputs    map[string]templateOutput
	conditions map[string]any
	mappings   map[string]any
	// source is the template as written when this one is it with its conditions applied
	// (resources and outputs whose condition is false left out, Fn::If chosen); nil for a
	// template as written.
	source *template
}

type templateParameter struct {
	Type         string
	Default      *string
	AllowedValue []string
	NoEcho       bool
}

type templateResource struct {
	Type       string
	Properties map[string]any
	DependsOn  []string
	Condition  string
}

type templateOutput struct {
	Value       any
	Description string
	Export      any
	Condition   string
}

const samTransform = "AWS::Serverless-2016-10-31"

var templateSections = []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Globals"}

var parameterTypePattern = regexp.MustCompile(`^(String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9:]+|List<AWS::[A-Za-z0-9:]+>|AWS::SSM::Parameter::Value<[A-Za-z0-9:<>]+>)$`)

var logicalIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)

func templateError(format string, args ...any) *apiError {
	return errorf("ValidationError", "Template format error: "+format, args...)
}

// parseTemplate reads a template in JSON or YAML (with the short-form tags !Ref, !GetAtt,
// !Sub and the other !Fn ones) and checks its structure as CloudFormation does before it
// accepts a change set.
func parseTemplate(body string) (*template, error) {
	if strings.TrimSpace(body) == "" {
		return nil, errorf("ValidationError", "Template body is empty; give TemplateBody or TemplateURL")
	}
	if len(body) > 51200 {
		return nil, errorf("ValidationError", "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200")
	}
	var doc any
	if trimmed := strings.TrimSpace(body); strings.HasPrefix(trimmed, "{") {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, templateError("JSON not well-formed. (%v)", err)
		}
	} else {
		f, err := parser.ParseBytes([]byte(body), 0)
		if err != nil {
			return nil, templateError("YAML not well-formed. (%s)", firstLine(err.Error()))
		}
		if len(f.Docs) != 1 || f.Docs[0].Body == nil {
			return nil, templateError("a template is one YAML document")
		}
		if doc, err = yamlValue(f.Docs[0].Body); err != nil {
			return nil, templateError("YAML not well-formed. (%v)", err)
		}
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, templateError("a template is a JSON or YAML object")
	}
	t := &template{body: body, parameters: map[string]templateParameter{}, resources: map[string]templateResource{}, outputs: map[string]templateOutput{}}
	t.conditions, _ = top["Conditions"].(map[string]any)
	t.mappings, _ = top["Mappings"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !slices.Contains(templateSections, k) {
			return nil, templateError("Invalid template property or properties [%s]", k)
		}
	}
	if v, ok := top["AWSTemplateFormatVersion"]; ok && fmt.Sprint(v) != "2010-09-09" {
		return nil, templateError("Unsupported AWSTemplateFormatVersion %v; the only version is 2010-09-09", v)
	}
	if tr, ok := top["Transform"]; ok {
		names, _ := tr.([]any)
		if s, ok := tr.(string); ok {
			names = []any{s}
		}
		for _, n := range names {
			if n != samTransform {
				return nil, errorf("ValidationError", "No transform named %v found.", n)
			}
			t.transform = true
		}
	}
	if _, ok := top["Globals"]; ok && !t.transform {
		return nil, templateError("Invalid template property or properties [Globals]")
	}
	params, _ := top["Parameters"].(map[string]any)
	for name, v := range params {
		p, ok := v.(map[string]any)
		typ, _ := p["Type"].(string)
		if !ok || typ == "" {
			return nil, templateError("[/Parameters/%s] Every Parameters object must contain a Type member.", name)
		}
		tp := templateParameter{Type: typ}
		if d, ok := p["Default"]; ok {
			s := scalarString(d)
			tp.Default = &s
		}
		for _, a := range asList(p["AllowedValues"]) {
			tp.AllowedValue = append(tp.AllowedValue, scalarString(a))
		}
		tp.NoEcho = scalarString(p["NoEcho"]) == "true"
		t.parameters[name] = tp
	}
	resources, _ := top["Resources"].(map[string]any)
	if len(resources) == 0 {
		return nil, templateError("At least one Resources member must be defined.")
	}
	var unknownTypes []string
	for name, v := range resources {
		if !logicalIDPattern.MatchString(name) {
			return nil, templateError("Resource name %s is non alphanumeric.", name)
		}
		r, ok := v.(map[string]any)
		typ, _ := r["Type"].(string)
		if !ok || typ == "" {
			return nil, templateError("[/Resources/%s] Every Resources object must contain a Type member.", name)
		}
		if !strings.HasPrefix(typ, "AWS::") && !strings.HasPrefix(typ, "Custom::") || strings.HasPrefix(typ, "AWS::Serverless::") && !t.transform {
			unknownTypes = append(unknownTypes, typ)
		}
		props, _ := r["Properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		res := templateResource{Type: typ, Properties: props, Condition: scalarString(r["Condition"])}
		for _, d := range asList(r["DependsOn"]) {
			res.DependsOn = append(res.DependsOn, scalarString(d))
		}
		t.resources[name] = res
	}
	if len(unknownTypes) > 0 {
		slices.Sort(unknownTypes)
		return nil, templateError("Unrecognized resource types: [%s]", strings.Join(unknownTypes, ", "))
	}
	outputs, _ := top["Outputs"].(map[string]any)
	for name, v := range outputs {
		o, _ := v.(map[string]any)
		value, ok := o["Value"]
		if !ok {
			return nil, templateError("Every Outputs member must contain a Value object, the Outputs member %s does not", name)
		}
		desc, _ := o["Description"].(string)
		t.outputs[name] = templateOutput{Value: value, Description: desc, Export: o["Export"], Condition: scalarString(o["Condition"])}
	}
	for _, typ := range t.parameters {
		if !parameterTypePattern.MatchString(typ.Type) {
			return nil, templateError("Unrecognized parameter type: %s", typ.Type)
		}
	}
	var unknownConditions []string
	for _, r := range t.resources {
		if _, ok := t.conditions[r.Condition]; r.Condition != "" && !ok {
			unknownConditions = append(unknownConditions, r.Condition)
		}
	}
	for _, o := range t.outputs {
		if _, ok := t.conditions[o.Condition]; o.Condition != "" && !ok {
			unknownConditions = append(unknownConditions, o.Condition)
		}
	}
	if len(unknownConditions) > 0 {
		slices.Sort(unknownConditions)
		return nil, templateError("Unresolved condition dependencies [%s]", strings.Join(slices.Compact(unknownConditions), ", "))
	}
	var unknownMaps []string
	check := func(v any) {
		findInMaps(v, func(name string) {
			if _, ok := t.mappings[name]; !ok {
				unknownMaps = append(unknownMaps, name)
			}
		})
	}
	for _, r := range t.resources {
		check(r.Properties)
	}
	for _, o := range t.outputs {
		check(o.Value)
	}
	if len(unknownMaps) > 0 {
		slices.Sort(unknownMaps)
		return nil, templateError("Mapping named '%s' is not present in the 'Mappings' section of template.", unknownMaps[0])
	}
	if missing := t.unresolvedReferences(); len(missing) > 0 {
		return nil, templateError("Unresolved resource dependencies [%s] in the Resources block of the template", strings.Join(missing, ", "))
	}
	return t, nil
}

// implicitResources are the resources SAM adds that a template may name without declaring:
// the HTTP API of functions with HttpApi events, the REST API of Api events, and the alias
// and version of functions with AutoPublishAlias.
func (t *template) implicitResources() map[string]templateResource {
	out := map[string]templateResource{}
	if !t.transform {
		return out
	}
	for name, r := range t.resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		events, _ := r.Properties["Events"].(map[string]any)
		for _, e := range events {
			em, _ := e.(map[string]any)
			switch em["Type"] {
			case "HttpApi":
				out["ServerlessHttpApi"] = templateResource{Type: "AWS::ApiGatewayV2::Api"}
			case "Api":
				out["ServerlessRestApi"] = templateResource{Type: "AWS::ApiGateway::RestApi"}
			}
		}
		if alias := scalarString(r.Properties["AutoPublishAlias"]); alias != "" {
			out[name+".Alias"] = templateResource{Type: "AWS::Lambda::Alias"}
			out[name+".Version"] = templateResource{Type: "AWS::Lambda::Version"}
			out[name+"Alias"+alias] = templateResource{Type: "AWS::Lambda::Alias"}
		}
		if _, ok := r.Properties["Role"]; !ok {
			out[name+"Role"] = templateResource{Type: "AWS::IAM::Role"}
		}
		if _, ok := r.Properties["DeploymentPreference"]; ok {
			out["ServerlessDeploymentApplication"] = templateResource{Type: "AWS::CodeDeploy::Application"}
			out[name+"DeploymentGroup"] = templateResource{Type: "AWS::CodeDeploy::DeploymentGroup"}
		}
	}
	return out
}

var pseudoParameters = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

// unresolvedReferences lists the names that Ref, Fn::GetAtt and Fn::Sub use but the template
// does not declare.
func (t *template) unresolvedReferences() []string {
	implicit := t.implicitResources()
	known := func(name string) bool {
		_, r := t.resources[name]
		_, p := t.parameters[name]
		_, i := implicit[name]
		return r || p || i || slices.Contains(pseudoParameters, name)
	}
	missing := map[string]bool{}
	check := func(name string) {
		base, _, _ := strings.Cut(name, ".")
		if !known(name) && !known(base) {
			missing[name] = true
		}
	}
	walk := func(v any) { references(v, check) }
	for _, r := range t.resources {
		walk(r.Properties)
		for _, d := range r.DependsOn {
			if _, ok := t.resources[d]; !ok {
				missing[d] = true
			}
		}
	}
	for _, o := range t.outputs {
		walk(o.Value)
	}
	return slices.Sorted(maps.Keys(missing))
}

// references calls visit with each name v refers to through Ref, Fn::GetAtt (the resource)
// and Fn::Sub (a ${Resource.Attribute} whole, the Sub's own variables left out).
func references(v any, visit func(name string)) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			if ref, ok := v["Ref"].(string); ok {
				visit(ref)
			}
			if ga, ok := v["Fn::GetAtt"]; ok {
				if res, _ := getAttParts(ga); res != "" {
					visit(res)
				}
			}
			if sub, ok := v["Fn::Sub"]; ok {
				text, vars := subParts(sub)
				for _, name := range subNames(text) {
					if _, isVar := vars[name]; !isVar {
						visit(name)
					}
				}
			}
		}
		for _, x := range v {
			references(x, visit)
		}
	case []any:
		for _, x := range v {
			references(x, visit)
		}
	}
}

// findInMaps calls visit with the map name of each Fn::FindInMap in v that names it literally.
func findInMaps(v any, visit func(name string)) {
	switch v := v.(type) {
	case map[string]any:
		if args, ok := v["Fn::FindInMap"].([]any); ok && len(v) == 1 && len(args) >= 3 {
			if name, ok := args[0].(string); ok {
				visit(name)
			}
		}
		for _, x := range v {
			findInMaps(x, visit)
		}
	case []any:
		for _, x := range v {
			findInMaps(x, visit)
		}
	}
}

func getAttParts(v any) (resource, attribute string) {
	switch v := v.(type) {
	case string:
		resource, attribute, _ = strings.Cut(v, ".")
	case []any:
		if len(v) == 2 {
			resource, attribute = scalarString(v[0]), scalarString(v[1])
		}
	}
	return resource, attribute
}

func subParts(v any) (string, map[string]any) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []any:
		if len(v) == 2 {
			s, _ := v[0].(string)
			vars, _ := v[1].(map[string]any)
			return s, vars
		}
	}
	return "", nil
}

var subVariable = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

func subNames(text string) []string {
	var names []string
	for _, m := range subVariable.FindAllStringSubmatch(text, -1) {
		names = append(names, strings.TrimSpace(m[1]))
	}
	return names
}

// yamlValue converts a YAML node into plain values, turning the short-form tags into the
// long-form intrinsic functions.
func yamlValue(n ast.Node) (any, error) {
	switch n := n.(type) {
	case *ast.MappingNode:
		m := map[string]any{}
		for _, kv := range n.Values {
			k, v, err := yamlPair(kv)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case *ast.MappingValueNode:
		k, v, err := yamlPair(n)
		if err != nil {
			return nil, err
		}
		return map[string]any{k: v}, nil
	case *ast.SequenceNode:
		list := []any{}
		for _, x := range n.Values {
			v, err := yamlValue(x)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case *ast.AnchorNode:
		return yamlValue(n.Value)
	case *ast.TagNode:
		tag := n.Start.Value
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!binary", "!!timestamp":
			var v any
			err := yaml.NodeToValue(n, &v)
			return v, err
		}
		if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Start.Position.Line, tag)
		}
		inner, err := yamlValue(n.Value)
		if err != nil {
			return nil, err
		}
		name := tag[1:]
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: inner}, nil
		case "GetAtt":
			if s, ok := inner.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
			}
		}
		return map[string]any{"Fn::" + name: inner}, nil
	}
	var v any
	if err := yaml.NodeToValue(n, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func yamlPair(kv *ast.MappingValueNode) (string, any, error) {
	k, err := yamlValue(kv.Key)
	if err != nil {
		return "", nil, err
	}
	v, err := yamlValue(kv.Value)
	if err != nil {
		return "", nil, err
	}
	return scalarString(k), v, nil
}

// scalarString is how CloudFormation sees a scalar: as its text.
func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	}
	return []any{v}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// canonicalJSON is a value's JSON with scalars as their text, so that 5 and "5" compare equal
// as they do in CloudFormation.
func canonicalJSON(v any) string {
	var norm func(v any) any
	norm = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				out[k] = norm(x)
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = norm(x)
			}
			return out
		case nil:
			return nil
		}
		return scalarString(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(norm(v))
	return strings.TrimSpace(b.String())
}

// withConditions is the template as CloudFormation applies it with these parameter values:
// resources and outputs whose condition is false left out, each Fn::If replaced by the branch
// its condition picks and AWS::NoValue removed. ref answers pseudo parameters.
func (t *template) withConditions(params map[string]string, ref func(string) (string, bool)) (*template, error) {
	if t.source != nil {
		t = t.source
	}
	values := map[string]bool{}
	var condition func(name string, depth int) (bool, error)
	var operand func(v any) (string, error)
	var expr func(v any, depth int) (bool, error)
	operand = func(v any) (string, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return scalarString(v), nil
		}
		if name, ok := m["Ref"].(string); ok && len(m) == 1 {
			if p, ok := params[name]; ok {
				return p, nil
			}
			if p, ok := ref(name); ok {
				return p, nil
			}
			return "", templateError("Unresolved dependencies [%s]. Cannot reference resources in the Conditions block of the template", name)
		}
		return "", errorf("ValidationError", "the fake evaluates only Ref and literals in Fn::Equals, not %s", canonicalJSON(v))
	}
	expr = func(v any, depth int) (bool, error) {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 || depth > 50 {
			return false, templateError("a condition is one of Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, not %s", canonicalJSON(v))
		}
		for fn, arg := range m {
			args := asList(arg)
			switch fn {
			case "Condition":
				return condition(scalarString(arg), depth+1)
			case "Fn::Equals":
				if len(args) != 2 {
					return false, templateError("Fn::Equals takes two values")
				}
				a, err := operand(args[0])
				if err != nil {
					return false, err
				}
				b, err := operand(args[1])
				return a == b, err
			case "Fn::Not":
				if len(args) != 1 {
					return false, templateError("Fn::Not takes one condition")
				}
				ok, err := expr(args[0], depth+1)
				return !ok, err
			case "Fn::And", "Fn::Or":
				if len(args) < 2 || len(args) > 10 {
					return false, templateError("%s takes 2 to 10 conditions", fn)
				}
				for _, a := range args {
					ok, err := expr(a, depth+1)
					if err != nil {
						return false, err
					}
					if ok == (fn == "Fn::Or") {
						return ok, nil
					}
				}
				return fn == "Fn::And", nil
			}
		}
		return false, templateError("a condition is one of Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, not %s", canonicalJSON(v))
	}
	condition = func(name string, depth int) (bool, error) {
		if v, ok := values[name]; ok {
			return v, nil
		}
		def, ok := t.conditions[name]
		if !ok {
			return false, templateError("Unresolved condition dependencies [%s]", name)
		}
		if depth > 50 {
			return false, templateError("Circular dependency between conditions [%s]", name)
		}
		v, err := expr(def, depth)
		if err != nil {
			return false, err
		}
		values[name] = v
		return v, nil
	}
	noValue := &struct{}{}
	var pick func(v any) (any, error)
	pick = func(v any) (any, error) {
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 1 {
				if ref, ok := v["Ref"].(string); ok && ref == "AWS::NoValue" {
					return noValue, nil
				}
				if arg, ok := v["Fn::If"]; ok {
					args := asList(arg)
					if len(args) != 3 {
						return nil, templateError("Fn::If takes a condition name and two values")
					}
					ok, err := condition(scalarString(args[0]), 0)
					if err != nil {
						return nil, err
					}
					if ok {
						return pick(args[1])
					}
					return pick(args[2])
				}
			}
			out := make(map[string]any, len(v))
			for k, x := range v {
				p, err := pick(x)
				if err != nil {
					return nil, err
				}
				if p != noValue {
					out[k] = p
				}
			}
			return out, nil
		case []any:
			out := make([]any, 0, len(v))
			for _, x := range v {
				p, err := pick(x)
				if err != nil {
					return nil, err
				}
				if p != noValue {
					out = append(out, p)
				}
			}
			return out, nil
		}
		return v, nil
	}
	holds := func(name string) (bool, error) {
		if name == "" {
			return true, nil
		}
		return condition(name, 0)
	}
	out := &template{body: t.body, transform: t.transform, parameters: t.parameters, conditions: t.conditions, mappings: t.mappings, source: t,
		resources: map[string]templateResource{}, outputs: map[string]templateOutput{}}
	for id, r := range t.resources {
		ok, err := holds(r.Condition)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		props, err := pick(r.Properties)
		if err != nil {
			return nil, err
		}
		r.Properties, _ = props.(map[string]any)
		out.resources[id] = r
	}
	for id, o := range t.outputs {
		ok, err := holds(o.Condition)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if o.Value, err = pick(o.Value); err != nil {
			return nil, err
		}
		out.outputs[id] = o
	}
	return out, nil
}
