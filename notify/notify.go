// Package notify tells people what happened, by email, signed webhooks and Slack, from the
// stored events, and loses nothing and repeats nothing on the way.
//
// The map of the package, in the order an event goes through it:
//
//	notify.go   the Notifier: fills the outbox from the events with its cursor, sends what is due
//	rules.go    which channels an event goes to (sluice.yaml notifications.rules)
//	message.go  the event told for people: subject, facts, change set, last log lines, commands
//	render.go   a message as plain text and HTML
//	channel.go  the Sender contract, final and passing failures, the HTTP post the others share
//	email.go    SMTP with STARTTLS or TLS (SLUICE_SMTP_URL), through go-mail
//	webhook.go  the CloudEvents JSON, signed (Sluice-Signature), with its Verify
//	slack.go    Block Kit to an incoming webhook
//	backoff.go  when to try again, and when to give up
//	sample.go   sample events for sluice notify test
//
// Delivery: the Notifier reads the events after its cursor, puts one delivery per matching
// channel in the store's outbox and moves the cursor, in one transaction (store.Outbox). Then it
// sends what is due. A process killed at any point leaves either the events unread (read again)
// or the deliveries pending (sent again): every notice is sent, and put in the outbox once.
// A notice whose send was cut off after the receiver took it is sent again with the same
// idempotency key (the event ID), for the receiver to drop.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
	"github.com/sluicehq/sluice/store"
)

// Store is what the Notifier needs of the state: the events, the outbox and what messages read.
type Store interface {
	ListEvents(ctx context.Context, after int64, limit int) ([]sluice.Event, error)
	EventCursor(ctx context.Context, consumer string) (int64, error)
	store.Outbox
	Reader
}

// Consumer is the name of the Notifier's event cursor.
const Consumer = "notify"

// Defaults of Notifier.
const (
	// DefaultPoll is the longest a notice waits for its first attempt when nothing wakes the
	// Notifier, and how late a retry may be.
	DefaultPoll       = time.Second
	DefaultRetryFirst = 5 * time.Second
	DefaultRetryMax   = 10 * time.Minute
	// claimTTL bounds how long a notifier that died holds the deliveries it was sending.
	claimTTL = 2 * time.Minute
	// batch is how many events are read, and deliveries claimed, at once.
	batch = 64
)

// Notifier sends the notices the route's rules ask for. Create it with New.
type Notifier struct {
	store    Store
	rules    []spec.NotifyRule
	senders  map[string]Sender
	composer *Composer
	giveUp   time.Duration
	log      *slog.Logger
	owner    string

	// Poll is how often the outbox is looked at when nothing wakes the Notifier. If zero,
	// DefaultPoll.
	Poll time.Duration
	// RetryFirst and RetryMax bound the wait before another attempt (see Backoff). If zero,
	// DefaultRetryFirst and DefaultRetryMax.
	RetryFirst, RetryMax time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	wake    chan struct{}
	started atomic.Bool // Start has marked where reading begins
	mu      sync.Mutex  // one pass at a time
}

// Config is what New builds a Notifier from.
type Config struct {
	Route *spec.Route
	Store Store
	// Logs returns the output of one action of an execution (see Composer.Logs).
	Logs func(execution, stage, action string) ([]byte, error)
	// Env reads settings and secrets. If nil, os.LookupEnv.
	Env Env
	// Senders replaces the channels the route declares, by name (tests, sluice notify test).
	Senders map[string]Sender
	Logger  *slog.Logger
}

// New returns a Notifier for the route's notifications, or nil when the route has no rules.
func New(c Config) *Notifier {
	n := c.Route.Notifications
	if len(n.Rules) == 0 {
		return nil
	}
	env := c.Env
	if env == nil {
		env = os.LookupEnv
	}
	senders := c.Senders
	if senders == nil {
		senders = Senders(c.Route, env)
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	giveUp := n.GiveUpAfter
	if giveUp <= 0 {
		giveUp = spec.DefaultGiveUpAfter
	}
	envs := make([]string, 0, len(c.Route.Environments))
	for _, e := range c.Route.Environments {
		envs = append(envs, e.Name)
	}
	return &Notifier{
		store: c.Store, rules: n.Rules, senders: senders, giveUp: giveUp, log: logger,
		// One engine serves a state directory at a time; a stable owner lets the next one take
		// over the claims of one that was killed at once, rather than after claimTTL.
		owner:    "notify@" + host,
		composer: &Composer{Reader: c.Store, Logs: c.Logs, MainBranch: c.Route.Source.Branch, Environments: envs},
		wake:     make(chan struct{}, 1),
	}
}

// Senders returns a Sender for each channel the route declares, by name.
func Senders(rt *spec.Route, env Env) map[string]Sender {
	out := make(map[string]Sender, len(rt.Notifications.Channels))
	for _, c := range rt.Notifications.Channels {
		switch c.Kind() {
		case spec.ChannelEmail:
			out[c.Name] = &Email{Channel: c.Name, To: c.Email.To, From: c.Email.From, Env: env}
		case spec.ChannelWebhook:
			out[c.Name] = &Webhook{URL: c.Webhook.URL, SecretEnv: c.Webhook.SecretEnv, Env: env}
		case spec.ChannelSlack:
			out[c.Name] = &Slack{URLEnv: c.Slack.URLEnv, Env: env}
		}
	}
	return out
}

// Start marks where the Notifier begins reading the events: the first time ever, after the
// newest one (see store.Outbox.StartOutbox); afterwards, where it stopped. Call it before the
// engine starts, so no event of this run is taken for history.
func (n *Notifier) Start(ctx context.Context) error {
	if _, err := n.store.StartOutbox(ctx, Consumer); err != nil {
		return fmt.Errorf("start notifications: %w", err)
	}
	n.started.Store(true)
	return nil
}

// Wake makes Run look at the events now rather than at its next poll. It never blocks.
func (n *Notifier) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run fills and sends until ctx ends. Failures are logged and retried at the next poll: the
// state holds everything, so nothing is lost while they last.
func (n *Notifier) Run(ctx context.Context) {
	poll := n.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := n.Pass(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		}
	}
}

// Pass fills the outbox from the events not read yet and sends every delivery that is due, once.
func (n *Notifier) Pass(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fill(ctx); err != nil {
		return err
	}
	return n.send(ctx)
}

// Drain runs passes until no delivery is pending or ctx ends (a deadline the caller chose), and
// returns how many are left pending: the next engine on this state sends them.
func (n *Notifier) Drain(ctx context.Context) int {
	for {
		err := n.Pass(ctx)
		if pending, perr := n.pending(ctx); err == nil && perr == nil && pending == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			left, _ := n.pending(context.WithoutCancel(ctx))
			return left
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// fill reads the events after the cursor, page by page, and puts their deliveries in the
// outbox with the cursor's new place.
func (n *Notifier) fill(ctx context.Context) error {
	if !n.started.Load() {
		if err := n.Start(ctx); err != nil {
			return err
		}
	}
	after, err := n.store.EventCursor(ctx, Consumer)
	if err != nil {
		return err
	}
	for {
		evs, err := n.store.ListEvents(ctx, after, batch)
		if err != nil || len(evs) == 0 {
			return err
		}
		var ds []sluice.Delivery
		now := n.now().UTC()
		for _, ev := range evs {
			if !n.wanted(ev.Type) {
				continue // no rule names it: not worth reading what it is about
			}
			_, about := n.composer.Compose(ctx, ev)
			for _, ch := range Channels(n.rules, ev, about, n.composer.MainBranch) {
				ds = append(ds, sluice.Delivery{
					Channel: ch, EventID: ev.ID, EventSeq: ev.Seq, EventType: ev.Type, Subject: ev.Subject,
					NextAttempt: now, CreatedAt: now,
				})
			}
		}
		last := evs[len(evs)-1].Seq
		if err := n.store.FillOutbox(ctx, Consumer, last, ds); err != nil {
			return err
		}
		after = last
	}
}

// wanted reports whether any rule names events of type t, whatever they are about.
func (n *Notifier) wanted(t sluice.EventType) bool {
	for _, r := range n.rules {
		if slices.ContainsFunc(r.Events, t.Matches) {
			return true
		}
	}
	return false
}

// send claims the due deliveries and sends them.
func (n *Notifier) send(ctx context.Context) error {
	for {
		ds, err := n.store.ClaimDeliveries(ctx, n.owner, n.now().UTC(), claimTTL, batch)
		if err != nil || len(ds) == 0 {
			return err
		}
		// Each channel's notices go one after the other, in the order of their events, so a
		// channel reads "created" before "failed"; channels do not wait for each other.
		byChannel := map[string][]*sluice.Delivery{}
		for i := range ds {
			byChannel[ds[i].Channel] = append(byChannel[ds[i].Channel], &ds[i])
		}
		var wg sync.WaitGroup
		for _, queue := range byChannel {
			wg.Go(func() {
				for _, d := range queue {
					n.deliver(ctx, d)
				}
			})
		}
		wg.Wait()
		if len(ds) < batch || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// deliver makes one attempt at d and records its outcome.
func (n *Notifier) deliver(ctx context.Context, d *sluice.Delivery) {
	err := n.attempt(ctx, d)
	if err != nil && ctx.Err() != nil {
		// Stopping: the next engine on the state sends it; an attempt cut off by the stop is no
		// failure of the receiver. (One that succeeded is recorded, below.)
		return
	}
	now := n.now().UTC()
	d.Attempts++
	switch {
	case err == nil:
		d.Status, d.Error, d.DeliveredAt = sluice.DeliveryDelivered, "", now
	case IsPermanent(err):
		d.Status, d.Error, d.GaveUpAt = sluice.DeliveryFailed, err.Error(), now
	case now.Sub(d.CreatedAt) >= n.giveUp:
		d.Status, d.GaveUpAt = sluice.DeliveryFailed, now
		d.Error = fmt.Sprintf("gave up after %s and %d attempts (notifications.give_up_after): %v", n.giveUp, d.Attempts, err)
	default:
		d.Error = err.Error()
		d.NextAttempt = now.Add(Backoff(d.Attempts, n.RetryFirst, n.RetryMax, rand.Float64()))
	}
	if d.Status != sluice.DeliveryPending && err != nil {
		n.log.Warn("notification failed", "channel", d.Channel, "event", d.EventType, "id", d.EventID, "err", d.Error)
	}
	if serr := n.store.SaveDelivery(context.WithoutCancel(ctx), d); serr != nil {
		n.log.Warn("record notification", "channel", d.Channel, "id", d.EventID, "err", serr)
	}
}

func (n *Notifier) attempt(ctx context.Context, d *sluice.Delivery) error {
	sender, ok := n.senders[d.Channel]
	if !ok {
		return Permanent(fmt.Errorf("no channel is called %s in sluice.yaml any more", d.Channel))
	}
	evs, err := n.store.ListEvents(ctx, d.EventSeq-1, 1)
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].ID != d.EventID {
		return Permanent(fmt.Errorf("event %s is no longer in the store", d.EventID))
	}
	msg, _ := n.composer.Compose(ctx, evs[0])
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return sender.Send(sendCtx, Notice{Key: d.EventID, Event: evs[0], Message: msg, Attempt: d.Attempts + 1})
}

// pendingWindow is how many of the newest deliveries pending looks at: those of the run that
// is ending, and more.
const pendingWindow = 500

// pending counts the deliveries among the newest not done yet.
func (n *Notifier) pending(ctx context.Context) (int, error) {
	ds, err := n.store.ListDeliveries(ctx, pendingWindow)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, d := range ds {
		if !d.Status.Done() {
			count++
		}
	}
	return count, nil
}
