// Package demo holds the bundled example routes that `sluice demo` runs, packed as tars
// (examples/hello-api and examples/serverless-api are Go modules of their own and so cannot be
// embedded directly): hello-api for `sluice demo`, serverless-api for `sluice demo --aws`.
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
//go:generate go run ../../internal/mkbundle ../../examples/serverless-api serverless-api.tar

// Bundle is examples/hello-api as a tar.
//
//go:embed hello-api.tar
var Bundle []byte

// ServerlessBundle is examples/serverless-api as a tar.
//
//go:embed serverless-api.tar
var ServerlessBundle []byte

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

// Extract writes Bundle into dir, an existing directory.
func Extract(dir string) error { return ExtractBundle(dir, Bundle) }

// ExtractBundle writes a bundle into dir, an existing directory.
func ExtractBundle(dir string, bundle []byte) error {
	if err := artifact.Extract(dir, bytes.NewReader(bundle)); err != nil {
		return fmt.Errorf("extract the bundled example: %w", err)
	}
	return nil
}
