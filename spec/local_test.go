package spec

import (
	"testing"
	"time"
)

func TestLocalTargetBlock(t *testing.T) {
	route, diags := Parse("sluice.yaml", []byte(`version: 1
name: limits
build: {commands: [make], artifact: [dist/]}
service: {command: [dist/app]}
environments:
  - name: dev
  - name: slow
    target:
      local: {client_timeout: 2m, upstream_timeout: 5m}
  - name: short
    target: local
`))
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	for i, want := range []LocalTarget{{}, {ClientTimeout: 2 * time.Minute, UpstreamTimeout: 5 * time.Minute}, {}} {
		env := route.Environments[i]
		got, ok := env.TargetConfig.(*LocalTarget)
		if env.Target != TargetLocal || !ok || *got != want {
			t.Errorf("%s: target %s %#v, want local %+v", env.Name, env.Target, env.TargetConfig, want)
		}
	}
}
