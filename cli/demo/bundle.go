// Package demo holds the bundled example route that `sluice demo` runs, packed as a tar
// (examples/hello-api is its own Go module and so cannot be embedded directly).
package demo

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/artifact"
)

//go:generate go run ../../internal/mkbundle ../../examples/hello-api hello-api.tar

// Bundle is examples/hello-api as a tar.
//
//go:embed hello-api.tar
var Bundle []byte

// Pack writes the example folder as a deterministic tar, leaving out build output and state.
func Pack(w io.Writer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read example: %w", err)
	}
	var paths []string
	for _, e := range entries {
		switch e.Name() {
		case "dist", ".sluice":
			continue
		}
		paths = append(paths, e.Name())
	}
	return artifact.Pack(w, dir, paths)
}

// Extract writes the bundle into dir, an existing directory.
func Extract(dir string) error {
	if err := artifact.Extract(dir, bytes.NewReader(Bundle)); err != nil {
		return fmt.Errorf("extract the bundled example: %w", err)
	}
	return nil
}
