package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/smtptest"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/spec"
)

// hookRoute is a route whose events of type events go to the webhook channel ops at url,
// signed with $HOOK_SECRET; extra is a further line of notifications, if any.
func hookRoute(t *testing.T, url, events, extra string) *spec.Route {
	t.Helper()
	if extra != "" {
		extra = "  " + extra + "\n"
	}
	return route(t, extra+`  channels:
    - name: ops
      webhook: {url: "`+url+`", secret_env: HOOK_SECRET}
  rules:
    - events: [`+events+`]
      channels: [ops]
`)
}

// drain runs the notifier until nothing is pending, failing the test if that takes a minute.
func drain(t *testing.T, n *notify.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if left := n.Drain(ctx); left != 0 {
		t.Fatalf("%d deliveries still pending after a minute", left)
	}
}

func fastRetries(n *notify.Notifier) *notify.Notifier {
	n.RetryFirst, n.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	return n
}

// TestEmailTellsOfARollbackOverSTARTTLS sends a rollback to a real SMTP server on loopback that
// takes mail only over STARTTLS with a password, and reads the message as a person would.
func TestEmailTellsOfARollbackOverSTARTTLS(t *testing.T) {
	srv := smtptest.Start(t, "sluice", "s3cret")
	sendRollback(t, srv, "smtp://sluice:s3cret@127.0.0.1:"+srv.Port())
}

// TestEmailOverTLS is the same through a server that speaks TLS from the first byte (smtps://).
func TestEmailOverTLS(t *testing.T) {
	srv := smtptest.StartTLS(t, "sluice", "s3cret")
	sendRollback(t, srv, "smtps://sluice:s3cret@127.0.0.1:"+srv.Port())
}

func sendRollback(t *testing.T, srv *smtptest.Server, smtpURL string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CertPEM)
	db := openStore(t)
	rt := route(t, `
  channels:
    - name: team
      email: {to: [team@example.com], from: sluice@example.com}
  rules:
    - events: [deployment.rolled_back]
      channels: [team]
`)
	h := newHistory(t, db)
	vars := env(map[string]string{notify.SMTPURLEnv: smtpURL})
	senders := notify.Senders(rt, vars)
	senders["team"].(*notify.Email).TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	n := notify.New(notify.Config{Route: rt, Store: db, Logs: h.logs, Env: vars, Senders: senders})
	must(t, n.Start(t.Context()))
	ex := h.execution(t, "ex-1")
	h.approveAndRollBack(t, ex)
	drain(t, n)

	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server took %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.AuthUser != "sluice" {
		t.Errorf("message sent with TLS=%v as %q; want TLS and AUTH as sluice", m.TLS, m.AuthUser)
	}
	if m.From != "sluice@example.com" || len(m.To) != 1 || m.To[0] != "team@example.com" {
		t.Errorf("envelope from %s to %v", m.From, m.To)
	}
	p, err := m.Parse()
	must(t, err)
	const subject = "hello-api: prod rolled back — alarm api-errors error_rate 0.31 > 0.05"
	if got, _ := decodeHeader(p.Header.Get("Subject")); got != subject {
		t.Errorf("subject %q, want %q", got, subject)
	}
	evs, err := db.ListEvents(t.Context(), 0, 0)
	must(t, err)
	var rolledBack sluice.Event
	for _, ev := range evs {
		if ev.Type == sluice.EventDeploymentRolledBack {
			rolledBack = ev
		}
	}
	if id := p.Header.Get("Message-Id"); !strings.Contains(id, rolledBack.ID) {
		t.Errorf("Message-ID %q does not carry the event ID %s", id, rolledBack.ID)
	}
	for _, want := range []string{subject, "Approved by:", "alice", "1a2b3c4 Add the health check", "Traffic restored in:", "1.2s", "sluice history prod"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("plain text lacks %q:\n%s", want, p.Text)
		}
	}
	for _, want := range []string{"<h2", "alice", "sluice history prod", "&gt; 0.05"} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.HTML)
		}
	}
}

func decodeHeader(s string) (string, error) {
	return new(mimeDecoder).DecodeHeader(s)
}

// TestEmailNeedsItsServer: an email channel without a usable SLUICE_SMTP_URL says what to set.
func TestEmailNeedsItsServer(t *testing.T) {
	rt := route(t, `
  channels:
    - name: team
      email: {to: [team@example.com]}
  rules:
    - events: ["*"]
      channels: [team]
`)
	tests := []struct {
		name, url, want string
		final           bool
	}{
		// Unset waits for an engine started with it set; a wrong URL cannot be tried again.
		{"unset", "", "SLUICE_SMTP_URL is not set", false},
		{"scheme", "http://mail.example.com", `scheme "http"`, true},
		{"clear password", "smtp://u:p@127.0.0.1:25?tls=none", "in clear text", true},
		{"tls mode", "smtp://127.0.0.1:25?tls=maybe", "tls=maybe", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			if tt.url != "" {
				vars[notify.SMTPURLEnv] = tt.url
			}
			s := notify.Senders(rt, env(vars))["team"]
			err := s.Send(t.Context(), notify.Samples(rt, now)[0])
			if err == nil || !strings.Contains(err.Error(), tt.want) || notify.IsPermanent(err) != tt.final {
				t.Errorf("Send = %v (final %v); want an error saying %q, final %v", err, notify.IsPermanent(err), tt.want, tt.final)
			}
			problems := notify.Problems(map[string]notify.Sender{"team": s})
			switch {
			case !tt.final && len(problems) != 0:
				t.Errorf("Problems = %q; an unset variable is the route's warning to give", problems)
			case tt.final && (len(problems) != 1 || !strings.Contains(problems[0], "channel team cannot send: ") || !strings.Contains(problems[0], tt.want)):
				t.Errorf("Problems = %q, want one naming channel team and %q", problems, tt.want)
			}
		})
	}
}

// TestWebhookSignedOnceAfterTheReceiverComesBack: the receiver is down (503) for its first three
// requests; the notice arrives once it is back, every attempt signed and keyed by the event ID.
func TestWebhookSignedOnceAfterTheReceiverComesBack(t *testing.T) {
	recv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	db := openStore(t)
	rt := hookRoute(t, recv.URL+"/hooks/sluice", "execution.failed", "")
	h := newHistory(t, db)
	n := fastRetries(notify.New(notify.Config{Route: rt, Store: db, Logs: h.logs, Env: env(map[string]string{"HOOK_SECRET": "k3y"})}))
	must(t, n.Start(t.Context()))
	ex := h.execution(t, "ex-1")
	h.failTest(t, ex, "ok\nFAIL\n")
	drain(t, n)

	got := recv.got()
	if len(got) != 4 || len(recv.accepted()) != 1 {
		t.Fatalf("receiver got %d requests (%d accepted), want 4 with the last accepted", len(got), len(recv.accepted()))
	}
	var ce struct {
		SpecVersion, ID, Type, Subject string
		Data                           sluice.ExecutionEvent
	}
	decode(t, got[0].body, &ce)
	if ce.SpecVersion != "1.0" || ce.Type != string(sluice.EventExecutionFailed) || ce.Data.Execution != "ex-1" {
		t.Errorf("body is not the execution.failed CloudEvent: %s", got[0].body)
	}
	for i, q := range got {
		if ct := q.header.Get("Content-Type"); ct != notify.CloudEventsType {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		if key := q.header.Get(notify.DeliveryHeader); key != ce.ID {
			t.Errorf("request %d: %s %q, want the event ID %s", i, notify.DeliveryHeader, key, ce.ID)
		}
		if err := notify.Verify([]byte("k3y"), q.header.Get(notify.SignatureHeader), q.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
		if err := notify.Verify([]byte("other"), q.header.Get(notify.SignatureHeader), q.body, time.Now(), 5*time.Minute); err == nil {
			t.Errorf("request %d verifies with the wrong secret", i)
		}
	}
	ds, err := db.ListDeliveries(t.Context(), 0)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != sluice.DeliveryDelivered || ds[0].Attempts != 4 || ds[0].EventID != ce.ID {
		t.Errorf("outbox %+v; want one delivery, delivered on its fourth attempt", ds)
	}
	// Another pass, as a restarted engine would run, sends nothing again.
	must(t, n.Pass(t.Context()))
	if len(recv.got()) != 4 {
		t.Errorf("a later pass sent again: %d requests", len(recv.got()))
	}
}

// TestVerifyRefusesTamperingAndReplays holds the receiver's check to what the header promises.
func TestVerifyRefusesTamperingAndReplays(t *testing.T) {
	secret, body := []byte("k3y"), []byte(`{"id":"1"}`)
	sig := notify.Sign(secret, now, body)
	if err := notify.Verify(secret, sig, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a fresh signature: %v", err)
	}
	if err := notify.Verify(secret, sig, []byte(`{"id":"2"}`), now, 5*time.Minute); err == nil {
		t.Error("a changed body verified")
	}
	if err := notify.Verify(secret, sig, body, now.Add(time.Hour), 5*time.Minute); err == nil {
		t.Error("a signature an hour old verified")
	}
	if err := notify.Verify(secret, "v1=abc", body, now, 5*time.Minute); err == nil {
		t.Error("a header without a timestamp verified")
	}
}

// TestSlackBlocksCarryTheFailure: the Slack message of a failed execution leads with the news
// and carries the failing test's last lines.
func TestSlackBlocksCarryTheFailure(t *testing.T) {
	recv := newReceiver(t, nil)
	db := openStore(t)
	rt := route(t, `
  channels:
    - name: chat
      slack: {url_env: SLACK_URL}
  rules:
    - events: ["execution.*"]
      environments: []
      channels: [chat]
`)
	h := newHistory(t, db)
	n := notify.New(notify.Config{Route: rt, Store: db, Logs: h.logs, Env: env(map[string]string{"SLACK_URL": recv.URL + "/services/T0/B0/secret"})})
	must(t, n.Start(t.Context()))
	ex := h.execution(t, "ex-1")
	var output strings.Builder
	for i := range 40 {
		output.WriteString("line " + string(rune('a'+i%26)) + "\n")
	}
	output.WriteString("--- FAIL: TestHealth (0.02s)\n")
	h.failTest(t, ex, output.String())
	drain(t, n)

	got := recv.got()
	if len(got) != 2 {
		t.Fatalf("Slack got %d messages, want 2 (created, failed)", len(got))
	}
	var msg struct {
		Text   string
		Blocks []struct {
			Type string
			Text struct{ Type, Text string }
		}
	}
	decode(t, got[1].body, &msg)
	wantSubject := "hello-api: 1a2b3c4 failed at prod/integration — integration: exit status 1"
	if msg.Blocks[0].Type != "header" || msg.Blocks[0].Text.Text != wantSubject {
		t.Errorf("first block %+v, want the header %q", msg.Blocks[0], wantSubject)
	}
	if !strings.Contains(msg.Text, wantSubject) {
		t.Errorf("fallback text %q lacks the subject", msg.Text)
	}
	var log string
	for _, b := range msg.Blocks {
		if strings.Contains(b.Text.Text, "Last lines of prod/integration") {
			log = b.Text.Text
		}
	}
	if !strings.Contains(log, "--- FAIL: TestHealth") || strings.Count(log, "\n") > notify.LogTail+4 {
		t.Errorf("log block does not hold the last %d lines:\n%s", notify.LogTail, log)
	}
}

// TestGivingUpIsRecorded: a receiver that never comes back, and one that refuses for good.
func TestGivingUpIsRecorded(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		giveUp   string
		attempts int
		want     string
	}{
		// How many attempts fit in 1ms depends on the machine: at least one.
		{"down past give_up_after", http.StatusBadGateway, "1ms", 0, "(notifications.give_up_after): " + "http://127.0.0.1"},
		{"refused", http.StatusNotFound, "24h", 1, "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := newReceiver(t, func(int) int { return tt.status })
			db := openStore(t)
			rt := hookRoute(t, recv.URL, "execution.created", "give_up_after: "+tt.giveUp)
			h := newHistory(t, db)
			n := fastRetries(notify.New(notify.Config{Route: rt, Store: db, Env: env(map[string]string{"HOOK_SECRET": "k"})}))
			must(t, n.Start(t.Context()))
			h.execution(t, "ex-1")
			drain(t, n)
			ds, err := db.ListDeliveries(t.Context(), 0)
			must(t, err)
			if len(ds) != 1 || ds[0].Status != sluice.DeliveryFailed || (tt.attempts > 0 && ds[0].Attempts != tt.attempts) || ds[0].Attempts < 1 || ds[0].GaveUpAt.IsZero() || !strings.Contains(ds[0].Error, tt.want) {
				t.Errorf("outbox %+v; want one failed delivery after %d attempts (0: any) saying %q", ds, tt.attempts, tt.want)
			}
		})
	}
}

// TestHistoryBeforeNotificationsIsNotSent: notifications added to a state with a history tell
// of what happens next, not of everything before.
func TestHistoryBeforeNotificationsIsNotSent(t *testing.T) {
	recv := newReceiver(t, nil)
	db := openStore(t)
	h := newHistory(t, db)
	h.execution(t, "old")
	rt := hookRoute(t, recv.URL, "execution.created", "")
	n := notify.New(notify.Config{Route: rt, Store: db, Env: env(map[string]string{"HOOK_SECRET": "k"})})
	must(t, n.Start(t.Context()))
	h.execution(t, "new")
	drain(t, n)
	got := recv.got()
	if len(got) != 1 || !strings.Contains(string(got[0].body), `"execution":"new"`) {
		t.Errorf("receiver got %d requests, want only the new execution's", len(got))
	}
}

// TestCutOffAttemptIsSentAgainWithItsKey: a notifier stopped while the receiver holds its
// request (as a killed engine would be) leaves the delivery claimed; the next notifier on the
// state takes it over at once and sends it again with the same key, for the receiver to drop.
func TestCutOffAttemptIsSentAgainWithItsKey(t *testing.T) {
	hold := make(chan struct{})
	arrived := make(chan struct{}, 1)
	recv := newReceiver(t, func(n int) int {
		if n == 1 {
			arrived <- struct{}{}
			<-hold // the first request stays with the receiver until the notifier is gone
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(hold) })
	db := openStore(t)
	rt := hookRoute(t, recv.URL, "execution.created", "")
	vars := env(map[string]string{"HOOK_SECRET": "k"})
	first := notify.New(notify.Config{Route: rt, Store: db, Env: vars})
	must(t, first.Start(t.Context()))
	newHistory(t, db).execution(t, "ex-1")
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	<-arrived
	stop()
	<-done

	ds, err := db.ListDeliveries(t.Context(), 0)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != sluice.DeliveryPending || ds[0].Attempts != 0 {
		t.Fatalf("outbox after the cut-off attempt: %+v; want it pending, no attempt recorded", ds)
	}
	// Within drain's minute: the claim of the stopped notifier (two minutes) does not hold up
	// the next one on the same state.
	second := notify.New(notify.Config{Route: rt, Store: db, Env: vars})
	must(t, second.Start(t.Context()))
	drain(t, second)
	got := recv.got()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the cut-off one and the one after)", len(got))
	}
	if a, b := got[0].header.Get(notify.DeliveryHeader), got[1].header.Get(notify.DeliveryHeader); a == "" || a != b {
		t.Errorf("keys %q and %q: a notice sent again must carry the key it had", a, b)
	}
}

// TestEmailWaitsForItsServer: while the SMTP server answers 421 (down), the notice waits and is
// tried again; once the server is back it arrives, once.
func TestEmailWaitsForItsServer(t *testing.T) {
	srv := smtptest.Start(t, "", "")
	srv.SetDown(true)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CertPEM)
	db := openStore(t)
	rt := route(t, `
  channels:
    - name: team
      email: {to: [team@example.com]}
  rules:
    - events: [execution.created]
      channels: [team]
`)
	vars := env(map[string]string{notify.SMTPURLEnv: "smtp://127.0.0.1:" + srv.Port()})
	senders := notify.Senders(rt, vars)
	senders["team"].(*notify.Email).TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	n := fastRetries(notify.New(notify.Config{Route: rt, Store: db, Env: vars, Senders: senders}))
	must(t, n.Start(t.Context()))
	newHistory(t, db).execution(t, "ex-1")
	must(t, n.Pass(t.Context()))
	ds, err := db.ListDeliveries(t.Context(), 0)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != sluice.DeliveryPending || ds[0].Attempts != 1 || !strings.Contains(ds[0].Error, "421") {
		t.Fatalf("outbox while the server is down: %+v; want pending after one attempt, the 421 recorded", ds)
	}
	srv.SetDown(false)
	drain(t, n)
	if got := srv.Messages(); len(got) != 1 {
		t.Errorf("server took %d messages once back, want 1", len(got))
	}
}
