package cli

import (
	"bytes"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice"
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
	FormatVersion int               `json:"format_version"`
	Pipelines     []sluice.Pipeline `json:"pipelines"`
}

func cmdPipelines(e *env, f *flags) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		list, err := svc.Pipelines(e.ctx)
		if err != nil {
			return err
		}
		if list == nil {
			list = []sluice.Pipeline{}
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
		fmt.Fprintln(tw, "PIPELINE\tKIND\tFOLLOWS\tSTATE\tCREATED")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, p.Describe(), p.State, p.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
		tw.Flush()
		_, err = e.stdout.Write(buf.Bytes())
		return err
	})
}
