// Command mkbundle packs the bundled example route into the archive `sluice demo` embeds:
//
//	go run ./internal/mkbundle examples/hello-api cli/demo/hello-api.tar
//
// The example is its own Go module, so it cannot be embedded directly; the archive is checked
// against the folder by a test in cli.
package main

import (
	"fmt"
	"os"

	"github.com/sluicehq/sluice/cli/demo"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mkbundle EXAMPLE_DIR OUT.tar")
		os.Exit(2)
	}
	f, err := os.Create(os.Args[2])
	if err == nil {
		err = demo.Pack(f, os.Args[1])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkbundle:", err)
		os.Exit(1)
	}
}
