package main

import (
	"sort"

	"github.com/sluicehq/sluice/lint/cfnspec"
)

const samTransform = "AWS::Serverless-2016-10-31"

var (
	str     = cfnspec.Type{Kind: cfnspec.String}
	boolean = cfnspec.Type{Kind: cfnspec.Boolean}
	anyJSON = cfnspec.Type{Kind: cfnspec.JSON}
)

// samExtras are what the SAM specification has that the database's SAM types lack: top-level
// properties SAM added later, and the attributes Fn::GetAtt reads from the resources SAM
// generates under the same logical ID (a Function's AWS::Lambda::Function, an Api's RestApi).
// Nested structures are given as free-form JSON: the checker does not look inside them.
var samExtras = map[string]struct {
	properties map[string]cfnspec.Type
	attributes []string
}{
	"AWS::Serverless::Function": {
		properties: map[string]cfnspec.Type{
			"AutoPublishAliasAllProperties": boolean, "LoggingConfig": anyJSON, "PropagateTags": boolean,
			"RecursiveLoop": str, "RolePath": str, "RuntimeManagementConfig": anyJSON, "SnapStart": anyJSON,
			"SourceKMSKeyArn": str, "VersionDeletionPolicy": str, "TenancyConfig": anyJSON,
			"CapacityProviderConfig": anyJSON, "FunctionScalingConfig": anyJSON, "PublishToLatestPublished": boolean,
		},
		attributes: []string{"Arn"},
	},
	"AWS::Serverless::Api": {
		properties: map[string]cfnspec.Type{
			"ApiKeySourceType": str, "FailOnWarnings": boolean, "MergeDefinitions": boolean, "Mode": str,
			"PropagateTags": boolean, "Policy": anyJSON, "SecurityPolicy": str, "EndpointAccessMode": str,
		},
		attributes: []string{"RootResourceId"},
	},
	"AWS::Serverless::HttpApi": {
		properties: map[string]cfnspec.Type{"AccessLogSettings": anyJSON, "Name": str, "PropagateTags": boolean},
		attributes: []string{"ApiEndpoint", "ApiId"},
	},
	"AWS::Serverless::SimpleTable": {
		properties: map[string]cfnspec.Type{"PointInTimeRecoverySpecification": anyJSON},
		attributes: []string{"Arn", "StreamArn"},
	},
	"AWS::Serverless::StateMachine": {
		properties: map[string]cfnspec.Type{
			"AutoPublishAlias": str, "DeploymentPreference": anyJSON, "PropagateTags": boolean,
			"RolePath": str, "UseAliasAsEventTarget": boolean,
		},
		attributes: []string{"Arn", "Name"},
	},
	"AWS::Serverless::LayerVersion": {
		properties: map[string]cfnspec.Type{
			"CompatibleArchitectures": {Kind: cfnspec.List, Element: &str}, "PublishLambdaVersion": boolean,
		},
	},
	"AWS::Serverless::Application": {
		properties: map[string]cfnspec.Type{"NotificationARNs": {Kind: cfnspec.List, Element: &str}},
	},
	// Not in the database at all.
	"AWS::Serverless::Connector": {
		properties: map[string]cfnspec.Type{
			"Source": anyJSON, "Destination": anyJSON, "Permissions": {Kind: cfnspec.List, Element: &str},
		},
	},
}

// samOpen are SAM types newer than the database: known by name, their properties not checked.
var samOpen = []string{"AWS::Serverless::GraphQLApi", "AWS::Serverless::WebSocketApi", "AWS::Serverless::CapacityProvider"}

var samRequired = map[string][]string{
	"AWS::Serverless::Connector": {"Source", "Destination", "Permissions"},
}

func addSAMExtras(s *cfnspec.Spec) {
	for _, name := range samOpen {
		if s.Resources[name] == nil {
			s.Resources[name] = &cfnspec.Resource{Properties: map[string]*cfnspec.Property{}, Transform: samTransform, Open: true}
		}
	}
	for name, extra := range samExtras {
		r := s.Resources[name]
		if r == nil {
			r = &cfnspec.Resource{Properties: map[string]*cfnspec.Property{}, Transform: samTransform}
			s.Resources[name] = r
		}
		for p, t := range extra.properties {
			if _, ok := r.Properties[p]; !ok {
				r.Properties[p] = &cfnspec.Property{Type: t}
			}
		}
		for _, p := range samRequired[name] {
			r.Properties[p].Required = true
		}
		for _, a := range extra.attributes {
			if !r.Attribute(a) {
				r.Attributes = append(r.Attributes, a)
			}
		}
		sort.Strings(r.Attributes)
	}
}
