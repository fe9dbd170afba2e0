// Package runner runs the commands of a route: build, check, test and hook commands that must
// finish, and service processes that run until they are stopped.
//
// Every command runs in its own process group, so stopping it (on a timeout, a canceled context
// or Stop) reaches everything it started, not only the shell. When the command itself exits,
// whatever it left running in its group is killed too (on Linux), so a check cannot leave a
// server behind. On Linux that includes descendants that left the group (setsid, daemonizing):
// each command carries a tag in its environment (TagVariable), the engine is the subreaper of
// everything it starts and reaps what is reparented to it, and a Ledger in the state directory
// lets the next engine kill what a SIGKILLed one left running. Standard output and standard error go to one writer, interleaved as the
// process wrote them, one whole line at a time, with secret values replaced by ***.
//
// The pieces:
//
//	Run          a command to completion, with a timeout and a context
//	Start        a long-running process, with Pid, Done, ExitCode, Err and Stop
//	MaskWriter   line buffering and secret masking for any log writer
//	Ledger       the record of running commands that survives the engine
//	FreePort     a free TCP port on 127.0.0.1 for a service
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// DefaultGrace is how long a stopping command may take to exit after SIGTERM before it and its
// process group get SIGKILL, when Command.Grace is zero.
const DefaultGrace = 2 * time.Second

// waitDelay bounds how long Wait keeps reading output after the command has exited. Only a
// process that left the group (setsid, nohup into a new session) can still hold the pipe then;
// its later output is dropped rather than letting it hold the caller hostage.
const waitDelay = time.Second

// Command describes one command. The zero value is not runnable: exactly one of Shell and Args
// must be set.
type Command struct {
	// Name describes the command in messages, such as `check "unit"`. If empty, the command line
	// is used: `command "go test ./..."`.
	Name string

	// Dir is the working directory. If empty, the current directory is used.
	Dir string

	// Shell is a command line run with `sh -c`.
	Shell string

	// Args is a program and its arguments, run directly. A program name without a slash is
	// looked up in the PATH of Env; one with a slash is relative to Dir.
	Args []string

	// Env is the whole environment, as KEY=VALUE. If nil, a minimal one is used: PATH, HOME,
	// TMPDIR and LANG of the current process, where set. An empty non-nil slice is an empty
	// environment.
	Env []string

	// Timeout bounds how long Run lets the command run. If zero, there is no limit but the
	// context's. Start ignores it: a service runs until it exits or is stopped.
	Timeout time.Duration

	// Grace is how long Run lets a stopping command exit after SIGTERM before its process
	// group is killed. If zero, DefaultGrace. Start ignores it: Stop takes its own.
	Grace time.Duration

	// Output receives standard output and standard error, interleaved, one whole line at a
	// time, with Secrets masked. If nil, output is discarded.
	Output io.Writer

	// Secrets are values to replace with *** in Output. Empty values and values shorter than
	// 4 bytes are ignored: masking them would garble ordinary text.
	Secrets []string

	// Ledger, if not nil, records the command while it runs, so that an engine started after
	// this one died kills what it left (see Ledger).
	Ledger *Ledger
}

// Result is what Run knows about a finished command.
type Result struct {
	// ExitCode is the exit status: 128+n if a signal n ended it (as shells report it), -1 if
	// the command never started.
	ExitCode int
	// Duration is the time from start to exit.
	Duration time.Duration
	// TimedOut reports that Command.Timeout stopped the command.
	TimedOut bool
	// Canceled reports that the context stopped the command, or was done before it started.
	Canceled bool
}

// ExitError reports that a command exited with a non-zero status.
type ExitError struct {
	Name string // the command's Name, as in messages
	Code int    // the exit status; 128+n if signal n ended it
	Err  error  // the *exec.ExitError
}

func (e *ExitError) Error() string {
	if sig, ok := exitSignal(e.Err); ok {
		return fmt.Sprintf("%s was killed by signal %d (%v)", e.Name, int(sig), sig)
	}
	return fmt.Sprintf("%s failed with exit code %d", e.Name, e.Code)
}

// Unwrap returns the *exec.ExitError.
func (e *ExitError) Unwrap() error { return e.Err }

// Run runs c to completion and reports how it ended. A non-zero exit is an *ExitError. When
// Command.Timeout passes, the process group gets SIGTERM, then SIGKILL after Grace, and Run
// returns a *sluice.Error with code sluice.ETIMEOUT. When ctx is done, the same stop happens and
// the error wraps the context's cause (context.Canceled or context.DeadlineExceeded).
//
// Run returns once the command has exited and its output is written; a process that escaped
// the group may keep running, but Run stops reading its output about a second after the exit.
// Run is safe to call concurrently.
func Run(ctx context.Context, c Command) (Result, error) {
	name := c.name()
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1, Canceled: true}, fmt.Errorf("run %s: %w", name, context.Cause(ctx))
	}
	p, err := Start(c)
	if err != nil {
		return Result{ExitCode: -1}, err
	}

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	var res Result
	select {
	case <-p.Done():
	case <-timeout:
		res.TimedOut = !exited(p) // a command that ended as the timer fired did not time out
		_ = p.Stop(grace)         // fails only if our own child's group cannot be signaled
	case <-ctx.Done():
		res.Canceled = !exited(p)
		_ = p.Stop(grace)
	}
	<-p.Done()

	res.ExitCode = p.ExitCode()
	res.Duration = p.duration
	switch {
	case res.TimedOut:
		return res, &sluice.Error{
			Code:    sluice.ETIMEOUT,
			Message: fmt.Sprintf("%s timed out after %s; raise its timeout or make it faster", name, shortDuration(c.Timeout)),
			Err:     context.DeadlineExceeded,
		}
	case res.Canceled:
		return res, fmt.Errorf("run %s: %w", name, context.Cause(ctx))
	}
	return res, p.Err()
}

// name is the command as messages show it.
func (c Command) name() string {
	if c.Name != "" {
		return c.Name
	}
	line := c.Shell
	if line == "" {
		line = strings.Join(c.Args, " ")
	}
	const max = 60
	if len(line) > max {
		line = line[:max] + "..."
	}
	return fmt.Sprintf("command %q", line)
}

// command builds the exec.Cmd for c and the tag its environment carries; output is nil when
// c.Output is.
func (c Command) command() (*exec.Cmd, *MaskWriter, string, error) {
	name := c.name()
	switch {
	case c.Shell != "" && len(c.Args) > 0:
		return nil, nil, "", sluice.Errorf(sluice.EINVALID, "%s has both a shell line and arguments; give one of them", name)
	case c.Shell == "" && len(c.Args) == 0:
		return nil, nil, "", sluice.Errorf(sluice.EINVALID, "%s is empty; give a shell line or a program to run", name)
	case len(c.Args) > 0 && c.Args[0] == "":
		return nil, nil, "", sluice.Errorf(sluice.EINVALID, "%s has an empty program name; give the program to run first", name)
	}
	env := c.Env
	if env == nil {
		env = minimalEnv()
	}
	// The tag marks every descendant, so it can be found once it has left the group. A tag
	// inherited from an engine that started this one is replaced, not kept beside ours.
	tag := nextTag(c.Ledger)
	env = append(slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, TagVariable+"=") }),
		TagVariable+"="+tag)
	args := c.Args
	if c.Shell != "" {
		args = []string{"sh", "-c", c.Shell}
	}
	path, err := lookPath(args[0], env)
	if err != nil {
		return nil, nil, "", sluice.Errorf(sluice.EINVALID, "%s cannot start: %w; check the program name and PATH", name, err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        args,
		Dir:         c.Dir,
		Env:         env,
		SysProcAttr: sysProcAttr(),
		WaitDelay:   waitDelay,
	}
	var out *MaskWriter
	if c.Output != nil {
		out = NewMaskWriter(c.Output, c.Secrets)
		// One writer for both streams makes exec use one pipe, so the kernel keeps the order
		// in which the process wrote to them.
		cmd.Stdout = out
		cmd.Stderr = out
	}
	return cmd, out, tag, nil
}

// minimalEnv is the environment of a command that did not give one: enough to find programs
// and a home and temporary directory, nothing that leaks the engine's own configuration.
func minimalEnv() []string {
	env := []string{}
	for _, key := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(key); ok {
			env = append(env, key+"="+v)
		}
	}
	return env
}

// lookPath finds name in the PATH of env, not of this process, because env is what the command
// runs with. Names with a slash are left for exec to resolve against the command's Dir.
func lookPath(name string, env []string) (string, error) {
	if strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) {
		return name, nil
	}
	path, ok := envValue(env, "PATH")
	if !ok {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(path) {
		// A relative PATH entry would resolve against the command's directory: never trusted.
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q: %w", name, exec.ErrNotFound)
}

// envValue returns the last value of key in env, as exec would pass it.
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// shortDuration writes d as people write it in sluice.yaml: 10m, not 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// exitCode is the shell's view of how a process ended: its status, or 128+n for signal n.
func exitCode(state *os.ProcessState) int {
	if state == nil {
		return -1
	}
	if ws, ok := state.Sys().(waitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

// waitStatus is the part of syscall.WaitStatus that every platform has.
type waitStatus interface {
	Signaled() bool
	Signal() syscall.Signal
}

// exitSignal returns the signal that ended the process of err, if one did.
func exitSignal(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, false
	}
	if ws, ok := ee.Sys().(waitStatus); ok && ws.Signaled() {
		return ws.Signal(), true
	}
	return 0, false
}

// exited reports whether p has already exited, without waiting.
func exited(p *Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
