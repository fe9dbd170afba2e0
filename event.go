package sluice

import (
	"encoding/json"
	"time"
)

// Event is a state change, as a CloudEvents 1.0 JSON event.
// Types are "sluice.<thing>.<what>", e.g. sluice.action.succeeded, sluice.deployment.rolled_back.
type Event struct {
	Seq             int64           `json:"-"` // assigned by the store; orders events
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`  // "sluice"
	Type            string          `json:"type"`    // sluice.action.succeeded
	Subject         string          `json:"subject"` // "<execution>/<stage>/<action>", "env/<name>" …
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data,omitempty"`
}
