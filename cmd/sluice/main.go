// Command sluice is the route-to-live engine's command line. See `sluice help`.
package main

import (
	"os"

	"github.com/sluicehq/sluice/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
