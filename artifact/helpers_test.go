package artifact

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// writeFile creates root/name (slash-separated) with its parents and sets mode exactly,
// whatever the umask.
func writeFile(t *testing.T, root, name, content string, mode fs.FileMode) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, root, name, target string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantCode fails unless err is a *sluice.Error with code and, if given, a message containing
// each of the fragments.
func wantCode(t *testing.T, err error, code string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %s", code)
	}
	if got := sluice.ErrorCode(err); got != code {
		t.Fatalf("got code %s (%v), want %s", got, err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

func packBytes(t *testing.T, root string, paths ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(&buf, root, paths); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sampleTree builds a tree with nested directories, an executable, an empty directory, a
// symlink, and a file large enough to span several chunks.
func sampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "dist/app", "#!/bin/sh\necho hello\n", 0o755)
	writeFile(t, root, "dist/config/app.yaml", "port: 8080\n", 0o600)
	writeFile(t, root, "dist/config/deep/er/notes.txt", "nested\n", 0o644)
	writeFile(t, root, "dist/big.bin", strings.Repeat("0123456789abcdef", (2*chunkSize+chunkSize/2)/16), 0o644)
	writeFile(t, root, "README.md", "not packed\n", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "dist", "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	symlink(t, root, "dist/current", "config/app.yaml")
	return root
}

// listTree describes every entry below dir as "name mode [content or -> target]", in walk order.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, full)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := filepath.ToSlash(rel) + " " + info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			line += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(full)
			if err != nil {
				return err
			}
			if len(b) > 64 {
				line += fmt.Sprintf(" %d bytes, sha256 %x", len(b), sha256.Sum256(b))
			} else {
				line += " " + string(b)
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
