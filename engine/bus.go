package engine

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/sluicehq/sluice"
)

// Bus publishes events, after they are stored, to in-process subscribers that want them at
// once (a live view). Traffic progress of a deployment (sluice.EventDeploymentProgress) is
// published without being stored: it changes many times a second and the deployment records
// the outcome. A slow subscriber loses events rather than slowing the engine, so a consumer
// that must not miss one (a notifier) tails the store instead, with a cursor of its own
// (store.Events.ListEvents, store.EventCursors).
type Bus struct {
	mu   sync.Mutex
	subs map[chan sluice.Event]struct{}
}

func newBus() *Bus { return &Bus{subs: map[chan sluice.Event]struct{}{}} }

// Subscribe returns a channel of events and a function that ends the subscription.
func (b *Bus) Subscribe() (<-chan sluice.Event, func()) {
	ch := make(chan sluice.Event, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

func (b *Bus) publish(events ...sluice.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		for ch := range b.subs {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
