// Command sluice is the route-to-live engine's command line. See `sluice help`.
package main

import (
	"os"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/spec"
)

func main() {
	// Targets and their providers are registered here, so spec, the engine and the command line
	// name none of them. (spec knows the local target's shorthand; its provider is wired here.)
	spec.RegisterTarget(aws.TargetKind)
	deploy.Register(spec.TargetLocal, local.Open)
	deploy.Register(aws.Kind, aws.Open)
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
