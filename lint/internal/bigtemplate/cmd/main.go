// Command cmd writes a generated template of -n resources to standard output, for bench/lint.sh.
package main

import (
	"flag"
	"os"

	"github.com/sluicehq/sluice/lint/internal/bigtemplate"
)

func main() {
	n := flag.Int("n", 1000, "how many resources (rounded up to a multiple of ten)")
	flag.Parse()
	_, _ = os.Stdout.Write(bigtemplate.Generate(*n))
}
