//go:build unix

package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/runner"
)

// TestLedgersSideBySide: two engines in one process on one state (as tests and a hand-off do)
// each open the ledger, neither kills what the other runs, and a clean close leaves nothing.
func TestLedgersSideBySide(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "processes")
	a, _, err := runner.OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runner.Start(runner.Command{Args: []string{"sleep", "300"}, Ledger: a})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(0)
	b, found, err := runner.OpenLedger(dir)
	if err != nil {
		t.Fatalf("a second ledger on the same directory: %v", err)
	}
	if found.Killed != 0 || found.Instances != 0 || !alive(p.Pid()) {
		t.Fatalf("the second ledger took the first one's command for a leftover: %+v", found)
	}
	if _, err := runner.Run(context.Background(), runner.Command{Shell: "true", Ledger: b}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(0); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("closed ledgers with nothing running left %v", entries)
	}
}
