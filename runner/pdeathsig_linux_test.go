package runner_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/runner"
)

// TestServiceDiesWithParent starts this test binary as a stand-in engine, has it start a
// service, kills the engine with SIGKILL, and checks that the service went with it.
func TestServiceDiesWithParent(t *testing.T) {
	if os.Getenv("SLUICE_RUNNER_ENGINE") == "1" {
		engine()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServiceDiesWithParent$")
	cmd.Env = append(os.Environ(), "SLUICE_RUNNER_ENGINE=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line := within(t, "the engine's service pid", func() string {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		return s
	})
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "service "))
	if err != nil {
		t.Fatalf("engine said %q, want \"service PID\"", line)
	}
	if !alive(pid) {
		t.Fatalf("service %d is not running before the engine dies", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	requireGone(t, pid)
}

// engine is the stand-in engine: it starts a service, reports its pid and waits to be killed.
func engine() {
	p, err := runner.Start(runner.Command{Args: []string{"sleep", "300"}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("service %d\n", p.Pid())
	<-p.Done()
	os.Exit(1)
}
