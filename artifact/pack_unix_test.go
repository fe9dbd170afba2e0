//go:build unix

package artifact

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestPackRefusesNamedPipe(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "dist/app", "binary", 0o755)
	if err := syscall.Mkfifo(filepath.Join(root, "dist", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	wantCode(t, Pack(&buf, root, []string{"dist"}), sluice.EINVALID, `"dist/fifo" is a named pipe`, "only files, directories and symlinks")
}
