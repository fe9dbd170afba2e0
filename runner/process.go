package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// Process is a started command. Its methods are safe to call concurrently.
type Process struct {
	cmd    *exec.Cmd
	name   string
	tag    string
	ledger *Ledger
	out    *MaskWriter
	start  time.Time
	done   chan struct{}

	mu sync.Mutex
	// exited is set once the group leader has exited. From then on the group id may belong to
	// someone else, so the group is never signaled again.
	exited bool

	// Set before done is closed; read only after.
	exitCode int
	err      error
	duration time.Duration
}

// textBusyAttempts bounds the tries to start a program the kernel reports busy (about 1.5 s).
const textBusyAttempts = 16

// Start starts c and returns without waiting for it. The process gets SIGKILL if this process
// dies first (Linux, where the thread that called Start must not exit before it: do not call
// Start from a goroutine locked to its thread). Timeout is ignored: use Stop.
func Start(c Command) (*Process, error) {
	cmd, out, tag, err := c.command()
	if err != nil {
		return nil, err
	}
	becomeSubreaper()
	p := &Process{cmd: cmd, name: c.name(), tag: tag, ledger: c.Ledger, out: out, done: make(chan struct{}), exitCode: -1}
	p.start = time.Now()
	for attempt := 1; ; attempt++ {
		startMu.Lock()
		err = cmd.Start()
		if err == nil {
			ours[cmd.Process.Pid] = true
		}
		startMu.Unlock()
		// A program just written (an unpacked artifact) can still be open for writing in a
		// child that another goroutine forked before the file was closed, until that child
		// execs: the kernel refuses to run it (ETXTBSY) for that instant. Try again briefly.
		if !errors.Is(err, syscall.ETXTBSY) || attempt == textBusyAttempts {
			break
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		if cmd, out, tag, err = c.command(); err != nil {
			return nil, err
		}
		p.cmd, p.tag, p.out = cmd, tag, out
	}
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "%s cannot start: %w; check the program and its directory", p.name, err)
	}
	p.ledger.record(tag, cmd.Process.Pid)
	go p.wait()
	return p, nil
}

// wait reaps the process, cleans up its group and publishes the result.
func (p *Process) wait() {
	// Where the platform lets us see the exit before reaping, the group id is still ours, so
	// whatever the leader left running can be killed without risk of hitting a stranger.
	// Elsewhere the group is signaled until Wait returns, with a small window in which the
	// group id could already be free.
	if awaitExit(p.cmd.Process.Pid) {
		p.mu.Lock()
		_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
		p.exited = true
		p.mu.Unlock()
	}
	// Descendants that left the group are found by their tag, wherever they went.
	killTagged(p.tag, false)
	err := p.cmd.Wait()
	startMu.Lock()
	delete(ours, p.cmd.Process.Pid)
	startMu.Unlock()
	p.ledger.forget(p.tag)
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
	p.duration = time.Since(p.start)
	p.exitCode = exitCode(p.cmd.ProcessState)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		p.err = &ExitError{Name: p.name, Code: p.exitCode, Err: ee}
	case errors.Is(err, exec.ErrWaitDelay):
		// An escaped process held the output open; what it wrote later is lost, not an error.
	case err != nil:
		p.err = fmt.Errorf("wait for %s: %w", p.name, err)
	}
	if p.out != nil {
		if err := p.out.Close(); err != nil && p.err == nil {
			p.err = outputError(p.name, err)
		}
	}
	close(p.done)
}

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done returns a channel that is closed once the process has exited and its output is written.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode returns the exit status once Done is closed: 128+n if signal n ended the process.
// Before that, it returns -1.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.exitCode
	default:
		return -1
	}
}

// Err returns, once Done is closed, an *ExitError if the process exited with a non-zero status
// (including after Stop), or the error of writing its output. Before that, and after a zero
// exit, it returns nil.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process group, waits up to grace for the process to exit, then
// sends SIGKILL to the group, and returns once the process has exited. If grace is zero or
// negative, SIGKILL is sent at once. Stop is idempotent and safe to call concurrently; on an
// exited process it returns nil at once. It fails only if the group cannot be signaled.
func (p *Process) Stop(grace time.Duration) error {
	if grace > 0 {
		if err := p.signal(syscall.SIGTERM); err != nil {
			return err
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return nil
		case <-t.C:
		}
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// signal sends sig to the group unless its leader has already exited.
func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	if err := signalGroup(p.cmd.Process, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: send %v: %w", p.name, sig, err)
	}
	return nil
}

// outputError says that the output of the command named name could not be written, and what
// to do when the reason is a full disk.
func outputError(name string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return sluice.Errorf(sluice.EINTERNAL, "write output of %s: %w; the disk is full (ENOSPC): free some space and run again", name, err)
	}
	return fmt.Errorf("write output of %s: %w", name, err)
}
