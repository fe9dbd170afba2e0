package sluice

import "time"

// Delivery is one notice of one event to one channel: a row of the notification outbox. It is
// written, with the event cursor of the notifier, before anything is sent, so a notice that was
// due when the engine stopped is sent when it starts again. Channel and EventID together are
// unique: an event is never put in a channel's outbox twice.
type Delivery struct {
	ID        int64          `json:"id"`      // assigned by the store
	Channel   string         `json:"channel"` // the channel's name in sluice.yaml
	EventID   string         `json:"event_id"`
	EventSeq  int64          `json:"event_seq"`
	EventType EventType      `json:"event_type"`
	Subject   string         `json:"subject"` // the event's subject, such as env/prod
	Status    DeliveryStatus `json:"status"`
	// Attempts counts the sends tried so far.
	Attempts int `json:"attempts"`
	// NextAttempt is when the next send is due; zero once the delivery is Done.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Error is why the last attempt failed; empty once delivered.
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// GaveUpAt is when the notifier stopped trying (Status DeliveryFailed).
	GaveUpAt time.Time `json:"gave_up_at,omitzero"`
}

// DeliveryStatus is where a delivery is.
type DeliveryStatus string

// Every status of a delivery.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not sent yet, or failed and due again
	DeliveryDelivered DeliveryStatus = "delivered" // the channel accepted it
	DeliveryFailed    DeliveryStatus = "failed"    // the notifier gave up: a final refusal, or too long failing
)

// Done reports whether nothing more will be tried.
func (s DeliveryStatus) Done() bool { return s == DeliveryDelivered || s == DeliveryFailed }
