package lint

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/lint/template"
	"github.com/sluicehq/sluice/spec"
)

// Rule is one security rule.
type Rule struct {
	ID string `json:"id"`
	// Summary is what the rule asks for, in one sentence.
	Summary string `json:"summary"`
	// OptIn rules run only when Options.Enable names them.
	OptIn bool `json:"opt_in,omitempty"`
	check func(c *checker, r *resource, emit emitFunc)
}

// emitFunc reports a finding of the rule being run at node n, path relative to the resource.
type emitFunc func(n *template.Node, path, format string, args ...any)

// Rules are the security rules, in the order of their IDs.
var Rules = []Rule{
	{ID: "IAM001", Summary: "IAM policies allow no wildcard actions (\"*\" or \"service:*\"): name the actions the principal needs", check: checkWildcardAction},
	{ID: "IAM002", Summary: "IAM policies allow no action on Resource \"*\" without a Condition, except actions that only take \"*\" (Describe*, List*, X-Ray, CloudWatch metrics)", check: checkWildcardResource},
	{ID: "IAM003", Summary: "iam:PassRole is allowed on named roles only, never on \"*\"", check: checkPassRole},
	{ID: "IAM004", Summary: "IAM policies do not allow with NotAction or NotResource", check: checkNotAction},
	{ID: "IAM005", Summary: "no principal gets the AdministratorAccess managed policy", check: checkAdministratorAccess},
	{ID: "IAM006", Summary: "a role's trust policy does not let any principal (\"*\") assume it without a Condition", check: checkOpenTrust},
	{ID: "POL001", Summary: "bucket, topic, queue and key policies do not allow any principal (\"*\") without a Condition", check: checkOpenResourcePolicy},
	{ID: "S3001", Summary: "S3 buckets set default encryption (BucketEncryption)", check: checkBucketEncryption},
	{ID: "S3002", Summary: "S3 buckets block public access: all four PublicAccessBlockConfiguration flags true", check: checkBucketPublicAccess},
	{ID: "S3003", Summary: "S3 buckets have a bucket policy that denies requests without TLS (aws:SecureTransport false)", check: checkBucketTLS},
	{ID: "S3004", Summary: "S3 buckets grant no public canned ACL (PublicRead, PublicReadWrite, AuthenticatedRead)", check: checkBucketACL},
	{ID: "KMS001", Summary: "symmetric KMS keys rotate their key material (EnableKeyRotation: true)", check: checkKeyRotation},
	{ID: "EC2001", Summary: "security groups allow no ingress from 0.0.0.0/0 or ::/0, except to ports 80 and 443", check: checkOpenIngress},
	{ID: "EC2002", Summary: "EBS volumes are encrypted", check: checkVolumeEncryption},
	{ID: "RDS001", Summary: "RDS instances and clusters encrypt their storage", check: checkRDSEncryption},
	{ID: "RDS002", Summary: "RDS instances are not publicly accessible", check: checkRDSPublic},
	{ID: "LMB001", Summary: "Lambda functions set ReservedConcurrentExecutions, so one cannot starve the account", OptIn: true, check: checkReservedConcurrency},
	{ID: "LMB002", Summary: "Lambda permissions do not grant invoke to any principal (\"*\")", check: checkLambdaPermission},
}

var ruleByID = func() map[string]*Rule {
	m := map[string]*Rule{}
	for i := range Rules {
		m[Rules[i].ID] = &Rules[i]
	}
	for _, id := range []string{RuleParse, RuleSection, RuleDuplicateKey, RuleResource, RuleResourceType, RuleProperty, RuleRequired, RuleValueType, RuleAllowedValue, RuleRef, RuleGetAtt, RuleSub, RuleDependsOn, RuleCondition, RuleMapping, RuleFunction, RuleParameter, RuleOutput, RuleSuppression} {
		m[id] = nil // schema rules: known IDs, not security rules
	}
	return m
}()

func suggestRule(id string) string {
	ids := make([]string, 0, len(ruleByID))
	for k := range ruleByID {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	if s := spec.Suggest(id, ids); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return "; see `sluice lint --rules`"
}

func enabledRules(opts Options) []*Rule {
	var out []*Rule
	for i := range Rules {
		r := &Rules[i]
		if (r.OptIn && !contains(opts.Enable, r.ID)) || contains(opts.Disable, r.ID) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (c *checker) checkSecurity(rules []*Rule) {
	for _, res := range c.order {
		if res.typ == "" {
			continue
		}
		for _, rule := range rules {
			rule.check(c, res, func(n *template.Node, path, format string, args ...any) {
				if n == nil {
					n = res.key
				}
				c.errorf(rule.ID, n, res.id, join("Resources."+res.id, path), format, args...)
			})
		}
	}
}

// lookup returns the value at Properties.<path...> of r, and whether it is known: a value
// computed by a function (or under one) is not.
func (r *resource) lookup(path ...string) (n *template.Node, known bool) {
	n = r.properties
	if n == nil {
		return nil, true
	}
	for _, key := range path {
		if _, _, fn := n.Intrinsic(); fn {
			return nil, false
		}
		if n.Kind != template.Mapping {
			return nil, true
		}
		n = n.Get(key)
		if n == nil {
			return nil, true
		}
	}
	if _, _, fn := n.Intrinsic(); fn {
		return n, false
	}
	return n, true
}

// isTrue reports whether n is literally true.
func isTrue(n *template.Node) bool {
	return n != nil && n.Kind == template.Scalar && strings.EqualFold(n.Value, "true")
}

// literals returns the scalars of a scalar or of a list: the values written out.
func literals(n *template.Node) []*template.Node {
	if n == nil {
		return nil
	}
	if n.Kind == template.Scalar {
		return []*template.Node{n}
	}
	var out []*template.Node
	if n.Kind == template.Sequence {
		for _, it := range n.Items {
			if it.Kind == template.Scalar {
				out = append(out, it)
			}
		}
	}
	return out
}

// policy is a policy document in a resource, with its path from the resource.
type policy struct {
	doc  *template.Node
	path string
}

// statement is one policy statement.
type statement struct {
	node *template.Node
	path string
}

func (p policy) statements() []statement {
	if p.doc == nil || p.doc.Kind != template.Mapping {
		return nil
	}
	st := p.doc.Get("Statement")
	base := join(p.path, "Statement")
	switch {
	case st == nil:
		return nil
	case st.Kind == template.Mapping:
		if _, _, fn := st.Intrinsic(); fn {
			return nil
		}
		return []statement{{st, base}}
	case st.Kind == template.Sequence:
		var out []statement
		for i, s := range st.Items {
			if _, _, fn := s.Intrinsic(); !fn && s.Kind == template.Mapping {
				out = append(out, statement{s, fmt.Sprintf("%s[%d]", base, i)})
			}
		}
		return out
	}
	return nil
}

func (s statement) allows() bool {
	e := s.node.Get("Effect")
	return e != nil && e.Kind == template.Scalar && e.Value == "Allow"
}

// identityPolicies are the IAM policies a resource attaches to a principal.
func identityPolicies(r *resource) []policy {
	var out []policy
	switch r.typ {
	case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
		list, _ := r.lookup("Policies")
		if list != nil && list.Kind == template.Sequence {
			for i, it := range list.Items {
				out = append(out, policy{it.Get("PolicyDocument"), fmt.Sprintf("Properties.Policies[%d].PolicyDocument", i)})
			}
		}
	case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy", "AWS::IAM::GroupPolicy":
		doc, _ := r.lookup("PolicyDocument")
		out = append(out, policy{doc, "Properties.PolicyDocument"})
	case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
		// SAM's Policies: a document, a managed policy name, a SAM policy template, or a list
		// of these.
		p, _ := r.lookup("Policies")
		if p == nil {
			break
		}
		if p.Kind == template.Mapping && p.Get("Statement") != nil {
			out = append(out, policy{p, "Properties.Policies"})
		}
		if p.Kind == template.Sequence {
			for i, it := range p.Items {
				if it.Kind == template.Mapping && it.Get("Statement") != nil {
					out = append(out, policy{it, fmt.Sprintf("Properties.Policies[%d]", i)})
				}
			}
		}
	}
	return out
}

// eachAllow calls f for every Allow statement of the identity policies of r.
func eachAllow(r *resource, f func(s statement)) {
	for _, p := range identityPolicies(r) {
		for _, s := range p.statements() {
			if s.allows() {
				f(s)
			}
		}
	}
}

var wildcardAction = regexp.MustCompile(`^(\*|[a-zA-Z0-9-]+:\*)$`)

func checkWildcardAction(_ *checker, r *resource, emit emitFunc) {
	eachAllow(r, func(s statement) {
		for _, a := range literals(s.node.Get("Action")) {
			if wildcardAction.MatchString(a.Value) {
				emit(a, s.path+".Action", "allows every action of %s; list the actions it needs", serviceOf(a.Value))
			}
		}
	})
}

func serviceOf(action string) string {
	if action == "*" {
		return "every service"
	}
	svc, _, _ := strings.Cut(action, ":")
	return svc
}

// starOnlyActions take no resource-level permissions: "*" is the only Resource they accept.
var starOnlyActions = map[string]bool{
	"xray:puttracesegments": true, "xray:puttelemetryrecords": true, "xray:getsamplingrules": true,
	"xray:getsamplingtargets": true, "xray:getsamplingstatisticsummaries": true,
	"cloudwatch:putmetricdata": true, "cloudwatch:getmetricdata": true, "sts:getcalleridentity": true,
	"ecr:getauthorizationtoken": true, "logs:describeloggroups": true, "ec2:createnetworkinterface": true,
	"ec2:deletenetworkinterface": true, "ec2:assignprivateipaddresses": true, "ec2:unassignprivateipaddresses": true,
	"kms:listaliases": true, "kms:listkeys": true,
}

func readOnlyListing(action string) bool {
	a := strings.ToLower(action)
	if starOnlyActions[a] {
		return true
	}
	_, verb, ok := strings.Cut(a, ":")
	return ok && (strings.HasPrefix(verb, "describe") || strings.HasPrefix(verb, "list"))
}

func checkWildcardResource(_ *checker, r *resource, emit emitFunc) {
	eachAllow(r, func(s statement) {
		if s.node.Get("Condition") != nil {
			return
		}
		var star *template.Node
		for _, res := range literals(s.node.Get("Resource")) {
			if res.Value == "*" {
				star = res
			}
		}
		if star == nil {
			return
		}
		actions := literals(s.node.Get("Action"))
		if len(actions) == 0 {
			return
		}
		for _, a := range actions {
			if !readOnlyListing(a.Value) {
				emit(star, s.path+".Resource", "allows %s on every resource (\"*\"); name the resources (ARNs) it acts on", a.Value)
				return
			}
		}
	})
}

func checkPassRole(_ *checker, r *resource, emit emitFunc) {
	eachAllow(r, func(s statement) {
		star := false
		for _, res := range literals(s.node.Get("Resource")) {
			star = star || res.Value == "*"
		}
		if !star {
			return
		}
		for _, a := range literals(s.node.Get("Action")) {
			v := strings.ToLower(a.Value)
			if v == "iam:passrole" || v == "iam:pass*" || v == "iam:passr*" {
				emit(a, s.path+".Action", "allows %s on every role (\"*\"), so the principal can hand any role, an administrator's included, to a service; name the roles it may pass", a.Value)
			}
		}
	})
}

func checkNotAction(_ *checker, r *resource, emit emitFunc) {
	eachAllow(r, func(s statement) {
		for _, key := range []string{"NotAction", "NotResource"} {
			if n, ok := s.node.Entry(key); ok {
				emit(n.Key, s.path+"."+key, "allows with %s, which grants everything not listed, new actions and resources included; list what is allowed with %s instead", key, strings.TrimPrefix(key, "Not"))
			}
		}
	})
}

func checkAdministratorAccess(_ *checker, r *resource, emit emitFunc) {
	var list *template.Node
	path := "Properties.ManagedPolicyArns"
	switch r.typ {
	case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
		list, _ = r.lookup("ManagedPolicyArns")
	case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
		list, _ = r.lookup("Policies")
		path = "Properties.Policies"
	}
	for _, n := range literals(list) {
		if n.Value == "AdministratorAccess" || strings.HasSuffix(n.Value, ":policy/AdministratorAccess") {
			emit(n, path, "attaches AdministratorAccess; grant the actions it needs in a policy of its own")
		}
	}
	if list != nil && list.Kind == template.Sequence {
		for _, it := range list.Items {
			if fn, arg, ok := it.Intrinsic(); ok && fn == "Fn::Sub" && arg.IsString() && strings.HasSuffix(arg.Value, ":policy/AdministratorAccess") {
				emit(arg, path, "attaches AdministratorAccess; grant the actions it needs in a policy of its own")
			}
		}
	}
}

// anyPrincipal reports whether a statement's Principal is everyone: "*" or {AWS: "*"}.
func anyPrincipal(s statement) *template.Node {
	p := s.node.Get("Principal")
	if p == nil {
		return nil
	}
	if p.Kind == template.Scalar && p.Value == "*" {
		return p
	}
	for _, n := range literals(p.Get("AWS")) {
		if n.Value == "*" {
			return n
		}
	}
	return nil
}

func checkOpenTrust(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::IAM::Role" {
		return
	}
	doc, _ := r.lookup("AssumeRolePolicyDocument")
	for _, s := range (policy{doc, "Properties.AssumeRolePolicyDocument"}).statements() {
		if p := anyPrincipal(s); p != nil && s.allows() && s.node.Get("Condition") == nil {
			emit(p, s.path+".Principal", "lets any AWS principal assume this role; name the accounts or services that may, or add a Condition such as sts:ExternalId")
		}
	}
}

var resourcePolicies = map[string]string{
	"AWS::S3::BucketPolicy": "PolicyDocument", "AWS::SNS::TopicPolicy": "PolicyDocument",
	"AWS::SQS::QueuePolicy": "PolicyDocument", "AWS::KMS::Key": "KeyPolicy",
}

func checkOpenResourcePolicy(_ *checker, r *resource, emit emitFunc) {
	key, ok := resourcePolicies[r.typ]
	if !ok {
		return
	}
	doc, _ := r.lookup(key)
	for _, s := range (policy{doc, "Properties." + key}).statements() {
		if p := anyPrincipal(s); p != nil && s.allows() && s.node.Get("Condition") == nil {
			emit(p, s.path+".Principal", "allows anyone (Principal \"*\") without a Condition; name the principals, or restrict with a Condition (aws:SourceArn, aws:PrincipalOrgID, ...)")
		}
	}
}

func checkBucketEncryption(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::S3::Bucket" {
		return
	}
	if n, known := r.lookup("BucketEncryption"); known && n == nil {
		emit(r.key, "", "bucket %s sets no default encryption; add BucketEncryption with SSE-KMS (aws:kms) or SSE-S3 (AES256)", r.id)
	}
}

func checkBucketPublicAccess(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::S3::Bucket" {
		return
	}
	block, known := r.lookup("PublicAccessBlockConfiguration")
	if !known {
		return
	}
	if block == nil {
		emit(r.key, "", "bucket %s does not block public access; add PublicAccessBlockConfiguration with BlockPublicAcls, BlockPublicPolicy, IgnorePublicAcls and RestrictPublicBuckets true", r.id)
		return
	}
	for _, flag := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		v, known := r.lookup("PublicAccessBlockConfiguration", flag)
		if known && !isTrue(v) {
			at := v
			if at == nil {
				at = block
			}
			emit(at, "Properties.PublicAccessBlockConfiguration."+flag, "%s is not true, so public access is not fully blocked; set it to true", flag)
		}
	}
}

func checkBucketTLS(c *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::S3::Bucket" {
		return
	}
	for _, other := range c.order {
		if other.typ != "AWS::S3::BucketPolicy" {
			continue
		}
		bucket, _ := other.lookup("Bucket")
		if !mentions(bucket, r.id) {
			continue
		}
		doc, _ := other.lookup("PolicyDocument")
		if _, _, fn := doc.Intrinsic(); fn {
			return // computed: cannot tell
		}
		for _, s := range (policy{doc, ""}).statements() {
			if deniesInsecureTransport(s) {
				return
			}
		}
	}
	emit(r.key, "", "bucket %s has no bucket policy that denies requests without TLS; add an AWS::S3::BucketPolicy with a Deny statement on Condition Bool aws:SecureTransport false", r.id)
}

// mentions reports whether n refers to resource id (Ref, Fn::GetAtt or Fn::Sub).
func mentions(n *template.Node, id string) bool {
	if n == nil {
		return false
	}
	if name, arg, ok := n.Intrinsic(); ok {
		switch name {
		case "Ref":
			return arg.Value == id
		case "Fn::GetAtt":
			if arg.Kind == template.Sequence && len(arg.Items) > 0 {
				return arg.Items[0].Value == id
			}
			return strings.HasPrefix(arg.Value, id+".")
		case "Fn::Sub":
			if arg.Kind == template.Sequence && len(arg.Items) > 0 {
				arg = arg.Items[0]
			}
			return strings.Contains(arg.Value, "${"+id+"}") || strings.Contains(arg.Value, "${"+id+".")
		}
	}
	for _, e := range n.Entries {
		if mentions(e.Value, id) {
			return true
		}
	}
	for _, it := range n.Items {
		if mentions(it, id) {
			return true
		}
	}
	return false
}

func deniesInsecureTransport(s statement) bool {
	e := s.node.Get("Effect")
	if e == nil || e.Value != "Deny" {
		return false
	}
	cond := s.node.Get("Condition")
	if cond == nil {
		return false
	}
	for _, op := range []string{"Bool", "BoolIfExists"} {
		if v := cond.Get(op).Get("aws:SecureTransport"); v != nil {
			for _, l := range literals(v) {
				if strings.EqualFold(l.Value, "false") {
					return true
				}
			}
		}
	}
	return cond.Get("NumericLessThan").Get("s3:TlsVersion") != nil
}

func checkBucketACL(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::S3::Bucket" {
		return
	}
	acl, _ := r.lookup("AccessControl")
	if acl != nil && acl.Kind == template.Scalar && (acl.Value == "PublicRead" || acl.Value == "PublicReadWrite" || acl.Value == "AuthenticatedRead") {
		emit(acl, "Properties.AccessControl", "grants %s to everyone; remove AccessControl and share through a bucket policy or CloudFront", acl.Value)
	}
}

func checkKeyRotation(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::KMS::Key" {
		return
	}
	if keySpec, known := r.lookup("KeySpec"); !known || (keySpec != nil && keySpec.Value != "SYMMETRIC_DEFAULT") {
		return // asymmetric and HMAC keys cannot rotate automatically
	}
	rot, known := r.lookup("EnableKeyRotation")
	if !known || isTrue(rot) {
		return
	}
	at := rot
	if at == nil {
		at = r.key
	}
	emit(at, "Properties.EnableKeyRotation", "key %s does not rotate its key material; set EnableKeyRotation: true", r.id)
}

func checkOpenIngress(_ *checker, r *resource, emit emitFunc) {
	var rules []*template.Node
	var paths []string
	switch r.typ {
	case "AWS::EC2::SecurityGroup":
		list, _ := r.lookup("SecurityGroupIngress")
		if list != nil && list.Kind == template.Sequence {
			for i, it := range list.Items {
				rules = append(rules, it)
				paths = append(paths, fmt.Sprintf("Properties.SecurityGroupIngress[%d]", i))
			}
		}
	case "AWS::EC2::SecurityGroupIngress":
		rules, paths = []*template.Node{r.properties}, []string{"Properties"}
	}
	for i, rule := range rules {
		if rule == nil || rule.Kind != template.Mapping {
			continue
		}
		for _, key := range []string{"CidrIp", "CidrIpv6"} {
			v := rule.Get(key)
			if v == nil || v.Kind != template.Scalar || (v.Value != "0.0.0.0/0" && v.Value != "::/0") {
				continue
			}
			if webPort(rule) {
				continue
			}
			emit(v, paths[i]+"."+key, "allows ingress from the whole internet (%s) to %s; narrow the source to the addresses that need it, or put a load balancer on 80/443 in front", v.Value, portRange(rule))
		}
	}
}

// webPort reports whether an ingress rule opens exactly port 80 or 443 over TCP: what a public
// load balancer serves.
func webPort(rule *template.Node) bool {
	from, to, proto := rule.Get("FromPort"), rule.Get("ToPort"), rule.Get("IpProtocol")
	if from == nil || to == nil || proto == nil || from.Value != to.Value {
		return false
	}
	return (from.Value == "80" || from.Value == "443") && (proto.Value == "tcp" || proto.Value == "6")
}

func portRange(rule *template.Node) string {
	from, to, proto := rule.Get("FromPort"), rule.Get("ToPort"), rule.Get("IpProtocol")
	if proto != nil && proto.Value == "-1" {
		return "every port"
	}
	if from == nil || to == nil {
		return "its ports"
	}
	if from.Value == to.Value {
		return "port " + from.Value
	}
	return fmt.Sprintf("ports %s-%s", from.Value, to.Value)
}

func checkVolumeEncryption(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::EC2::Volume" {
		return
	}
	if v, known := r.lookup("Encrypted"); known && !isTrue(v) {
		emit(v, "Properties.Encrypted", "volume %s is not encrypted; set Encrypted: true", r.id)
	}
}

func checkRDSEncryption(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::RDS::DBInstance" && r.typ != "AWS::RDS::DBCluster" {
		return
	}
	if r.typ == "AWS::RDS::DBInstance" {
		if cluster, _ := r.lookup("DBClusterIdentifier"); cluster != nil {
			return // an Aurora instance: the cluster holds the storage
		}
	}
	if v, known := r.lookup("StorageEncrypted"); known && !isTrue(v) {
		emit(v, "Properties.StorageEncrypted", "%s does not encrypt its storage; set StorageEncrypted: true", r.id)
	}
}

func checkRDSPublic(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::RDS::DBInstance" {
		return
	}
	if v, _ := r.lookup("PubliclyAccessible"); isTrue(v) {
		emit(v, "Properties.PubliclyAccessible", "%s is reachable from the internet; set PubliclyAccessible: false and reach it from inside the VPC", r.id)
	}
}

func checkReservedConcurrency(c *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::Lambda::Function" && r.typ != "AWS::Serverless::Function" {
		return
	}
	if v, known := r.lookup("ReservedConcurrentExecutions"); !known || v != nil {
		return
	}
	if r.typ == "AWS::Serverless::Function" && c.root.Get("Globals").Get("Function").Get("ReservedConcurrentExecutions") != nil {
		return
	}
	emit(r.key, "", "function %s has no ReservedConcurrentExecutions, so it can use the account's whole concurrency; set a limit", r.id)
}

func checkLambdaPermission(_ *checker, r *resource, emit emitFunc) {
	if r.typ != "AWS::Lambda::Permission" {
		return
	}
	if p, _ := r.lookup("Principal"); p != nil && p.Kind == template.Scalar && p.Value == "*" {
		emit(p, "Properties.Principal", "lets anyone invoke the function; name the service or account principal, with SourceArn or SourceAccount")
	}
}
