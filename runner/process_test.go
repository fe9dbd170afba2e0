//go:build unix

package runner_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runner"
)

// start starts c and stops it, bounded, when the test ends.
func start(t *testing.T, c runner.Command) *runner.Process {
	t.Helper()
	p, err := runner.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := within(t, "Stop in cleanup", func() error { return p.Stop(0) }); err != nil {
			t.Error(err)
		}
	})
	return p
}

// waitDone fails the test unless p exits within bound.
func waitDone(t *testing.T, p *runner.Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(bound):
		t.Fatalf("process %d did not exit within %s", p.Pid(), bound)
	}
}

func TestStartStop(t *testing.T) {
	tests := []struct {
		name     string
		cmd      runner.Command
		grace    time.Duration
		wantCode int
	}{
		{name: "stops on SIGTERM", cmd: runner.Command{Args: []string{"sleep", "300"}}, grace: bound, wantCode: 128 + 15},
		{
			name:     "ignores SIGTERM and is killed after grace",
			cmd:      runner.Command{Shell: `trap '' TERM; echo ready; while :; do sleep 1; done`},
			grace:    200 * time.Millisecond,
			wantCode: 128 + 9,
		},
		{name: "zero grace kills at once", cmd: runner.Command{Args: []string{"sleep", "300"}}, grace: 0, wantCode: 128 + 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.cmd.Output = &out
			p := start(t, tt.cmd)
			if tt.cmd.Shell != "" {
				// The trap must be in place before Stop, or SIGTERM would end the shell.
				eventually(t, "ready", func() bool { return out.String() == "ready\n" })
			}
			if got, err := syscall.Getpgid(p.Pid()); err != nil || got != p.Pid() {
				t.Errorf("Getpgid(%d) = %d, %v; want the process to lead its own group", p.Pid(), got, err)
			}
			if code := p.ExitCode(); code != -1 {
				t.Errorf("ExitCode while running = %d, want -1", code)
			}
			if err := within(t, "Stop", func() error { return p.Stop(tt.grace) }); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Done is open after Stop returned")
			}
			if code := p.ExitCode(); code != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", code, tt.wantCode)
			}
			var ee *runner.ExitError
			if !errors.As(p.Err(), &ee) || ee.Code != tt.wantCode {
				t.Errorf("Err = %v, want an *ExitError with code %d", p.Err(), tt.wantCode)
			}
			if err := p.Stop(tt.grace); err != nil {
				t.Errorf("second Stop = %v, want nil", err)
			}
		})
	}
}

func TestStopConcurrent(t *testing.T) {
	p := start(t, runner.Command{Args: []string{"sleep", "300"}})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- p.Stop(time.Duration(i) * 50 * time.Millisecond) })
	}
	within(t, "concurrent Stops", func() bool { wg.Wait(); return true })
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if code := p.ExitCode(); code != 128+9 && code != 128+15 {
		t.Errorf("ExitCode = %d, want 137 or 143", code)
	}
}

func TestStartExitsByItself(t *testing.T) {
	tests := []struct {
		name     string
		shell    string
		wantCode int
		wantErr  string
	}{
		{name: "success", shell: "echo bye", wantCode: 0},
		{name: "failure", shell: "echo bye; exit 3", wantCode: 3, wantErr: `service "api" failed with exit code 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			p := start(t, runner.Command{Name: `service "api"`, Shell: tt.shell, Output: &out})
			waitDone(t, p)
			if code := p.ExitCode(); code != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", code, tt.wantCode)
			}
			if got := out.String(); got != "bye\n" {
				t.Errorf("output = %q, want %q", got, "bye\n")
			}
			switch err := p.Err(); {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("Err = %v, want %q", err, tt.wantErr)
			}
			if err := p.Stop(time.Second); err != nil {
				t.Errorf("Stop after exit = %v, want nil", err)
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	port, err := runner.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("port = %d, want 1-65535", port)
	}
	// The port is meant for a service: one must be able to listen on it.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// A program still open for writing somewhere (a child forked while an artifact was being
// unpacked holds the file until it execs) cannot be run for that instant: Start waits it out.
func TestStartProgramStillOpenForWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("#!/bin/sh\necho started\n"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.Close()
		close(released)
	}()
	var out syncBuffer
	p := start(t, runner.Command{Name: "app", Args: []string{path}, Output: &out})
	waitDone(t, p)
	<-released
	if code := p.ExitCode(); code != 0 || out.String() != "started\n" {
		t.Errorf("exit %d, output %q; want 0 and %q", code, out.String(), "started\n")
	}
}
