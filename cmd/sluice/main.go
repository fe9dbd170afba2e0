// Command sluice is the route-to-live engine's command line. See `sluice help`.
package main

import (
	"os"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/spec"
)

func main() {
	// Targets other than local are registered here, so spec and the engine name none of them.
	spec.RegisterTarget(aws.TargetKind)
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
