//go:build unix

package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/runner"
)

type runResult struct {
	res runner.Result
	err error
}

// run runs c with a bound, so a broken kill cannot hang the test run.
func run(t *testing.T, ctx context.Context, c runner.Command) (runner.Result, error) {
	t.Helper()
	r := within(t, "Run", func() runResult {
		res, err := runner.Run(ctx, c)
		return runResult{res, err}
	})
	return r.res, r.err
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		cmd      runner.Command
		wantCode int
		wantMsg  string // in the error; "" means no error
	}{
		{name: "success", cmd: runner.Command{Shell: "exit 0"}, wantCode: 0},
		{name: "failure", cmd: runner.Command{Name: `check "unit"`, Shell: "exit 3"}, wantCode: 3, wantMsg: `check "unit" failed with exit code 3`},
		{name: "args", cmd: runner.Command{Args: []string{"false"}}, wantCode: 1, wantMsg: `command "false" failed with exit code 1`},
		{name: "unknown command in shell", cmd: runner.Command{Shell: "no-such-command-sluice 2>/dev/null"}, wantCode: 127, wantMsg: "exit code 127"},
		{name: "killed by a signal", cmd: runner.Command{Shell: "kill -KILL $$"}, wantCode: 137, wantMsg: `command "kill -KILL $$" was killed by signal 9 (killed)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run(t, context.Background(), tt.cmd)
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if res.TimedOut || res.Canceled {
				t.Errorf("TimedOut = %v, Canceled = %v, want both false", res.TimedOut, res.Canceled)
			}
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var ee *runner.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v (%T), want *runner.ExitError", err, err)
			}
			if ee.Code != tt.wantCode {
				t.Errorf("ExitError.Code = %d, want %d", ee.Code, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRunOutput(t *testing.T) {
	tests := []struct {
		name string
		cmd  runner.Command
		want string
	}{
		{
			name: "stdout and stderr interleaved in order",
			cmd:  runner.Command{Shell: "echo one; echo two >&2; echo three; echo four >&2"},
			want: "one\ntwo\nthree\nfour\n",
		},
		{
			name: "last line without newline",
			cmd:  runner.Command{Shell: "echo one; printf two"},
			want: "one\ntwo",
		},
		{
			name: "args passed verbatim",
			cmd:  runner.Command{Args: []string{"printf", "%s|%s\n", "a b", "$HOME"}},
			want: "a b|$HOME\n",
		},
		{
			name: "secret masked, also when written in pieces",
			cmd: runner.Command{
				Shell:   `echo "token=$TOKEN"; printf 'hunt'; sleep 0.05; printf 'er2-token\n'; echo "$TOKEN" >&2`,
				Env:     []string{"TOKEN=hunter2-token"},
				Secrets: []string{"hunter2-token", "", "ab"},
			},
			want: "token=***\n***\n***\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.cmd.Output = &out
			if _, err := run(t, context.Background(), tt.cmd); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Setenv("SLUICE_RUNNER_LEAK", "leaked")
	t.Setenv("HOME", "/home/sluice-test")
	bin := t.TempDir()
	script := filepath.Join(bin, "sluice-hello")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello from PATH\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const show = `printf '%s|%s|%s\n' "${FOO-unset}" "${SLUICE_RUNNER_LEAK-unset}" "${HOME-unset}"`
	tests := []struct {
		name string
		cmd  runner.Command
		want string
	}{
		{name: "given environment only", cmd: runner.Command{Shell: show, Env: []string{"FOO=bar"}}, want: "bar|unset|unset\n"},
		{name: "nil is minimal", cmd: runner.Command{Shell: show}, want: "unset|unset|/home/sluice-test\n"},
		{name: "later value wins", cmd: runner.Command{Shell: show, Env: []string{"FOO=a", "FOO=b"}}, want: "b|unset|unset\n"},
		{
			name: "program found in the command's PATH",
			cmd:  runner.Command{Args: []string{"sluice-hello"}, Env: []string{"PATH=" + bin + ":/usr/bin:/bin"}},
			want: "hello from PATH\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.cmd.Output = &out
			if _, err := run(t, context.Background(), tt.cmd); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunDir(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "app"), []byte("#!/bin/sh\npwd -P\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  runner.Command
	}{
		{name: "shell", cmd: runner.Command{Shell: "pwd -P"}},
		{name: "program relative to the directory", cmd: runner.Command{Args: []string{"bin/app"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.cmd.Dir, tt.cmd.Output = dir, &out
			if _, err := run(t, context.Background(), tt.cmd); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out.String()); got != dir {
				t.Errorf("working directory = %q, want %q", got, dir)
			}
		})
	}
}

func TestRunInvalid(t *testing.T) {
	tests := []struct {
		name string
		cmd  runner.Command
		want string
	}{
		{name: "shell and args", cmd: runner.Command{Shell: "true", Args: []string{"true"}}, want: "give one of them"},
		{name: "neither", cmd: runner.Command{Name: `hook "pre_traffic"`}, want: `hook "pre_traffic" is empty`},
		{name: "empty program", cmd: runner.Command{Args: []string{""}}, want: "empty program name"},
		{name: "unknown program", cmd: runner.Command{Args: []string{"no-such-program-sluice"}}, want: "check the program name and PATH"},
		{name: "missing directory", cmd: runner.Command{Shell: "true", Dir: "/no/such/dir/sluice"}, want: "cannot start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run(t, context.Background(), tt.cmd)
			if got := sluice.ErrorCode(err); got != sluice.EINVALID {
				t.Fatalf("error code = %q (err %v), want %q", got, err, sluice.EINVALID)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if res.ExitCode != -1 {
				t.Errorf("ExitCode = %d, want -1", res.ExitCode)
			}
		})
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name  string
		shell string
	}{
		{name: "stops on SIGTERM", shell: `sleep 300 & echo $! > "$PIDFILE"; wait`},
		{name: "ignores SIGTERM", shell: `trap '' TERM; sleep 300 & echo $! > "$PIDFILE"; wait; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			res, err := run(t, context.Background(), runner.Command{
				Name:    `check "unit"`,
				Shell:   tt.shell,
				Env:     []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
				Timeout: 5 * time.Second,
				Grace:   200 * time.Millisecond,
			})
			if !res.TimedOut || res.Canceled {
				t.Errorf("TimedOut = %v, Canceled = %v, want true, false", res.TimedOut, res.Canceled)
			}
			if got := sluice.ErrorCode(err); got != sluice.ETIMEOUT {
				t.Errorf("error code = %q (err %v), want %q", got, err, sluice.ETIMEOUT)
			}
			if want := `check "unit" timed out after 5s; raise its timeout or make it faster`; err == nil || err.Error() != want {
				t.Errorf("err = %v, want %q", err, want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
			}
			// The grandchild must have started for this test to mean anything, and must be gone.
			requireGone(t, readPid(t, pidFile))
		})
	}
}

func TestRunCancel(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel only once the grandchild runs, so the test checks that it is killed.
		for range 1000 {
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	res, err := run(t, ctx, runner.Command{
		Shell: `sleep 300 & echo $! > "$PIDFILE"; wait`,
		Env:   []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
		Grace: 200 * time.Millisecond,
	})
	if !res.Canceled || res.TimedOut {
		t.Errorf("Canceled = %v, TimedOut = %v, want true, false", res.Canceled, res.TimedOut)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	requireGone(t, readPid(t, pidFile))
}

func TestRunCanceledBeforeStart(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := run(t, ctx, runner.Command{Shell: `touch "$1"`, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if !res.Canceled || res.ExitCode != -1 {
		t.Errorf("Canceled = %v, ExitCode = %d, want true, -1", res.Canceled, res.ExitCode)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the context was done")
	}
}

func TestRunLeftoverProcesses(t *testing.T) {
	t.Run("killed when the command exits", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("only Linux can kill the group before reaping its leader")
		}
		pidFile := filepath.Join(t.TempDir(), "pid")
		_, err := run(t, context.Background(), runner.Command{
			Shell: `sleep 300 & echo $! > "$PIDFILE"`,
			Env:   []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
		})
		if err != nil {
			t.Fatal(err)
		}
		requireGone(t, readPid(t, pidFile))
	})
	t.Run("escaped process is killed when the command exits", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("only Linux can find processes that left the group")
		}
		pidFile := filepath.Join(t.TempDir(), "pid")
		var out syncBuffer
		// The escaped shell writes its own pid once it has left the group, and the command
		// waits for that, so the group kill at exit cannot catch it by accident.
		res, err := run(t, context.Background(), runner.Command{
			Shell: `echo before; setsid sh -c 'echo $$ > "$PIDFILE"; exec sleep 300' &
				while [ ! -s "$PIDFILE" ]; do sleep 0.01; done; echo after`,
			Env:    []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
			Output: &out,
		})
		pid := readPid(t, pidFile)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ExitCode = %d, err = %v, want 0, nil", res.ExitCode, err)
		}
		if got, want := out.String(), "before\nafter\n"; got != want {
			t.Errorf("output = %q, want %q", got, want)
		}
		requireGone(t, pid)
	})
	t.Run("daemon is killed and reaped", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("only Linux has a subreaper")
		}
		pidFile := filepath.Join(t.TempDir(), "pid")
		// The classic double fork: the daemon's parent exits at once, so it is reparented
		// (to us, the subreaper) and runs in its own session.
		_, err := run(t, context.Background(), runner.Command{
			Shell: `sh -c 'setsid sh -c "echo \$\$ > \"$PIDFILE\"; exec sleep 300" & exit 0'
				while [ ! -s "$PIDFILE" ]; do sleep 0.01; done`,
			Env: []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
		})
		if err != nil {
			t.Fatal(err)
		}
		pid := readPid(t, pidFile)
		requireGone(t, pid)
		// Gone from /proc altogether: not left a zombie child of this process.
		eventually(t, "the daemon to be reaped", func() bool {
			_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
			return os.IsNotExist(err)
		})
	})
	t.Run("tag is set and replaces an inherited one", func(t *testing.T) {
		var out syncBuffer
		_, err := run(t, context.Background(), runner.Command{
			Shell:  `env | grep ^` + runner.TagVariable + `=`,
			Env:    []string{"PATH=" + os.Getenv("PATH"), runner.TagVariable + "=inherited/1"},
			Output: &out,
		})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 1 || strings.Contains(lines[0], "inherited") || !strings.Contains(lines[0], "/") {
			t.Fatalf("command saw %q, want one %s of this engine", out.String(), runner.TagVariable)
		}
	})
}

// BenchmarkRun measures the overhead of one short command: fork, exec, wait, group cleanup.
func BenchmarkRun(b *testing.B) {
	var out syncBuffer
	for b.Loop() {
		if _, err := runner.Run(context.Background(), runner.Command{Shell: "echo hi", Output: &out}); err != nil {
			b.Fatal(err)
		}
	}
}

// fullDisk is a log writer on a disk with no space left.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "check.log", Err: syscall.ENOSPC}
}

func TestOutputOnFullDisk(t *testing.T) {
	res, err := run(t, context.Background(), runner.Command{Name: "check \"unit\"", Shell: "echo hello", Output: fullDisk{}})
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk is full (ENOSPC)") {
		t.Fatalf("err = %v, want one that says the disk is full (ENOSPC)", err)
	}
	if res.ExitCode != 0 {
		t.Errorf("ExitCode = %d: the command itself succeeded", res.ExitCode)
	}
}
