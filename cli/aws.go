package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// awsCommand is `sluice aws`, the commands of the aws target.
func awsCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "aws", Short: "Prepare AWS accounts for a route's aws environments",
		Long: "Prepare AWS accounts for a route's aws environments.\n\nSee docs/aws.md."}
	c.RunE = e.run(func(args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q; try: sluice aws bootstrap or sluice aws synth", args[0])
		}
		return usagef("missing command; try: sluice aws bootstrap or sluice aws synth")
	})
	c.AddCommand(awsBootstrapCommand(e), awsSynthCommand(e))
	return c
}

type bootstrapFlags struct {
	out, account, region, externalID string
	apply, yes                       bool
}

func awsBootstrapCommand(e *env) *cobra.Command {
	c, f := newCommand("bootstrap [-f FILE] --out DIR --tooling-account ID --region REGION [--external-id ID] [--apply [--yes]] [--json]",
		"Write the CloudFormation stacks that prepare a route's AWS accounts",
		`One template per stack, named so that their order is their file-name order: 01-tooling.yaml
for the tooling account (artifact key and bucket, notification topic, the engine's role), then
02-role-ACCOUNT-REGION.yaml for each account and region of the route's aws environments (the
deployment role Sluice assumes and the CloudFormation execution role), and a README.md saying
where each goes and the commands. Everything is least privilege and comes from the route.

With --apply, Sluice deploys them in that order itself, each through a change set that is
shown and confirmed (--yes confirms them all), with the credentials of the stack's account: the
SDK's default chain, or the profile SLUICE_AWS_PROFILE_<ACCOUNT> names.`,
		flagFile|flagJSON)
	bf := &bootstrapFlags{}
	c.Flags().StringVar(&bf.out, "out", "", "the `DIR` to write the templates to (required)")
	c.Flags().StringVar(&bf.account, "tooling-account", "", "the tooling account's `ID` (12 digits), where Sluice runs (required)")
	c.Flags().StringVar(&bf.region, "region", "", "the tooling account's `REGION` (required)")
	c.Flags().StringVar(&bf.externalID, "external-id", "", "the external `ID` the deployment roles ask of the engine (default sluice-NAME)")
	c.Flags().BoolVar(&bf.apply, "apply", false, "deploy the stacks in order, each through a change set shown and confirmed")
	c.Flags().BoolVar(&bf.yes, "yes", false, "with --apply, execute every change set without asking")
	_ = c.MarkFlagDirname("out")
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdAWSBootstrap(e, f, bf) })
	return c
}

// awsRoute checks the flags every sluice aws command needs and reads the route, printing its
// diagnostics.
func awsRoute(e *env, f *flags, bf *bootstrapFlags, command string) (*spec.Route, error) {
	for _, req := range []struct{ flag, value string }{{"--out", bf.out}, {"--tooling-account", bf.account}, {"--region", bf.region}} {
		if req.value == "" {
			return nil, usagef("missing %s; see sluice aws %s --help", req.flag, command)
		}
	}
	route, diags, err := load(*f.file)
	if err != nil {
		return nil, err
	}
	printDiagnostics(e.stderr, diags)
	if diags.HasErrors() {
		return nil, exitError(ExitUsage)
	}
	return route, nil
}

func cmdAWSBootstrap(e *env, f *flags, bf *bootstrapFlags) error {
	route, err := awsRoute(e, f, bf, "bootstrap")
	if err != nil {
		return err
	}
	var envs []aws.BootstrapEnvironment
	for _, env := range route.Environments {
		if t, ok := env.TargetConfig.(*aws.Target); ok {
			envs = append(envs, aws.BootstrapEnvironment{Name: env.Name, Target: t})
		}
	}
	files, err := aws.Bootstrap(aws.BootstrapOptions{Route: route.Name, ToolingAccount: bf.account, ToolingRegion: bf.region, ExternalID: bf.externalID}, envs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bf.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", bf.out, err)
	}
	type written struct {
		Path    string `json:"path"`
		Account string `json:"account,omitempty"`
		Region  string `json:"region,omitempty"`
		Stack   string `json:"stack,omitempty"`
	}
	var out []written
	for _, file := range files {
		path := filepath.Join(bf.out, file.Name)
		if err := os.WriteFile(path, file.Body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		out = append(out, written{Path: path, Account: file.Account, Region: file.Region, Stack: file.Stack})
	}
	if bf.apply {
		if err := applyBootstrap(e, files, bf.yes, *f.json); err != nil {
			return err
		}
	}
	if *f.json {
		writeJSON(e.stdout, map[string]any{"format_version": 1, "files": out, "applied": bf.apply})
		return nil
	}
	for _, w := range out {
		if w.Stack == "" {
			fmt.Fprintf(e.stdout, "wrote %s\n", w.Path)
			continue
		}
		fmt.Fprintf(e.stdout, "wrote %s: stack %s, account %s, %s\n", w.Path, w.Stack, w.Account, w.Region)
	}
	if bf.apply {
		fmt.Fprintf(e.stdout, "deployed them in that order\n")
		return nil
	}
	fmt.Fprintf(e.stdout, "deploy them in that order; %s says how, or run again with --apply\n", filepath.Join(bf.out, "README.md"))
	return nil
}

// applyBootstrap deploys the stacks in order, each through a change set shown on stderr and
// confirmed on stdin (or by --yes).
func applyBootstrap(e *env, files []aws.BootstrapFile, yes, quiet bool) error {
	if !yes && !isTerminal(e.stdin) {
		return usagef("--apply asks before executing each change set, and standard input is not a terminal; pass --yes to execute them all")
	}
	in := bufio.NewReader(e.stdin)
	for _, file := range files {
		if file.Stack == "" {
			continue
		}
		fmt.Fprintf(e.stderr, "== %s: stack %s in account %s, %s\n", file.Name, file.Stack, file.Account, file.Region)
		cfg, err := aws.AccountConfig(e.ctx, file.Account, file.Region, os.LookupEnv)
		if err != nil {
			return err
		}
		err = aws.StackApply{
			Config: cfg, Stack: file.Stack, Template: file.Body,
			Show: func(changes []sluice.Change) {
				for _, c := range changes {
					fmt.Fprintf(e.stderr, "  %s: %s -> %s\n", c.Field, orNone(c.From), c.To)
				}
			},
			Confirm: func() (bool, error) {
				if yes {
					return true, nil
				}
				fmt.Fprintf(e.stderr, "execute this change set of %s? [y/N] ", file.Stack)
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return false, fmt.Errorf("read the answer: %w", err)
				}
				answer := strings.ToLower(strings.TrimSpace(line))
				return answer == "y" || answer == "yes", nil
			},
			Log: func(format string, args ...any) {
				if !quiet {
					fmt.Fprintf(e.stderr, "  "+format+"\n", args...)
				}
			},
		}.Apply(e.ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", file.Name, err)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func awsSynthCommand(e *env) *cobra.Command {
	c, f := newCommand("synth [-f FILE] --out DIR --tooling-account ID --region REGION [--json]",
		"Write an AWS CodePipeline (V2) that runs the route without a Sluice server",
		`One CloudFormation template, DIR/pipeline.yaml, for the tooling account: a CodeConnections
source triggered by pushes to the route's branch, CodeBuild projects for the build, checks and
tests, and per aws environment a change set created and executed with the environment's
deployment role, a manual approval where the route asks for one, and the environment's
CloudWatch alarms as a stage condition that rolls back. What CodePipeline cannot express is
printed as a warning and listed in DIR/NOTES.txt. Deploy it after sluice aws bootstrap's stacks.`,
		flagFile|flagJSON)
	bf := &bootstrapFlags{}
	c.Flags().StringVar(&bf.out, "out", "", "the `DIR` to write the pipeline to (required)")
	c.Flags().StringVar(&bf.account, "tooling-account", "", "the tooling account's `ID` (12 digits), where the pipeline runs (required)")
	c.Flags().StringVar(&bf.region, "region", "", "the tooling account's `REGION` (required)")
	_ = c.MarkFlagDirname("out")
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdAWSSynth(e, f, bf) })
	return c
}

func cmdAWSSynth(e *env, f *flags, bf *bootstrapFlags) error {
	route, err := awsRoute(e, f, bf, "synth")
	if err != nil {
		return err
	}
	res, err := aws.Synth(plan.Compile(route), aws.SynthOptions{ToolingAccount: bf.account, ToolingRegion: bf.region, Pipelines: route.Pipelines})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bf.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", bf.out, err)
	}
	path := filepath.Join(bf.out, "pipeline.yaml")
	if err := os.WriteFile(path, res.Template, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	notes := filepath.Join(bf.out, "NOTES.txt")
	var text string
	for _, n := range res.Notes {
		text += "- " + n + "\n"
	}
	if err := os.WriteFile(notes, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", notes, err)
	}
	if *f.json {
		writeJSON(e.stdout, map[string]any{"format_version": 1, "template": path, "notes": res.Notes})
		return nil
	}
	for _, n := range res.Notes {
		fmt.Fprintf(e.stderr, "warning: %s\n", n)
	}
	fmt.Fprintf(e.stdout, "wrote %s: deploy it in account %s, %s, with the parameters it names (outputs of the tooling stack)\n", path, bf.account, bf.region)
	return nil
}
