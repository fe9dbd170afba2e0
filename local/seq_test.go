package local

import (
	"os"
	"path/filepath"
	"testing"
)

// A new engine's versions are numbered after those an earlier engine left, so none reuses an
// old version's folder or log.
func TestLastVersionSeq(t *testing.T) {
	dir := t.TempDir()
	if got := lastVersionSeq(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("no folder: %d, want 0", got)
	}
	for _, name := range []string{"abc1234-3", "abc1234-3.log", "def5678-12.log", "v-2", "notes.txt", "x-y"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastVersionSeq(dir); got != 12 {
		t.Errorf("last sequence %d, want 12", got)
	}
}
