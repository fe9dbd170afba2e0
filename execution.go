package sluice

import "time"

// Execution is one run of a pipeline for one source revision.
type Execution struct {
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`      // assigned by the store; orders executions of a pipeline
	Pipeline string `json:"pipeline"` // the pipeline's ID, e.g. "hello-api@main" (see PipelineID)
	Revision string `json:"revision"` // full commit sha
	Subject  string `json:"subject,omitempty"`
	Status   Status `json:"status"`
	Artifact string `json:"artifact,omitempty"` // digest, once built
	Error    string `json:"error,omitempty"`    // why it did not succeed, as a sentence
	// Waiting says what the execution waits for when it cannot go on (a stage another execution
	// holds, a frozen environment), as a sentence that names the way out; empty when it does not
	// wait.
	Waiting string `json:"waiting,omitempty"`
	// Route is the sluice.yaml text the execution was started with; resumes use it, not the
	// file as it is now.
	Route     string    `json:"-"`
	RouteFile string    `json:"route_file,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// StageExecution is an execution's progress through one stage.
type StageExecution struct {
	ExecutionID string    `json:"execution_id"`
	Stage       string    `json:"stage"`
	Index       int       `json:"index"` // position in the plan
	Status      Status    `json:"status"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
}

// ActionExecution is an execution's run of one action.
type ActionExecution struct {
	ExecutionID string     `json:"execution_id"`
	Stage       string     `json:"stage"`
	Action      string     `json:"action"`
	Kind        ActionKind `json:"kind"`
	RunOrder    int        `json:"run_order"`
	Status      Status     `json:"status"`
	Attempt     int        `json:"attempt"` // how many times it was started
	StartedAt   time.Time  `json:"started_at,omitzero"`
	EndedAt     time.Time  `json:"ended_at,omitzero"`
	Error       string     `json:"error,omitempty"`
	Summary     string     `json:"summary,omitempty"` // one line for people: "reused artifact sha256:…"
	// Outputs are values the action published for later actions (KEY=VALUE lines written to
	// the file named by $SLUICE_OUTPUT).
	Outputs map[string]string `json:"outputs,omitempty"`
}

// Approval is a human decision bound to one change-set digest.
type Approval struct {
	ID              int64     `json:"id"`
	ExecutionID     string    `json:"execution_id"`
	Pipeline        string    `json:"pipeline"`
	Environment     string    `json:"environment"`
	ChangeSetDigest string    `json:"change_set_digest"`
	Approvers       []string  `json:"approvers,omitempty"`
	Status          Status    `json:"status"` // Waiting, then Succeeded (approved) or Rejected
	RequestedAt     time.Time `json:"requested_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	DecidedBy       string    `json:"decided_by,omitempty"`
	DecidedAt       time.Time `json:"decided_at,omitzero"`
	Comment         string    `json:"comment,omitempty"`
	Expired         bool      `json:"expired,omitempty"` // rejected because nobody decided in time
}

// Build records that a revision was built into an artifact, so it is built only once.
type Build struct {
	Pipeline  string    `json:"pipeline"`
	Revision  string    `json:"revision"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}
