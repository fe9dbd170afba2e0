// Package cli is Sluice's command line: it parses arguments, opens the state, and calls the
// engine (in this process, or the `sluice up` serving the same state directory).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
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
}

type command struct {
	summary string
	usage   string
	run     func(e *env, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"validate":  {"check a sluice.yaml and report every problem", "validate [-f FILE] [--json]", cmdValidate},
		"plan":      {"show the stage/action graph a route compiles to", "plan [-f FILE] [--json]", cmdPlan},
		"run":       {"run one execution end to end", "run [-f FILE] [--rev REV] [--approve] [--json] [--keep] [--state DIR]", cmdRun},
		"up":        {"serve the engine: API, a run per new commit, environments kept serving", "up [-f FILE] [--listen ADDR] [--no-watch] [--poll DURATION] [--state DIR]", cmdUp},
		"approve":   {"approve the change set waiting in an environment", "approve ENV [--comment TEXT] [--state DIR]", cmdDecide(true)},
		"reject":    {"reject the change set waiting in an environment", "reject ENV [--comment TEXT] [--state DIR]", cmdDecide(false)},
		"status":    {"show executions, environments and pending approvals", "status [--json] [--state DIR]", cmdStatus},
		"logs":      {"show the output of an execution's actions, or of an environment's version", "logs EXECUTION [ACTION] [-f] [--state DIR], or logs --env ENV [-f]", cmdLogs},
		"history":   {"list an environment's deployments and approval decisions", "history ENV [--json] [--state DIR]", cmdHistory},
		"changeset": {"show the change set pending in an environment", "changeset ENV [--json] [--state DIR]", cmdChangeSet},
		"rollback":  {"put an environment's last good version back", "rollback ENV [--state DIR]", cmdRollback},
		"retry":     {"re-run the failed stage of an execution", "retry EXECUTION [--state DIR]", cmdRetry},
		"stop":      {"stop an execution, killing its running actions", "stop EXECUTION [--state DIR]", cmdStop},
		"freeze":    {"hold executions before an environment", "freeze ENV [--comment TEXT] [--state DIR]", cmdFreeze(true)},
		"unfreeze":  {"let executions into an environment again", "unfreeze ENV [--state DIR]", cmdFreeze(false)},
		"demo":      {"run the bundled example route end to end on this machine", "demo [--approve] [--break-prod] [--json] [--keep]", cmdDemo},
	}
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "sluice", Version)
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q%s; run sluice help for the list\n", args[0], suggest(args[0]))
		return ExitUsage
	}
	err := c.run(&env{stdin: stdin, stdout: stdout, stderr: stderr, ctx: ctx}, args[1:])
	return report(stderr, args[0], c, err)
}

// Version is the version of this build.
var Version = "0.1.0-dev"

// exitError carries an exit code with no further message (the command already said why).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func report(stderr io.Writer, name string, c command, err error) int {
	var code exitError
	var usageErr usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "sluice %s: %s\nusage: sluice %s\n", name, usageErr.msg, c.usage)
		return ExitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "sluice %s: interrupted\n", name)
		return ExitFailed
	}
	fmt.Fprintf(stderr, "sluice %s: %v\n", name, err)
	if ec, ok := exitCodes[sluice.ErrorCode(err)]; ok {
		return ec
	}
	return ExitRuntime
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func usage(w io.Writer) {
	fmt.Fprint(w, "Sluice runs a route to live from one sluice.yaml: build once, deploy through environments\nwith change sets, approvals, progressive traffic shifting and automatic rollback.\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun sluice COMMAND -h for a command's flags. Exit codes: 0 succeeded, 1 failed/rejected/rolled back,\n2 bad usage or invalid file, 3 Sluice could not do it.\n")
}

func suggest(name string) string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if best := spec.Suggest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// flags is a command's flag set with the flags most commands share.
type flags struct {
	*flag.FlagSet
	file  *string
	state *string
	json  *bool
}

func newFlags(e *env, name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	f := &flags{FlagSet: fs}
	f.file = fs.String("f", "sluice.yaml", "the route `FILE`")
	f.state = fs.String("state", "", "the state `DIR` (default: $SLUICE_STATE, else .sluice beside the route file)")
	f.json = fs.Bool("json", false, "print JSON (a stable, documented format)")
	return f
}

// parse parses flags that may come before, between or after positional arguments, and checks
// the number of positional arguments.
func (f *flags) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) < minArgs {
		return nil, usagef("missing argument")
	}
	if len(positional) > maxArgs {
		return nil, usagef("unexpected argument %q", positional[maxArgs])
	}
	return positional, nil
}
