package cli

import (
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// Summary is the `sluice run --json` output, a stable format documented in docs/json.md.
type Summary struct {
	FormatVersion int                      `json:"format_version"`
	Execution     string                   `json:"execution"`
	Pipeline      string                   `json:"pipeline"`
	Status        sluice.Status            `json:"status"`
	Revision      string                   `json:"revision"`
	Artifact      string                   `json:"artifact,omitempty"`
	Error         string                   `json:"error,omitempty"`
	StartedAt     time.Time                `json:"started_at,omitzero"`
	EndedAt       time.Time                `json:"ended_at,omitzero"`
	DurationMS    int64                    `json:"duration_ms"`
	Stages        []StageSummary           `json:"stages"`
	Environments  []engine.EnvironmentView `json:"environments"`
}

// StageSummary is a stage of a Summary with its actions.
type StageSummary struct {
	Name      string                   `json:"name"`
	Status    sluice.Status            `json:"status"`
	StartedAt time.Time                `json:"started_at,omitzero"`
	EndedAt   time.Time                `json:"ended_at,omitzero"`
	Actions   []sluice.ActionExecution `json:"actions"`
}

func summarize(s *engine.Snapshot) Summary {
	ex := s.Execution
	out := Summary{FormatVersion: 1, Execution: ex.ID, Pipeline: ex.Pipeline, Status: ex.Status, Revision: ex.Revision,
		Artifact: ex.Artifact, Error: ex.Error, StartedAt: ex.StartedAt, EndedAt: ex.EndedAt, Environments: s.Environments}
	if !ex.StartedAt.IsZero() && !ex.EndedAt.IsZero() {
		out.DurationMS = ex.EndedAt.Sub(ex.StartedAt).Milliseconds()
	}
	for _, st := range s.Stages {
		ss := StageSummary{Name: st.Stage, Status: st.Status, StartedAt: st.StartedAt, EndedAt: st.EndedAt, Actions: []sluice.ActionExecution{}}
		for _, a := range s.Actions {
			if a.Stage == st.Stage {
				ss.Actions = append(ss.Actions, a)
			}
		}
		out.Stages = append(out.Stages, ss)
	}
	for i := range out.Environments {
		out.Environments[i].Serving = nil // live traffic figures are for status, not the record of a run
	}
	return out
}
