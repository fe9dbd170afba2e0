// Package aws is Sluice's AWS target: environments that are an AWS account and region, into
// which Sluice assumes a deployment role and applies CloudFormation change sets.
//
// So far it holds the target's configuration and its decoder, which the command line registers
// with spec.RegisterTarget so that a sluice.yaml may say
//
//	target:
//	  aws: {account: "123456789012", region: eu-west-1}
//
// The deploy.Provider that acts on it is to come, in this package.
package aws

import (
	"regexp"

	"github.com/sluicehq/sluice/spec"
)

// Kind is the target's name in sluice.yaml.
const Kind = "aws"

// Target is the configuration of an environment with target aws.
type Target struct {
	Account string `json:"account"` // 12 digits
	Region  string `json:"region"`  // such as eu-west-1
	// Role is the deployment role to assume: a name in Account or an ARN. If empty,
	// <route name>-<Region>-DeploymentRole, as `sluice aws bootstrap` creates it.
	Role string `json:"role,omitempty"`
}

// TargetKind registers the aws target with spec.RegisterTarget. account and region written
// directly on an environment, as before the target block existed, still work, with a warning.
var TargetKind = spec.TargetKind{
	Name:       Kind,
	Keys:       []string{"account", "region", "role"},
	LegacyKeys: []string{"account", "region"},
	Decode:     func(b *spec.TargetBlock) any { return decode(b) },
}

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleRe    = regexp.MustCompile(`^([A-Za-z0-9+=,.@_-]{1,64}|arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$`)
)

func decode(b *spec.TargetBlock) *Target {
	return &Target{
		Account: required(b, "account", accountRe.MatchString,
			"invalid AWS account %q; write its 12 digits in quotes, e.g. \"123456789012\"",
			"target aws needs the environment's AWS account, e.g. account: \"123456789012\""),
		Region: required(b, "region", func(s string) bool { return len(s) <= 32 && regionRe.MatchString(s) },
			"invalid AWS region %q; write a region code such as eu-west-1",
			"target aws needs the environment's AWS region, e.g. region: eu-west-1"),
		Role: optional(b, "role", roleRe.MatchString,
			"invalid role %q; write a role name such as hello-api-eu-west-1-DeploymentRole or its ARN, or remove the key for the default"),
	}
}

// required reads the string at key, reporting it when it is missing or not valid; invalid
// formats the value's message, missing says what to add.
func required(b *spec.TargetBlock, key string, valid func(string) bool, invalid, missing string) string {
	if !b.Has(key) {
		b.Missing(key, "%s", missing)
		return ""
	}
	return optional(b, key, valid, invalid)
}

func optional(b *spec.TargetBlock, key string, valid func(string) bool, invalid string) string {
	s, ok := b.String(key)
	if !ok {
		return ""
	}
	if !valid(s) {
		b.Errorf(key, invalid, s)
		return ""
	}
	return s
}
