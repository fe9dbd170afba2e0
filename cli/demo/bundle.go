// Package demo holds the bundled example route that `sluice demo` runs, packed as a tar
// (examples/hello-api is its own Go module and so cannot be embedded directly).
package demo

import (
	"archive/tar"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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

// Extract writes the bundle into dir.
func Extract(dir string) error {
	tr := tar.NewReader(bytes.NewReader(Bundle))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read bundled example: %w", err)
		}
		name := filepath.Clean(hdr.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("bundled example has an unsafe path %q", hdr.Name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
}
