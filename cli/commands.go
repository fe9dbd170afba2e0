package cli

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// rootCommand is the command tree. Each command here only declares its usage, descriptions,
// flags and completion; its body is a cmdX function.
func rootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "a route to live from one sluice.yaml",
		Long: `Sluice runs a route to live from one sluice.yaml: build once, deploy through environments
with change sets, approvals, progressive traffic shifting and automatic rollback.

State lives in .sluice/ beside sluice.yaml unless --state DIR or $SLUICE_STATE says otherwise.
Exit codes: 0 succeeded, 1 failed/rejected/rolled back, 2 bad usage or invalid file,
3 Sluice could not do it.`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
	}
	root.RunE = e.run(func(args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q%s", args[0], suggestion(root, args[0]))
		}
		_ = root.Help()
		return exitError(ExitUsage)
	})
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("sluice {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.SetHelpCommand(helpCommand(e, root))
	root.AddCommand(
		validateCommand(e), planCommand(e), runCommand(e), upCommand(e),
		decideCommand(e, true), decideCommand(e, false),
		statusCommand(e), logsCommand(e), historyCommand(e), changeSetCommand(e),
		rollbackCommand(e), retryCommand(e), stopCommand(e),
		freezeCommand(e, true), freezeCommand(e, false),
		pipelinesCommand(e), notifyCommand(e), awsCommand(e), demoCommand(e), versionCommand(e),
		lintCommand(e),
	)
	return root
}

// helpCommand is `sluice help [COMMAND]`: a command's usage, description and flags; a command
// that does not exist is bad usage (exit 2), not the general help.
func helpCommand(e *env, root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:                   "help [COMMAND]",
		Short:                 "Show a command's usage, description and flags",
		DisableFlagsInUseLine: true,
		RunE: e.run(func(args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				typed := strings.Join(args, " ")
				return usagef("no command %q%s", typed, suggestion(root, typed))
			}
			return target.Help()
		}),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, c := range root.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name()+"\t"+c.Short)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// suggestion is " (did you mean X?)" for a mistyped command, or "".
func suggestion(root *cobra.Command, typed string) string {
	if s := root.SuggestionsFor(typed); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return ""
}

// Which shared flags a command takes.
const (
	flagFile = 1 << iota
	flagState
	flagJSON
	flagPipeline
)

// newCommand is a command with its usage line (use), a one-line and a longer description, and
// the shared flags it takes.
func newCommand(use, short, long string, shared int) (*cobra.Command, *flags) {
	c := &cobra.Command{Use: use, Short: short, Long: short + ".\n\n" + long, DisableFlagsInUseLine: true}
	f := &flags{file: new(string), state: new(string), json: new(bool), pipeline: new(string)}
	*f.file = "sluice.yaml"
	if shared&flagFile != 0 {
		c.Flags().StringVarP(f.file, "file", "f", "sluice.yaml", "the route `FILE`")
		_ = c.MarkFlagFilename("file", "yaml", "yml")
	}
	if shared&flagState != 0 {
		c.Flags().StringVar(f.state, "state", "", "the state `DIR` (default: $SLUICE_STATE, else .sluice beside the route file)")
		_ = c.MarkFlagDirname("state")
	}
	if shared&flagJSON != 0 {
		c.Flags().BoolVar(f.json, "json", false, "print JSON (a stable format, documented in docs/json.md)")
	}
	if shared&flagPipeline != 0 {
		c.Flags().StringVar(f.pipeline, "pipeline", "", "the pipeline: its `NAME` in sluice pipelines, its branch, or pr-N (default: the main pipeline)")
	}
	return c, f
}

// args checks the number of positional arguments; missing says what to name when too few.
func args(minArgs, maxArgs int, missing string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < minArgs {
			return usagef("missing argument: %s", missing)
		}
		if len(args) > maxArgs {
			return usagef("unexpected argument %q", args[maxArgs])
		}
		return nil
	}
}

// takesEnvironment makes ENV the one argument of c: completed from the route file, and refused
// when the route has no such environment, before body runs.
func takesEnvironment(e *env, c *cobra.Command, f *flags, body func(envName string) error) {
	c.Args = args(1, 1, "name the environment (ENV)")
	c.ValidArgsFunction = completeEnvironments(f)
	c.RunE = e.run(func(args []string) error {
		if err := knownEnvironment(e, f, args[0]); err != nil {
			return err
		}
		return body(args[0])
	})
}

// takesExecution makes EXECUTION the one argument of c: completed from the state, and resolved
// from a prefix to an execution ID before body runs.
func takesExecution(e *env, c *cobra.Command, f *flags, body func(id string) error) {
	c.Args = args(1, 1, "name the EXECUTION (sluice status lists them)")
	c.ValidArgsFunction = completeExecutions(e, f)
	c.RunE = e.run(func(args []string) error {
		id, err := resolveExecution(e, f, args[0])
		if err != nil {
			return err
		}
		return body(id)
	})
}

// completeEnvironments completes an ENV argument with the environments of the route file.
func completeEnvironments(f *flags) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return routeEnvironments(*f.file), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeExecutions completes an EXECUTION argument with the newest executions of the state,
// without creating a state where there is none.
func completeExecutions(e *env, f *flags) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		_ = withService(e, f, reads, func(svc service, _ bool) error {
			exs, err := svc.Executions(e.ctx, "", 20)
			for _, ex := range exs {
				out = append(out, fmt.Sprintf("%s\t%s %s", ex.ID, ex.Status, ex.Subject))
			}
			return err
		})
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

func validateCommand(e *env) *cobra.Command {
	c, f := newCommand("validate [-f FILE] [--json]", "Check a sluice.yaml and report every problem",
		"Every problem is reported at once as FILE:LINE:COL: error: PATH: message. Warnings do not fail it.\nExit 0 when the file is valid, 1 when it has errors.",
		flagFile|flagJSON)
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdValidate(e, f) })
	return c
}

func planCommand(e *env) *cobra.Command {
	c, f := newCommand("plan [-f FILE] [--json]", "Show the stage/action graph a route compiles to",
		"The plan is what every execution of the route runs: Source, Build, Checks, then one stage per\nenvironment with its change set, approval, deployment and tests.",
		flagFile|flagJSON)
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdPlan(e, f) })
	return c
}

// runFlags are the flags of sluice run.
type runFlags struct {
	rev                  string
	approve, keep, fresh bool
}

func runCommand(e *env) *cobra.Command {
	c, f := newCommand("run [-f FILE] [--rev REV] [--pipeline NAME] [--approve] [--json] [--keep] [--state DIR]", "Run one execution end to end",
		`Builds the revision once, runs its checks, and takes the artifact through every environment in
order, stopping at approvals. A revision runs once: an execution of it that had not ended is
resumed, one that ended is shown (--new runs it again). When another engine (a sluice up, or
another sluice run) serves the same state, the execution is handed to it and followed here; if
that engine stops first, this command takes the execution over.

With --pipeline, a new execution in that branch's or pull request's pipeline (of --rev, default
the head of its branch), deploying to its own environments.

Exit 0 when the execution succeeded; 1 when it failed, was rejected, rolled back or stopped.`,
		flagFile|flagState|flagJSON|flagPipeline)
	var o runFlags
	c.Flags().StringVar(&o.rev, "rev", "", "the `REV`ision to run (branch, tag or commit; default: head of source.branch)")
	c.Flags().BoolVar(&o.approve, "approve", false, "approve every approval gate without asking")
	c.Flags().BoolVar(&o.keep, "keep", false, "keep environments serving after the run, until interrupted")
	c.Flags().BoolVar(&o.fresh, "new", false, "start a new execution even if the revision has one already")
	c.Args = args(0, 0, "")
	c.Example = "  sluice run\n  sluice run --rev v1.2.0 --approve --json > result.json"
	c.RunE = e.run(func([]string) error { return cmdRun(e, f, o) })
	return c
}

// upFlags are the flags of sluice up.
type upFlags struct {
	listen        string
	webhookListen string
	noWatch       bool
	poll          time.Duration
	metrics       bool
}

func upCommand(e *env) *cobra.Command {
	c, f := newCommand("up [-f FILE] [--listen ADDR] [--webhook-listen ADDR] [--no-watch] [--poll DURATION] [--metrics=false] [--state DIR]",
		"Serve the engine: API, a run per new commit, environments kept serving",
		"Runs until interrupted. Other sluice commands on the same state talk to it through its API\n(address in STATE/api.json, token in STATE/token).",
		flagFile|flagState)
	var o upFlags
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:7373", "the API's `ADDR`ess")
	c.Flags().StringVar(&o.webhookListen, "webhook-listen", "", "also serve git hosts' webhooks (GitHub, GitLab, Gitea) on `ADDR`, and only them; the secret comes from SLUICE_WEBHOOK_SECRET")
	c.Flags().BoolVar(&o.noWatch, "no-watch", false, "do not poll the source repository's branches for new commits")
	c.Flags().DurationVar(&o.poll, "poll", 5*time.Second, "how often to look for new commits and expired pipelines")
	c.Flags().BoolVar(&o.metrics, "metrics", true, "serve /metrics (Prometheus text, no token) on the API's address; --metrics=false turns it off")
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdUp(e, f, o) })
	return c
}

// decideFlags are the flags of sluice approve and sluice reject.
type decideFlags struct {
	comment   string
	changeSet string
}

func decideCommand(e *env, approve bool) *cobra.Command {
	name, short := "reject", "Reject the change set waiting for approval in an environment"
	if approve {
		name, short = "approve", "Approve the change set waiting for approval in an environment"
	}
	c, f := newCommand(name+" ENV [--pipeline NAME] [--change-set DIGEST] [--comment TEXT] [--state DIR]", short,
		"The decision is recorded with who made it (SLUICE_USER, else the OS user) and the comment.\n"+
			"An approval binds the change set you reviewed: sluice changeset ENV shows it, and approve needs\n"+
			"its digest (or a prefix of at least 6 hex digits) in --change-set; if another change set is\n"+
			"waiting now, nothing is decided. An approval past its timeout counts as a rejection.",
		flagFile|flagState|flagJSON|flagPipeline)
	var o decideFlags
	c.Flags().StringVar(&o.comment, "comment", "", "a `TEXT` kept with the decision")
	c.Flags().StringVar(&o.changeSet, "change-set", "", "the `DIGEST` (or a prefix of it) of the change set you reviewed")
	takesEnvironment(e, c, f, func(envName string) error { return cmdDecide(e, f, approve, envName, o) })
	return c
}

func statusCommand(e *env) *cobra.Command {
	c, f := newCommand("status [--pipeline NAME] [--json] [--state DIR]", "Show executions, environments and pending approvals",
		"Reads the state; it never creates it. With --pipeline, that pipeline's executions and environments.", flagFile|flagState|flagJSON|flagPipeline)
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdStatus(e, f) })
	return c
}

func logsCommand(e *env) *cobra.Command {
	c, f := newCommand("logs EXECUTION [ACTION] [-f] [--state DIR] | logs --env ENV [-f]",
		"Show the output of an execution's actions, or of an environment's version",
		`EXECUTION is an execution ID or a unique prefix of one (sluice status lists them). ACTION
narrows it to one action (Build, or dev.integration).

Here -f means --follow, as in tail -f: keep printing until the execution ends (or, with --env,
until interrupted). Name the route file with --file FILE.`,
		flagState)
	o := &logsArgs{}
	c.Flags().StringVar(f.file, "file", "sluice.yaml", "the route `FILE` (its environments are the ones --env accepts)")
	c.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new output")
	c.Flags().StringVar(&o.env, "env", "", "show what `ENV`'s newest version printed, instead of an execution's actions")
	c.Args = args(0, 2, "name an EXECUTION (sluice status lists them), or --env ENV")
	c.ValidArgsFunction = completeExecutions(e, f)
	c.RunE = e.run(func(args []string) error {
		switch {
		case o.env != "" && len(args) > 0:
			return usagef("name an EXECUTION or --env ENV, not both")
		case o.env == "" && len(args) == 0:
			return usagef("missing argument: name an EXECUTION (sluice status lists them), or --env ENV")
		case len(args) > 0:
			id, err := resolveExecution(e, f, args[0])
			if err != nil {
				return err
			}
			o.id = id
		}
		if len(args) == 2 {
			o.action = args[1]
		}
		if o.env != "" {
			if err := knownEnvironment(e, f, o.env); err != nil {
				return err
			}
		}
		return cmdLogs(e, f, o)
	})
	return c
}

func historyCommand(e *env) *cobra.Command {
	c, f := newCommand("history ENV [--pipeline NAME] [--json] [--state DIR]", "List an environment's deployments and approval decisions",
		"Newest first, with why each rollback happened.", flagFile|flagState|flagJSON|flagPipeline)
	takesEnvironment(e, c, f, func(envName string) error { return cmdHistory(e, f, envName) })
	return c
}

func changeSetCommand(e *env) *cobra.Command {
	c, f := newCommand("changeset ENV [--json] [--state DIR]", "Show the change set waiting for approval in an environment",
		"The change set is the reviewed difference between what the environment runs and what it will run.",
		flagFile|flagState|flagJSON)
	takesEnvironment(e, c, f, func(envName string) error { return cmdChangeSet(e, f, envName) })
	return c
}

// rollbackFlags are the flags of sluice rollback.
type rollbackFlags struct {
	comment string
}

func rollbackCommand(e *env) *cobra.Command {
	c, f := newCommand("rollback ENV [--comment TEXT] [--json] [--state DIR]", "Put an environment's last good version back",
		"The rollback is recorded as a deployment with cause manual, who asked (SLUICE_USER, else the OS\nuser) and the comment.",
		flagFile|flagState|flagJSON)
	var o rollbackFlags
	c.Flags().StringVar(&o.comment, "comment", "", "why, kept with the rollback")
	takesEnvironment(e, c, f, func(envName string) error { return cmdRollback(e, f, envName, o) })
	return c
}

func retryCommand(e *env) *cobra.Command {
	c, f := newCommand("retry EXECUTION [--approve] [--json] [--state DIR]", "Re-run the failed stage of an execution",
		"EXECUTION is an execution ID or a unique prefix of one. The execution is followed to its end,\nas sluice run does.",
		flagFile|flagState|flagJSON)
	approve := c.Flags().Bool("approve", false, "approve every approval gate without asking")
	takesExecution(e, c, f, func(id string) error { return cmdRetry(e, f, id, *approve) })
	return c
}

func stopCommand(e *env) *cobra.Command {
	c, f := newCommand("stop EXECUTION [--state DIR]", "Stop an execution, killing its running actions",
		"EXECUTION is an execution ID or a unique prefix of one. The stop is recorded first, with or\n"+
			"without a running engine: a waiting approval is rejected, the stage it held is released, and\n"+
			"the engine driving it kills its running actions.", flagFile|flagState|flagJSON)
	takesExecution(e, c, f, func(id string) error { return cmdStop(e, f, id) })
	return c
}

// freezeFlags are the flags of sluice freeze and sluice unfreeze.
type freezeFlags struct {
	comment string
}

func freezeCommand(e *env, frozen bool) *cobra.Command {
	name, short, long := "unfreeze", "Let executions into an environment again", "Executions waiting before it continue."
	if frozen {
		name, short, long = "freeze", "Hold executions before an environment", "Executions wait before the environment until sluice unfreeze ENV; what it runs keeps serving."
	}
	c, f := newCommand(name+" ENV [--comment TEXT] [--state DIR]", short, long, flagFile|flagState)
	var o freezeFlags
	c.Flags().StringVar(&o.comment, "comment", "", "why, kept with the freeze")
	takesEnvironment(e, c, f, func(envName string) error { return cmdFreeze(e, f, frozen, envName, o) })
	return c
}

// demoFlags are the flags of sluice demo.
type demoFlags struct {
	approve, breakProd, keep bool
}

func demoCommand(e *env) *cobra.Command {
	c, f := newCommand("demo [--approve] [--break-prod] [--json] [--keep]", "Run the bundled example route end to end on this machine",
		"Extracts the example hello-api into a new git repository in a temporary folder and runs it:\ndev, then prod behind an approval, then a second release shifted under load.",
		flagJSON)
	var o demoFlags
	c.Flags().BoolVar(&o.approve, "approve", false, "approve the prod change set without asking")
	c.Flags().BoolVar(&o.breakProd, "break-prod", false, "after a good run, commit a change that breaks prod only, run again and watch the alarm roll it back")
	c.Flags().BoolVar(&o.keep, "keep", false, "keep the environments serving (and the demo folder) until interrupted")
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdDemo(e, f, o) })
	return c
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version and commit of this build", Args: args(0, 0, ""),
		RunE: e.run(func([]string) error { fmt.Fprintln(e.stdout, "sluice", versionString()); return nil }),
	}
}

// versionString is the version and the commit it was built from: from -ldflags -X when the
// build set them, else from what the Go toolchain recorded.
func versionString() string {
	version, commit, modified := Version, Commit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; Version == "0.1.0-dev" && v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit == "" {
		return version + " (commit unknown)"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if modified {
		commit += ", modified"
	}
	return fmt.Sprintf("%s (commit %s)", version, commit)
}
