package sluice

import "time"

// WebhookDelivery is a webhook delivery a git host made to Sluice and Sluice accepted (its signature
// was right and it was not a replay), as recorded. A host that redelivers sends the same ID,
// which is how a replay is told apart from a new event.
type WebhookDelivery struct {
	// Provider is the host's kind: "github", "gitlab" or "gitea".
	Provider string `json:"provider"`
	// ID is the host's delivery ID (X-GitHub-Delivery, GitLab's Idempotency-Key or
	// X-Gitlab-Event-UUID, X-Gitea-Delivery).
	ID string `json:"id"`
	// Event is the host's event name: push, create, delete, pull_request, Push Hook, ...
	Event string `json:"event"`
	// Pipeline is the pipeline the delivery acted on; empty if none.
	Pipeline string `json:"pipeline,omitempty"`
	// Outcome says what Sluice did with it, for people; empty until it has acted.
	Outcome    string    `json:"outcome,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}
