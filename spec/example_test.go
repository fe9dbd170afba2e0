package spec_test

import (
	"fmt"

	"github.com/sluicehq/sluice/spec"
)

func ExampleParse() {
	route, diags := spec.Parse("sluice.yaml", []byte(`version: 1
name: hello-api
build:
  comands: [go build -o dist/app .]
  artifact: [dist/]
service:
  command: [dist/app]
environments:
  - name: dev
  - name: prod
    deploy:
      strategy: Linear10PercentEvery1Minutes
`))
	fmt.Println(route == nil)
	for _, d := range diags {
		fmt.Println(d)
	}
	// Output:
	// true
	// sluice.yaml:3:1: error: build.commands: missing; add commands: a list of shell commands that build the artifact
	// sluice.yaml:4:3: error: build.comands: unknown key "comands"; did you mean "commands"?
	// sluice.yaml:10:5: warning: environments[1].approval.required: environment "prod" looks like production but deploys without approval; add approval: {required: true}
	// sluice.yaml:12:17: error: environments[1].deploy.strategy: unknown strategy "Linear10PercentEvery1Minutes"; did you mean "Linear10PercentEvery1Minute"?
}
