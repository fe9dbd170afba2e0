package fakeaws

import "testing"

// FuzzParseTemplate: whatever a caller sends as TemplateBody, parsing answers a template or an
// error, and a template's diff and outputs can be computed without a panic.
func FuzzParseTemplate(f *testing.F) {
	for _, seed := range []string{
		"Resources: {A: {Type: AWS::SNS::Topic}}",
		"Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: !Sub '${AWS::Region}', AutoPublishAlias: live}\nOutputs:\n  U: {Value: !GetAtt F.Arn}\n",
		`{"Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {"X": {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, 1]]}}}}}`,
		"Resources: {A: {Type: AWS::SNS::Topic, Properties: {X: !Select [5, !Split [',', a]]}}}",
		"Resources: [",
		"- a\n- b",
		"Resources: {A: &x {Type: AWS::SNS::Topic}, B: *x}",
		"Conditions: {C: !Not [!Equals [!Ref P, a]], D: !Or [!Condition C, !Condition C]}\nParameters: {P: {Type: String}}\nResources: {A: {Type: AWS::SNS::Topic, Condition: D, Properties: {X: !If [C, !Ref AWS::NoValue, [1, !Ref AWS::NoValue]]}}}",
		"Conditions: {C: !Condition C}\nResources: {A: {Type: AWS::SNS::Topic, Condition: C}}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tmpl, err := parseTemplate(body)
		if err != nil {
			return
		}
		st := &stack{name: "s", id: "arn:aws:cloudformation:eu-west-1:111111111111:stack/s/x", resources: map[string]*stackResource{}}
		params := map[string]string{}
		for k := range tmpl.parameters {
			params[k] = "v"
		}
		tmpl, err = tmpl.withConditions(params, func(string) (string, bool) { return "x", true })
		if err != nil {
			return
		}
		diffResources(st, tmpl, params)
		st.template, st.params = tmpl, params
		reg := newRegion("111111111111", "eu-west-1")
		for _, id := range executionOrder(tmpl) {
			props, _ := reg.resolver(st).value(resolveParameters(tmpl.resources[id].Properties, params)).(map[string]any)
			st.resources[id] = &stackResource{Type: tmpl.resources[id].Type, PhysicalID: physicalName(st, id, tmpl.resources[id].Type, props), Properties: props}
		}
		reg.outputs(st)
	})
}
