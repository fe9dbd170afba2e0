package cli

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/sqlite"
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
	FormatVersion int            `json:"format_version"`
	Pipelines     []pipelineView `json:"pipelines"`
}

// pipelineView is one pipeline with its last execution and its environments.
type pipelineView struct {
	sluice.Pipeline
	LastExecution *lastExecution `json:"last_execution,omitempty"`
	Environments  []pipelineEnv  `json:"environments"`
}

type lastExecution struct {
	ID       string        `json:"id"`
	Status   sluice.Status `json:"status"`
	Revision string        `json:"revision"`
}

// pipelineEnv is an environment of a pipeline: where it serves (served, for a removed
// pipeline) and the revision live there.
type pipelineEnv struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Live    string `json:"live,omitempty"`
}

// viewPipelines adds each pipeline's last execution and environments.
func viewPipelines(ctx context.Context, db *sqlite.DB, list []sluice.Pipeline) ([]pipelineView, error) {
	out := make([]pipelineView, 0, len(list))
	for _, p := range list {
		v := pipelineView{Pipeline: p, Environments: []pipelineEnv{}}
		exs, err := db.ListExecutions(ctx, p.ID, false, 1)
		if err != nil {
			return nil, err
		}
		if len(exs) > 0 {
			v.LastExecution = &lastExecution{ID: exs[0].ID, Status: exs[0].Status, Revision: exs[0].Revision}
		}
		envs, err := db.ListEnvironments(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, env := range envs {
			e := pipelineEnv{Name: env.Name, Address: env.Address}
			if env.Live != nil {
				e.Live = env.Live.Revision
			}
			v.Environments = append(v.Environments, e)
		}
		out = append(out, v)
	}
	return out, nil
}

func cmdPipelines(e *env, f *flags) error {
	return withState(f, func(dir string, db *sqlite.DB) error {
		stored, err := db.ListPipelines(e.ctx)
		if err != nil {
			return err
		}
		list, err := viewPipelines(e.ctx, db, stored)
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

// mainPipeline is the ID of the main pipeline of the route in f's file, for commands that read
// the store without an engine. When the file cannot be read, it is the active main pipeline the
// store knows of, if there is one.
func mainPipeline(ctx context.Context, f *flags, db interface {
	ListPipelines(context.Context) ([]sluice.Pipeline, error)
}) string {
	if route := parsedRoute(*f.file); route != nil {
		return engine.MainPipeline(route).ID
	}
	return engine.StoredMainPipeline(ctx, db)
}
