// Package cli is Sluice's command line: it parses arguments, opens the state, and calls the
// engine (in this process, or the `sluice up` serving the same state directory).
//
// commands.go wires each command (usage line, descriptions, flags, completion) with cobra; each
// command's body is its own cmdX function beside the code it shares.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice"
)

// Exit codes, the same for every command.
const (
	ExitOK      = 0 // succeeded
	ExitFailed  = 1 // the execution failed, was rejected or rolled back; or the check failed
	ExitUsage   = 2 // bad usage or an invalid file
	ExitRuntime = 3 // Sluice itself could not do what was asked (I/O, state, a bug)
)

// exitCodes maps error codes to exit codes; anything else is ExitRuntime.
var exitCodes = map[string]int{
	sluice.EINVALID:      ExitUsage,
	sluice.ENOTFOUND:     ExitFailed,
	sluice.ECONFLICT:     ExitFailed,
	sluice.EUNAUTHORIZED: ExitFailed,
	sluice.ECORRUPT:      ExitFailed,
	sluice.ETIMEOUT:      ExitFailed,
}

// env is what a command runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	ctx            context.Context
	// started is set when a command's body begins: an error before it is bad usage that cobra
	// found (an unknown flag, a missing argument).
	started bool
}

// run adapts a command body to cobra.
func (e *env) run(body func(args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		e.started = true
		return body(args)
	}
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, ctx: ctx}
	root := rootCommand(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	if err != nil && !e.started {
		var u usageError
		if !errors.As(err, &u) {
			err = usageError{err.Error()}
		}
	}
	return report(stderr, c, err)
}

// Version is the version of this build; `make build` sets it (and Commit) with -ldflags -X.
var (
	Version = "0.1.0-dev"
	Commit  = ""
)

// exitError carries an exit code with no further message (the command already said why).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func report(stderr io.Writer, c *cobra.Command, err error) int {
	name := "sluice"
	if c != nil && c.HasParent() {
		name = c.CommandPath()
	}
	var code exitError
	var usageErr usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, pflag.ErrHelp):
		return ExitOK
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "%s: %s\n", name, usageErr.msg)
		if c != nil && c.HasParent() {
			fmt.Fprintf(stderr, "usage: %s\nRun %s --help for more.\n", c.UseLine(), c.CommandPath())
		} else {
			fmt.Fprintln(stderr, "Run sluice help for the list of commands.")
		}
		return ExitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "%s: interrupted\n", name)
		return ExitFailed
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	if ec, ok := exitCodes[sluice.ErrorCode(err)]; ok {
		return ec
	}
	return ExitRuntime
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flags are the flags most commands share.
type flags struct {
	file  *string
	state *string
	json  *bool
	// pipeline names the pipeline a command works on (--pipeline); "" is the main one.
	pipeline *string
}
