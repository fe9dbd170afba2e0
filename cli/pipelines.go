package cli

import (
	"bytes"
	"cmp"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/engine"
)

func pipelinesCommand(e *env) *cobra.Command {
	c, f := newCommand("pipelines [--json] [--state DIR]", "List the pipelines of the route",
		"Each pipeline is the route bound to a source: its main branch (source.branch), another branch,\nor a pull request, with environments and history of its own.",
		flagFile|flagState|flagJSON)
	c.Args = args(0, 0, "")
	c.RunE = e.run(func([]string) error { return cmdPipelines(e, f) })
	return c
}

// pipelineList is the --json output of sluice pipelines.
type pipelineList struct {
	FormatVersion int                   `json:"format_version"`
	Pipelines     []engine.PipelineView `json:"pipelines"`
}

func cmdPipelines(e *env, f *flags) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		list, err := svc.Pipelines(e.ctx)
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, pipelineList{FormatVersion: 1, Pipelines: list})
			return nil
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "no pipelines yet; sluice run starts the route's main pipeline")
			return nil
		}
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PIPELINE\tKIND\tFOLLOWS\tSTATE\tLAST EXECUTION\tENVIRONMENTS\tCREATED")
		for _, p := range list {
			last := "-"
			if p.LastExecution != nil {
				last = p.LastExecution.ID + " " + strings.ToLower(string(p.LastExecution.Status))
			}
			var envs []string
			for _, env := range p.Environments {
				envs = append(envs, env.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, p.Describe(), p.State, last, cmp.Or(strings.Join(envs, ","), "-"), p.CreatedAt.Local().Format("2006-01-02 15:04"))
			if p.State.Removed() && p.RemovedBecause != "" {
				fmt.Fprintf(tw, "  removed: %s\t\t\t\t\t\t\n", p.RemovedBecause)
			}
		}
		tw.Flush()
		_, err = e.stdout.Write(buf.Bytes())
		return err
	})
}
