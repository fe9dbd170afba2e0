package runner_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/runner"
)

// TestLedgerKillsWhatADeadEngineLeft starts this test binary as a stand-in engine that runs a
// check leaving a process in its group and one that left it, SIGKILLs the engine, and checks
// that both survive it (the parent-death signal reaches only the shell) until the next engine
// opens the ledger.
func TestLedgerKillsWhatADeadEngineLeft(t *testing.T) {
	if dir := os.Getenv("SLUICE_LEDGER_ENGINE"); dir != "" {
		ledgerEngine(dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "processes")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerKillsWhatADeadEngineLeft$")
	cmd.Env = append(os.Environ(), "SLUICE_LEDGER_ENGINE="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := within(t, "the engine's check pids", func() string {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		return s
	})
	var inGroup, escaped int
	if _, err := fmt.Sscanf(line, "pids %d %d", &inGroup, &escaped); err != nil {
		t.Fatalf("engine said %q, want \"pids IN ESCAPED\"", line)
	}
	for _, pid := range []int{inGroup, escaped} {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}

	// A second engine on the same state while the first lives leaves its processes alone.
	live, found, err := runner.OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if found.Killed != 0 || !alive(inGroup) || !alive(escaped) {
		t.Fatalf("opening the ledger beside a live engine killed %d processes", found.Killed)
	}
	live.Close()

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !alive(inGroup) || !alive(escaped) {
		t.Fatal("the check's processes died with the engine; this test no longer shows what the ledger is for")
	}

	l, found, err := runner.OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if found.Instances != 1 || found.Killed < 2 {
		t.Errorf("OpenLedger found %+v, want 1 dead engine and at least 2 processes killed", found)
	}
	requireGone(t, inGroup)
	requireGone(t, escaped)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), strings.TrimSuffix(filepath.Base(ownLock(t, dir)), ".lock")) {
			t.Errorf("the dead engine's record %s is still there", e.Name())
		}
	}
}

// ownLock returns the lock file of the one live instance in dir.
func ownLock(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	if len(m) != 1 {
		t.Fatalf("ledger holds locks %v, want this engine's only", m)
	}
	return m[0]
}

// ledgerEngine runs a check through a ledger, reports its processes' pids and waits to be
// killed.
func ledgerEngine(dir string) {
	l, _, err := runner.OpenLedger(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	tmp := filepath.Join(filepath.Dir(dir), "work") // inside the test's temporary directory
	_ = os.MkdirAll(tmp, 0o700)
	p, err := runner.Start(runner.Command{
		Shell: `sleep 300 & echo $! > in; setsid sh -c 'echo $$ > out.tmp; mv out.tmp out; exec sleep 300' & wait`,
		Dir:   tmp, Ledger: l,
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	read := func(name string) int {
		for {
			b, err := os.ReadFile(filepath.Join(tmp, name))
			if n, err2 := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && err2 == nil && n > 0 {
				return n
			}
		}
	}
	fmt.Printf("pids %d %d\n", read("in"), read("out"))
	<-p.Done()
	os.Exit(1)
}
