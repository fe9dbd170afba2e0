// Package store is the contract between the engine and where its state rests. Each interface is
// one concern, small enough to implement twice (SQLite always; Postgres for teams) against the
// same contract tests in storetest.
//
// Every record belongs to a pipeline (see sluice.Pipeline): executions, builds, approvals,
// deployments and environment states carry their pipeline's ID, and what is looked up by a
// name (an environment, a revision) is looked up within one pipeline, so two pipelines of one
// route with the same environment names never see each other's state. Change sets are shared
// by digest, as artifacts are.
//
// Every method that changes state takes the events that describe the change and writes both in
// one transaction: state and its history never disagree. All methods are safe to call
// concurrently. A missing record is a *sluice.Error with code sluice.ENOTFOUND.
package store

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// Executions keeps executions, their stages and their actions.
type Executions interface {
	// CreateExecution stores a new execution with its stages and actions (all Pending) and assigns
	// ex.Seq. Not idempotent: the ID must be new (ECONFLICT otherwise).
	CreateExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) error
	// CreateFirstExecution stores ex like CreateExecution unless its pipeline already has an
	// execution of ex.Revision: then it stores nothing and returns that execution (the newest of
	// them) with a nil error. Checking and storing are one transaction, so of two callers that
	// start the same revision at once, one starts it and the other gets the first one's execution.
	CreateFirstExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) (existing *sluice.Execution, err error)
	// SaveExecution overwrites the execution's mutable fields (status, artifact, error, waiting,
	// times).
	//
	// A stop stands: SaveExecution of a Stopped execution with another status, and SaveStage or
	// SaveAction making a stage or an action of it active (Pending, InProgress, Waiting), fail
	// with ECONFLICT and change nothing; so a driver that has not noticed a stop yet cannot undo
	// it. Only RetryExecution reopens a stopped execution.
	SaveExecution(ctx context.Context, ex *sluice.Execution, events ...sluice.Event) error
	// SaveStage overwrites one stage's status and times.
	SaveStage(ctx context.Context, st *sluice.StageExecution, events ...sluice.Event) error
	// SaveAction overwrites one action's mutable fields.
	SaveAction(ctx context.Context, a *sluice.ActionExecution, events ...sluice.Event) error
	// RetryExecution saves an execution and the stages and actions a retry resets, in one
	// transaction, whatever the execution's status was.
	RetryExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) error
	// Execution returns one execution.
	Execution(ctx context.Context, id string) (*sluice.Execution, error)
	// Stages returns an execution's stages in plan order.
	Stages(ctx context.Context, executionID string) ([]sluice.StageExecution, error)
	// Actions returns an execution's actions in plan order (stage index, run order, then as created).
	Actions(ctx context.Context, executionID string) ([]sluice.ActionExecution, error)
	// ListExecutions returns the executions of one pipeline (of every pipeline if pipeline is
	// ""), newest first; with active only those whose status is not Done. limit <= 0 means all.
	ListExecutions(ctx context.Context, pipeline string, active bool, limit int) ([]sluice.Execution, error)
	// StopExecution records, in one transaction, that an execution was stopped: it becomes
	// Stopped with reason as its error, its running stage and its running or waiting actions
	// become Stopped, its waiting approvals are rejected (decided by who), and the stage leases
	// it holds are released. It returns the execution as stored. ECONFLICT if it had already
	// ended; ENOTFOUND if there is no such execution. Whoever drives the execution notices on
	// its next look at the store (see Leases.RenewLease) and stops acting.
	StopExecution(ctx context.Context, id, who, reason string, at time.Time, events ...sluice.Event) (*sluice.Execution, error)
}

// Builds remembers which revision was built into which artifact, in each pipeline.
type Builds interface {
	// SaveBuild records a build of b.Pipeline. Idempotent: saving the same pipeline and revision
	// again replaces it.
	SaveBuild(ctx context.Context, b *sluice.Build, events ...sluice.Event) error
	// Build returns the build of a revision in a pipeline.
	Build(ctx context.Context, pipeline, revision string) (*sluice.Build, error)
}

// Approvals keeps approval requests and decisions.
type Approvals interface {
	// CreateApproval stores a Waiting approval of a.Pipeline and assigns a.ID. events, if not
	// nil, builds the events stored in the same transaction, from a once its ID is assigned (the
	// request's event carries it); the store sets the Seq of the events in the slice it returned.
	CreateApproval(ctx context.Context, a *sluice.Approval, events func(*sluice.Approval) []sluice.Event) error
	// DecideApproval records a decision on a Waiting approval: a.Status, DecidedBy, DecidedAt,
	// Comment, Expired. It fails with ECONFLICT if the approval is no longer Waiting, so two
	// people deciding at once cannot both win.
	DecideApproval(ctx context.Context, a *sluice.Approval, events ...sluice.Event) error
	// Approval returns one approval by ID.
	Approval(ctx context.Context, id int64) (*sluice.Approval, error)
	// ListApprovals returns a pipeline's approvals, newest first, of one environment (all if env
	// is ""); with waiting only those still Waiting.
	ListApprovals(ctx context.Context, pipeline, env string, waiting bool) ([]sluice.Approval, error)
}

// ChangeSets keeps change sets by digest.
type ChangeSets interface {
	// SaveChangeSet stores a change set. Idempotent by digest.
	SaveChangeSet(ctx context.Context, cs *sluice.ChangeSet, events ...sluice.Event) error
	// ChangeSet returns a change set by digest.
	ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error)
}

// Deployments keeps deployments and the state of environments, each of one pipeline.
type Deployments interface {
	// StartDeployment stores a new deployment (assigning d.ID) and the environment's state, with
	// state.DeploymentID set to d.ID, in one transaction: a deployment is never recorded without
	// its environment knowing, nor the other way round. d and state must be of the same pipeline
	// and environment (EINVALID otherwise). events, if not nil, builds the events stored in the
	// same transaction, from d once its ID is assigned (the start's event carries it); the store
	// sets the Seq of the events in the slice it returned.
	StartDeployment(ctx context.Context, d *sluice.Deployment, state *sluice.EnvironmentState, events func(*sluice.Deployment) []sluice.Event) error
	// EndDeployment saves how a deployment ended and the environment's state (what runs now) in
	// one transaction: a deployment is never Succeeded without its version live.
	EndDeployment(ctx context.Context, d *sluice.Deployment, state *sluice.EnvironmentState, events ...sluice.Event) error
	// CreateDeployment stores a deployment and assigns d.ID.
	CreateDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error
	// SaveDeployment overwrites a deployment's mutable fields (status, reason, ended, rollback).
	SaveDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error
	// ListDeployments returns the deployments of a pipeline's environment, newest first; limit
	// <= 0 means all.
	ListDeployments(ctx context.Context, pipeline, env string, limit int) ([]sluice.Deployment, error)
	// Environment returns the state of a pipeline's environment; ENOTFOUND if it never had any.
	Environment(ctx context.Context, pipeline, name string) (*sluice.EnvironmentState, error)
	// SaveEnvironment creates or overwrites the state of s.Pipeline's environment s.Name.
	SaveEnvironment(ctx context.Context, s *sluice.EnvironmentState, events ...sluice.Event) error
	// ListEnvironments returns the state of every environment of a pipeline, by name.
	ListEnvironments(ctx context.Context, pipeline string) ([]sluice.EnvironmentState, error)
}

// Pipelines keeps the pipelines of routes: what each follows and whether it still runs.
type Pipelines interface {
	// SavePipeline creates p, or overwrites its state, removal time and reason, and expiry (a
	// pipeline's route, kind, branch, pull request and creation time never change). Idempotent.
	SavePipeline(ctx context.Context, p *sluice.Pipeline, events ...sluice.Event) error
	// Pipeline returns one pipeline by ID.
	Pipeline(ctx context.Context, id string) (*sluice.Pipeline, error)
	// ListPipelines returns every pipeline: main pipelines first, then by ID.
	ListPipelines(ctx context.Context) ([]sluice.Pipeline, error)
}

// WebhookDeliveries keeps the webhook deliveries Sluice accepted, so that one made again is refused.
type WebhookDeliveries interface {
	// RecordWebhookDelivery stores an accepted delivery. Checking and storing are one transaction:
	// a delivery whose provider and ID are stored already is refused with ECONFLICT and
	// nothing changes, so of two copies of one delivery arriving at once only one is acted on.
	RecordWebhookDelivery(ctx context.Context, d *sluice.WebhookDelivery, events ...sluice.Event) error
	// SaveWebhookOutcome records d.Pipeline and d.Outcome for a recorded delivery; ENOTFOUND
	// if it is not recorded.
	SaveWebhookOutcome(ctx context.Context, d *sluice.WebhookDelivery) error
	// ListWebhookDeliveries returns the recorded deliveries, newest first; limit <= 0 means all.
	ListWebhookDeliveries(ctx context.Context, limit int) ([]sluice.WebhookDelivery, error)
}

// Events reads the history of state changes.
type Events interface {
	// AppendEvents stores events that go with no other change.
	AppendEvents(ctx context.Context, events ...sluice.Event) error
	// ListEvents returns events with Seq > after, oldest first, at most limit (<= 0: all). It is
	// how consumers tail the events: read a page after the cursor, handle it, save the Seq of
	// the last event handled (EventCursors), repeat. A store must never let an event with a
	// smaller Seq become visible after one with a larger Seq was listed, or a tailing consumer
	// would skip it.
	ListEvents(ctx context.Context, after int64, limit int) ([]sluice.Event, error)
}

// EventCursors keeps, for each consumer of the events (a notifier, a UI), the Seq of the last
// event it handled, so that a consumer that restarts goes on after it: nothing is lost when no
// one listens, and nothing is handled twice.
type EventCursors interface {
	// EventCursor returns the Seq of the last event consumer handled; 0 (read from the start)
	// if it never saved one. consumer names the consumer, such as "notify/slack".
	EventCursor(ctx context.Context, consumer string) (int64, error)
	// SaveEventCursor records that consumer handled every event up to seq. Saving the same seq
	// again does nothing; saving a seq below the saved one fails with ECONFLICT (two copies of
	// one consumer run, and the older one would make the other repeat events). Safe to call
	// concurrently for different consumers.
	SaveEventCursor(ctx context.Context, consumer string, seq int64) error
}

// Outbox keeps the notices to send: one delivery per event and channel, filled from the stored
// events with the notifier's cursor and sent from here, so a notice survives the engine being
// killed at any moment and is never put in twice.
type Outbox interface {
	// StartOutbox returns consumer's event cursor. The first time it is asked about a consumer
	// that never saved one, it saves the Seq of the newest event and returns it: notifications
	// added to a state with a history tell of what happens from then on, not of all that
	// happened before. Idempotent after that first call.
	StartOutbox(ctx context.Context, consumer string) (int64, error)
	// FillOutbox stores deliveries (each Pending, due at its NextAttempt; it assigns ID) and
	// saves consumer's event cursor at seq, in one transaction. A delivery whose channel and
	// event ID are in the outbox already is left as it is, so filling the same events twice adds
	// nothing. A seq below the saved cursor fails with ECONFLICT and stores nothing, as
	// EventCursors.SaveEventCursor does.
	FillOutbox(ctx context.Context, consumer string, seq int64, deliveries []sluice.Delivery) error
	// ClaimDeliveries returns up to limit Pending deliveries due at now (NextAttempt <= now) that
	// no other owner holds a claim on, oldest first, and claims them for owner until now+ttl,
	// in one transaction: two senders never get the same delivery while a claim stands.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, ttl time.Duration, limit int) ([]sluice.Delivery, error)
	// SaveDelivery records the outcome of an attempt: d's Status, Attempts, NextAttempt, Error,
	// DeliveredAt and GaveUpAt; and ends any claim on it. ENOTFOUND if there is no delivery
	// d.ID.
	SaveDelivery(ctx context.Context, d *sluice.Delivery) error
	// ListDeliveries returns deliveries newest first (by ID), at most limit (<= 0: all).
	ListDeliveries(ctx context.Context, limit int) ([]sluice.Delivery, error)
}

// Leases gives things to one owner at a time, for a while: an execution to the engine that
// drives it, a stage to the execution inside it, an environment to the engine deploying to it
// (see sluice.Lease for keys). Owners renew what they hold while they work; what is not renewed
// expires, and then anyone may take it. This is what lets several engines share one store.
// Times are the caller's clock (engines sharing a store must keep their clocks close).
type Leases interface {
	// AcquireLease gives key to owner until now+ttl when it is free, expired, already owner's
	// (then it is renewed), or held by replace (a non-empty owner the caller knows is gone, such
	// as an engine that was killed). Otherwise it fails with ECONFLICT and returns the lease that
	// stands.
	AcquireLease(ctx context.Context, key, owner, replace string, now time.Time, ttl time.Duration) (*sluice.Lease, error)
	// RenewLease extends owner's lease on key to now+ttl. ECONFLICT if owner no longer holds it
	// (released, or expired and taken by another); an expired lease nobody took is renewed.
	RenewLease(ctx context.Context, key, owner string, now time.Time, ttl time.Duration) error
	// ReleaseLease gives key up if owner holds it; otherwise it does nothing. Idempotent.
	ReleaseLease(ctx context.Context, key, owner string) error
	// Lease returns the lease on key, expired or not; ENOTFOUND if nobody holds it.
	Lease(ctx context.Context, key string) (*sluice.Lease, error)
}

// Store is everything the engine keeps.
type Store interface {
	Pipelines
	Executions
	Builds
	Approvals
	ChangeSets
	Deployments
	Events
	EventCursors
	Outbox
	Leases
	WebhookDeliveries
	Close() error
}
