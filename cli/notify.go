package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/spec"
	"github.com/sluicehq/sluice/sqlite"
)

// drainTimeout bounds how long an engine that stops waits for the notices still due: what is
// left is sent by the next engine on the same state.
const drainTimeout = 10 * time.Second

// notifications is the notifier of an engine in this process, in its own goroutine.
type notifications struct {
	n      *notify.Notifier
	cancel context.CancelFunc
	done   sync.WaitGroup
	out    io.Writer
}

// startNotifications prepares the notifier of the route in routeFile, if it has rules: it
// marks where it starts reading the events, so call it before the engine starts.
func startNotifications(ctx context.Context, routeFile, dir string, db *sqlite.DB, out io.Writer, logger *slog.Logger) (*notifications, error) {
	route := parsedRoute(routeFile)
	if route == nil {
		return nil, nil
	}
	n := notify.New(notify.Config{Route: route, Store: db, Logs: actionLogs(dir), Logger: logger})
	if n == nil {
		return nil, nil
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	for _, p := range notify.Problems(notify.Senders(route, os.LookupEnv)) {
		fmt.Fprintf(out, "warning: notifications: %s\n", p)
	}
	return &notifications{n: n, out: out}, nil
}

// run sends notices until stop: never in the way of an execution, which only writes events.
// The engine's bus wakes the notifier when an event is stored, so a notice leaves at once
// rather than at the next poll; a wake the bus drops only waits for that poll.
func (ns *notifications) run(bus *engine.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	ns.cancel = cancel
	events, unsubscribe := bus.Subscribe()
	ns.done.Go(func() { ns.n.Run(ctx) })
	ns.done.Go(func() {
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Type.Stored() {
					ns.n.Wake()
				}
			}
		}
	})
}

// stop ends the notifier and gives the notices still due a short while to go out.
func (ns *notifications) stop() {
	if ns.cancel != nil {
		ns.cancel()
		ns.done.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if left := ns.n.Drain(ctx); left > 0 {
		fmt.Fprintf(ns.out, "%d notifications are not delivered yet (sluice notify log says why); the next sluice up or sluice run on this state sends them\n", left)
	}
}

// actionLogs reads an action's output from the state directory.
func actionLogs(dir string) func(execution, stage, action string) ([]byte, error) {
	return func(execution, stage, action string) ([]byte, error) {
		return os.ReadFile(filepath.Join(engine.LogDir(dir, execution), engine.LogName(stage, action)))
	}
}

func notifyCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "notify",
		Short: "Send sample notifications, and show what was delivered",
		Long: `Send sample notifications, and show what was delivered.

Notifications are set in sluice.yaml (notifications: channels and rules; docs/sluice-yaml.md).
sluice up, and sluice run while it runs, deliver them from the stored events.`,
		Args: cobra.NoArgs,
	}
	test, tf := newCommand("test [CHANNEL] [-f FILE]", "Send a sample of each message to every channel, or to CHANNEL",
		"The samples tell of made-up records (a failed test, an approval waiting, an alarm's rollback)\n"+
			"and their subjects start with [test]. Exit 1 if any channel failed.", flagFile)
	test.Args = args(0, 1, "")
	test.ValidArgsFunction = func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		var names []string
		if rt := parsedRoute(*tf.file); rt != nil {
			for _, ch := range rt.Notifications.Channels {
				names = append(names, ch.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	test.RunE = e.run(func(a []string) error { return cmdNotifyTest(e, tf, a) })
	log, lf := newCommand("log [-n N] [--json] [--state DIR]", "Show recent deliveries and failures, newest first",
		"Each delivery is one event to one channel: pending (due again at NEXT), delivered, or failed\n(refused, or still failing after notifications.give_up_after).", flagFile|flagState|flagJSON)
	limit := log.Flags().IntP("number", "n", 20, "show the newest `N` deliveries (0: all)")
	log.Args = args(0, 0, "")
	log.RunE = e.run(func([]string) error { return cmdNotifyLog(e, lf, *limit) })
	c.AddCommand(test, log)
	return c
}

func cmdNotifyTest(e *env, f *flags, args []string) error {
	route, diags, err := load(*f.file)
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		printDiagnostics(e.stderr, diags)
		return exitError(ExitUsage)
	}
	channels := route.Notifications.Channels
	if len(channels) == 0 {
		return sluice.Errorf(sluice.EINVALID, "%s declares no notification channels; add notifications: {channels: [...], rules: [...]} (docs/sluice-yaml.md)", *f.file)
	}
	names := make([]string, len(channels))
	for i, ch := range channels {
		names[i] = ch.Name
	}
	if len(args) == 1 {
		if !slices.Contains(names, args[0]) {
			return usagef("no channel is called %q in %s%s", args[0], *f.file, nameHint(args[0], names))
		}
		names = args[:1]
	}
	senders := notify.Senders(route, os.LookupEnv)
	samples := notify.Samples(route, time.Now())
	failed := 0
	for _, name := range names {
		for _, s := range samples {
			ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
			err := senders[name].Send(ctx, s)
			cancel()
			if err != nil {
				failed++
				fmt.Fprintf(e.stdout, "%s: %s: failed: %v\n", name, s.Event.Type, err)
				continue
			}
			fmt.Fprintf(e.stdout, "%s: %s: sent %q\n", name, s.Event.Type, s.Message.Subject)
		}
	}
	if failed > 0 {
		return exitError(ExitFailed)
	}
	return nil
}

func nameHint(typed string, names []string) string {
	if s := spec.Suggest(typed, names); s != "" {
		return fmt.Sprintf("; did you mean %s?", s)
	}
	return "; channels: " + strings.Join(names, ", ")
}

// deliveryLog is the --json output of sluice notify log (docs/json.md).
type deliveryLog struct {
	FormatVersion int               `json:"format_version"`
	Deliveries    []sluice.Delivery `json:"deliveries"`
}

func cmdNotifyLog(e *env, f *flags, limit int) error {
	if limit < 0 {
		return usagef("-n must be 0 (all) or more, got %d", limit)
	}
	var ds []sluice.Delivery
	err := withService(e, f, reads, func(svc service, _ bool) error {
		var err error
		ds, err = svc.Deliveries(e.ctx, limit)
		return err
	})
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []sluice.Delivery{}
	}
	if *f.json {
		writeJSON(e.stdout, deliveryLog{FormatVersion: 1, Deliveries: ds})
		return nil
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stdout, "no notifications yet; notifications: in sluice.yaml says which events go where")
		return nil
	}
	t := table{header: []string{"WHEN", "CHANNEL", "EVENT", "SUBJECT", "STATUS", "ATTEMPTS"}}
	for _, d := range ds {
		var notes []string
		status := string(d.Status)
		switch {
		case d.Status == sluice.DeliveryPending && !d.NextAttempt.IsZero():
			status += ", next " + d.NextAttempt.Local().Format("15:04:05")
		case d.Status == sluice.DeliveryDelivered:
			status += " " + d.DeliveredAt.Local().Format("15:04:05")
		}
		if d.Error != "" {
			notes = append(notes, "last error: "+d.Error)
		}
		t.add(notes, d.CreatedAt.Local().Format("2006-01-02 15:04:05"), d.Channel, strings.TrimPrefix(string(d.EventType), "sluice."), d.Subject, status, fmt.Sprint(d.Attempts))
	}
	t.print(e.stdout)
	return nil
}
