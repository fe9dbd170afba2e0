package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/lint/template"
)

var functions = []string{
	"Fn::And", "Fn::Base64", "Fn::Cidr", "Fn::Equals", "Fn::FindInMap", "Fn::ForEach", "Fn::GetAZs",
	"Fn::GetAtt", "Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Length", "Fn::Not", "Fn::Or",
	"Fn::Select", "Fn::Split", "Fn::Sub", "Fn::ToJsonString", "Fn::Transform",
}

// refWalk is the context of the reference check: which resource, and whether the walk is in a
// condition, where {Condition: Name} is a function rather than an ordinary key.
type refWalk struct {
	res         string
	inCondition bool
	// inConditions is set in the Conditions section, where Ref may name parameters only.
	inConditions bool
	// subVars are the variables an enclosing Fn::Sub's mapping defines.
	subVars map[string]bool
}

// checkReferences checks every name a function, DependsOn or Condition uses.
func (c *checker) checkReferences() {
	for _, r := range c.order {
		if r.node.Kind != template.Mapping {
			continue
		}
		path := "Resources." + r.id
		for _, e := range r.node.Entries {
			p := join(path, e.Key.Value)
			switch e.Key.Value {
			case "Properties", "Metadata", "CreationPolicy", "UpdatePolicy":
				c.refs(e.Value, p, refWalk{res: r.id})
			case "DependsOn":
				c.dependsOn(r, e.Value, p)
			case "Condition":
				c.conditionName(e.Value, r.id, p)
			}
		}
	}
	if conds := c.root.Get("Conditions"); conds != nil && conds.Kind == template.Mapping {
		for _, e := range conds.Entries {
			c.refs(e.Value, "Conditions."+e.Key.Value, refWalk{inCondition: true, inConditions: true})
		}
	}
	if outs := c.root.Get("Outputs"); outs != nil && outs.Kind == template.Mapping {
		for _, e := range outs.Entries {
			path := "Outputs." + e.Key.Value
			if e.Value.Kind != template.Mapping {
				continue
			}
			for _, k := range e.Value.Entries {
				if k.Key.Value == "Condition" {
					c.conditionName(k.Value, "", join(path, "Condition"))
				} else {
					c.refs(k.Value, join(path, k.Key.Value), refWalk{})
				}
			}
		}
	}
	if g := c.root.Get("Globals"); g != nil && c.sam {
		c.refs(g, "Globals", refWalk{})
	}
}

func (c *checker) refs(n *template.Node, path string, w refWalk) {
	switch n.Kind {
	case template.Sequence:
		for i, it := range n.Items {
			c.refs(it, fmt.Sprintf("%s[%d]", path, i), w)
		}
		return
	case template.Scalar:
		return
	}
	if len(n.Entries) == 1 {
		key, arg := n.Entries[0].Key, n.Entries[0].Value
		p := join(path, key.Value)
		switch {
		case key.Value == "Ref":
			c.ref(arg, p, w)
			return
		case key.Value == "Condition" && w.inCondition:
			c.conditionName(arg, w.res, p)
			return
		case strings.HasPrefix(key.Value, "Fn::"):
			c.function(key, arg, p, w)
			return
		}
	}
	for _, e := range n.Entries {
		c.refs(e.Value, join(path, e.Key.Value), w)
	}
}

func (c *checker) function(key, arg *template.Node, path string, w refWalk) {
	switch key.Value {
	case "Fn::GetAtt":
		c.getAtt(key, arg, path, w)
	case "Fn::Sub":
		c.sub(arg, path, w)
	case "Fn::If":
		if arg.Kind != template.Sequence || len(arg.Items) != 3 {
			c.errorf(RuleFunction, arg, w.res, path, "Fn::If takes [condition name, value if true, value if false], got %s", arg.Describe())
			return
		}
		c.conditionName(arg.Items[0], w.res, path+"[0]")
		c.refs(arg.Items[1], path+"[1]", w)
		c.refs(arg.Items[2], path+"[2]", w)
	case "Fn::And", "Fn::Or", "Fn::Not", "Fn::Equals":
		inner := w
		inner.inCondition = true
		c.refs(arg, path, inner)
	case "Fn::FindInMap":
		c.findInMap(arg, path, w)
	case "Fn::ForEach", "Fn::Transform":
		// Expanded by transforms before CloudFormation sees the template: not checked here.
	default:
		if !contains(functions, key.Value) {
			c.errorf(RuleFunction, key, w.res, path, "unknown function %s%s", key.Value, didYouMean(key.Value, functions))
			return
		}
		c.refs(arg, path, w)
	}
}

// isSAMGenerated reports whether name may be a resource the SAM transform generates.
func (c *checker) isSAMGenerated(name string) bool {
	if !c.sam {
		return false
	}
	if strings.HasPrefix(name, "Serverless") {
		return true // ServerlessRestApi, ServerlessHttpApi and their stages and deployments
	}
	for id, r := range c.resources {
		if r.def != nil && r.def.Transform == samTransform && strings.HasPrefix(name, id) {
			return true // MyFunctionRole, MyFunctionAliaslive, MyApiStage, ...
		}
	}
	return c.samLogicalIDs()[name]
}

// samLogicalIDs are the logical IDs SAM resources name for what SAM generates for them
// (DeadLetterConfig: {QueueLogicalId: MyDlq}, ...).
func (c *checker) samLogicalIDs() map[string]bool {
	if c.samIDs != nil {
		return c.samIDs
	}
	c.samIDs = map[string]bool{}
	var walk func(n *template.Node)
	walk = func(n *template.Node) {
		for _, e := range n.Entries {
			if strings.HasSuffix(e.Key.Value, "LogicalId") && e.Value.IsString() {
				c.samIDs[e.Value.Value] = true
			}
			walk(e.Value)
		}
		for _, it := range n.Items {
			walk(it)
		}
	}
	for _, r := range c.order {
		if r.def != nil && r.def.Transform == samTransform && r.properties != nil {
			walk(r.properties)
		}
	}
	return c.samIDs
}

func (c *checker) ref(arg *template.Node, path string, w refWalk) {
	if !arg.IsString() {
		if _, _, ok := arg.Intrinsic(); ok {
			c.refs(arg, path, w) // Ref of a computed name only works inside some transforms
			return
		}
		c.errorf(RuleRef, arg, w.res, path, "Ref takes the name of a parameter or resource, got %s", arg.Describe())
		return
	}
	name := arg.Value
	if w.inConditions && c.resources[name] != nil {
		c.errorf(RuleRef, arg, w.res, path, "a condition cannot refer to resource %s: conditions are evaluated before any resource exists; refer to a parameter", name)
		return
	}
	if pseudoParameters[name] || c.parameters[name] != nil || c.resources[name] != nil {
		return
	}
	if base, suffix, ok := strings.Cut(name, "."); ok && c.samAliasOrVersion(base, suffix) {
		return
	}
	if c.isSAMGenerated(name) {
		return
	}
	c.errorf(RuleRef, arg, w.res, path, "Ref names %q, which is no parameter, resource or pseudo parameter of this template%s", name, didYouMean(name, c.names()))
}

// names are the names a Ref may take.
func (c *checker) names() []string {
	out := make([]string, 0, len(c.parameters)+len(c.resources)+len(pseudoParameters))
	for n := range c.parameters {
		out = append(out, n)
	}
	for n := range c.resources {
		out = append(out, n)
	}
	for n := range pseudoParameters {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *checker) resourceIDs() []string {
	out := make([]string, 0, len(c.resources))
	for _, r := range c.order {
		out = append(out, r.id)
	}
	return out
}

func (c *checker) getAtt(key, arg *template.Node, path string, w refWalk) {
	var nameNode, attrNode *template.Node
	switch {
	case arg.Kind == template.Sequence && len(arg.Items) == 2:
		nameNode, attrNode = arg.Items[0], arg.Items[1]
	case arg.IsString() && strings.Contains(arg.Value, "."):
		name, attr, _ := strings.Cut(arg.Value, ".")
		nameNode = &template.Node{Value: name, Line: arg.Line, Col: arg.Col}
		attrNode = &template.Node{Value: attr, Line: arg.Line, Col: arg.Col + len([]rune(name)) + 1}
	default:
		c.errorf(RuleGetAtt, arg, w.res, path, "Fn::GetAtt takes [LogicalID, Attribute] (or !GetAtt LogicalID.Attribute), got %s", arg.Describe())
		return
	}
	if !nameNode.IsString() {
		c.errorf(RuleGetAtt, nameNode, w.res, path, "Fn::GetAtt takes a logical ID written out, got %s", nameNode.Describe())
		return
	}
	if _, _, ok := attrNode.Intrinsic(); ok {
		c.refs(attrNode, path, w)
		c.attribute(nameNode, nil, path, w)
		return
	}
	c.attribute(nameNode, attrNode, path, w)
}

// attribute checks that name is a resource and, when attr is not nil, that its type has attr.
func (c *checker) attribute(name, attr *template.Node, path string, w refWalk) {
	r := c.resources[name.Value]
	if r == nil {
		if c.isSAMGenerated(name.Value) {
			return
		}
		what := "no resource of this template"
		if c.parameters[name.Value] != nil {
			what = "a parameter; Fn::GetAtt reads attributes of resources, use Ref for a parameter"
		}
		c.errorf(RuleGetAtt, name, w.res, path, "Fn::GetAtt names %q, %s%s", name.Value, what, didYouMean(name.Value, c.resourceIDs()))
		return
	}
	if attr == nil || r.def == nil || r.def.Open {
		return // custom, unknown and open types: their attributes are their own
	}
	if !attr.IsString() && attr.Kind == template.Scalar {
		c.errorf(RuleGetAtt, attr, w.res, path, "an attribute name is text, got %s", attr.Describe())
		return
	}
	if r.def.Attribute(attr.Value) {
		return
	}
	if strings.HasPrefix(attr.Value, "Outputs.") && (r.typ == "AWS::CloudFormation::Stack" || r.typ == "AWS::Serverless::Application") {
		return
	}
	if len(r.def.Attributes) == 0 {
		c.errorf(RuleGetAtt, attr, w.res, path, "%s (%s) has no attributes for Fn::GetAtt; use Ref", r.id, r.typ)
		return
	}
	c.errorf(RuleGetAtt, attr, w.res, path, "%s (%s) has no attribute %q%s", r.id, r.typ, attr.Value, orKnown(attr.Value, r.def.Attributes))
}

func (c *checker) sub(arg *template.Node, path string, w refWalk) {
	text := arg
	inner := w
	if arg.Kind == template.Sequence {
		if len(arg.Items) != 2 || arg.Items[1].Kind != template.Mapping {
			c.errorf(RuleFunction, arg, w.res, path, "Fn::Sub takes a string, or [string, {Name: value, ...}], got %s", arg.Describe())
			return
		}
		text = arg.Items[0]
		inner.subVars = map[string]bool{}
		for _, e := range arg.Items[1].Entries {
			inner.subVars[e.Key.Value] = true
			c.refs(e.Value, join(path+"[1]", e.Key.Value), w)
		}
	}
	if !text.IsString() {
		if _, _, ok := text.Intrinsic(); ok {
			c.refs(text, path, w)
			return
		}
		c.errorf(RuleFunction, text, w.res, path, "Fn::Sub takes a string, got %s", text.Describe())
		return
	}
	for _, v := range subVariables(text.Value) {
		name := strings.TrimSpace(v.name)
		line, col := text.PositionOf(v.offset)
		at := &template.Node{Kind: template.Scalar, Value: name, Line: line, Col: col}
		if inner.subVars[name] || pseudoParameters[name] || c.parameters[name] != nil || c.resources[name] != nil {
			continue
		}
		if base, attr, ok := strings.Cut(name, "."); ok {
			if inner.subVars[base] || c.samAliasOrVersion(base, attr) {
				continue
			}
			attrLine, attrCol := text.PositionOf(v.offset + len(base) + 1)
			c.attribute(&template.Node{Value: base, Line: line, Col: col}, &template.Node{Kind: template.Scalar, Value: attr, Line: attrLine, Col: attrCol}, path, w)
			continue
		}
		if c.isSAMGenerated(name) {
			continue
		}
		c.errorf(RuleSub, at, w.res, path, "${%s} names no parameter, resource, pseudo parameter or variable of this Fn::Sub%s", name, didYouMean(name, c.names()))
	}
}

// subVariable is one ${Name} of a Fn::Sub string; offset is where Name starts in it.
type subVariable struct {
	name   string
	offset int
}

// subVariables returns the ${Name} and ${Name.Attribute} of a Fn::Sub string; ${!Literal} is
// text, not a variable.
func subVariables(s string) []subVariable {
	var out []subVariable
	for at := 0; ; {
		i := strings.Index(s[at:], "${")
		if i < 0 {
			return out
		}
		start := at + i + 2
		j := strings.IndexByte(s[start:], '}')
		if j < 0 {
			return out
		}
		if !strings.HasPrefix(s[start:], "!") {
			out = append(out, subVariable{name: s[start : start+j], offset: start})
		}
		at = start + j + 1
	}
}

func (c *checker) dependsOn(r *resource, n *template.Node, path string) {
	items := []*template.Node{n}
	if n.Kind == template.Sequence {
		items = n.Items
	}
	for i, it := range items {
		p := path
		if n.Kind == template.Sequence {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		if !it.IsString() {
			c.errorf(RuleDependsOn, it, r.id, p, "DependsOn takes logical IDs, got %s", it.Describe())
			continue
		}
		switch {
		case it.Value == r.id:
			c.errorf(RuleDependsOn, it, r.id, p, "%s depends on itself; remove it from DependsOn", r.id)
		case c.resources[it.Value] == nil && !c.isSAMGenerated(it.Value):
			c.errorf(RuleDependsOn, it, r.id, p, "DependsOn names %q, which is no resource of this template%s", it.Value, didYouMean(it.Value, c.resourceIDs()))
		}
	}
}

func (c *checker) conditionName(n *template.Node, res, path string) {
	if !n.IsString() {
		c.errorf(RuleCondition, n, res, path, "expects the name of a condition, got %s", n.Describe())
		return
	}
	if c.conditions[n.Value] == nil {
		c.errorf(RuleCondition, n, res, path, "no condition %q in Conditions%s", n.Value, didYouMean(n.Value, keys(c.conditions)))
	}
}

func (c *checker) findInMap(arg *template.Node, path string, w refWalk) {
	if arg.Kind != template.Sequence || len(arg.Items) < 3 {
		c.errorf(RuleFunction, arg, w.res, path, "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey], got %s", arg.Describe())
		return
	}
	for i, it := range arg.Items {
		c.refs(it, fmt.Sprintf("%s[%d]", path, i), w)
	}
	name := arg.Items[0]
	if !name.IsString() {
		return
	}
	m := c.mappings[name.Value]
	if m == nil {
		c.errorf(RuleMapping, name, w.res, path, "no mapping %q in Mappings%s", name.Value, didYouMean(name.Value, keys(c.mappings)))
		return
	}
	top := arg.Items[1]
	if top.Kind != template.Scalar || m.Kind != template.Mapping {
		return
	}
	second := m.Get(top.Value)
	if second == nil {
		c.errorf(RuleMapping, top, w.res, path, "mapping %s has no key %q%s", name.Value, top.Value, orKnown(top.Value, entryKeys(m)))
		return
	}
	if k := arg.Items[2]; k.Kind == template.Scalar && second.Kind == template.Mapping && second.Get(k.Value) == nil {
		c.errorf(RuleMapping, k, w.res, path, "mapping %s.%s has no key %q%s", name.Value, top.Value, k.Value, orKnown(k.Value, entryKeys(second)))
	}
}

func keys(m map[string]*template.Node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func entryKeys(n *template.Node) []string {
	out := make([]string, 0, len(n.Entries))
	for _, e := range n.Entries {
		out = append(out, e.Key.Value)
	}
	return out
}

// samAliasOrVersion reports whether base.suffix is SAM's reference to the alias or version
// it publishes for a function or state machine (Ref: MyFunction.Alias, ${MyFunction.Version}).
func (c *checker) samAliasOrVersion(base, suffix string) bool {
	if !c.sam || (suffix != "Alias" && suffix != "Version") {
		return false
	}
	r := c.resources[base]
	return r != nil && (r.typ == "AWS::Serverless::Function" || r.typ == "AWS::Serverless::StateMachine")
}
