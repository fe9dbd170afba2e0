package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/smtptest"
	"github.com/sluicehq/sluice/notify"
)

// hookReceiver is a webhook receiver on loopback that answers 503 while it is down and keeps
// every request it was sent.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	requests []hookRequest
}

type hookRequest struct {
	header   http.Header
	body     []byte
	accepted bool
}

func newHookReceiver(t *testing.T, down bool) *hookReceiver {
	h := &hookReceiver{down: down}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests = append(h.requests, hookRequest{header: r.Header.Clone(), body: body, accepted: !h.down})
		if h.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) setDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

func (h *hookReceiver) got() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

// TestNotificationSurvivesSIGKILL: the engine that stored an execution's failure is killed
// while the receiver is down; the next engine on the state delivers the notice, once, signed,
// with the same idempotency key as the attempt the receiver refused.
func TestNotificationSurvivesSIGKILL(t *testing.T) {
	skipShort(t)
	t.Parallel()
	recv := newHookReceiver(t, true)
	r := newRepo(t, func(y string) string {
		y = fastRoute(y)
		y = replaceOnce(y, "service:", `checks:
  - {name: widgets, run: "echo checking the widgets; echo widget 7 is broken; exit 1"}

service:`)
		return y + `
notifications:
  channels:
    - name: ops
      webhook: {url: "` + recv.URL + `/hooks", secret_env: HOOK_SECRET}
  rules:
    - events: [execution.failed]
      channels: [ops]
`
	})
	env := []string{"HOOK_SECRET=k3y"}
	run := r.startSluice(env, "run", "--json", "--state", r.state)
	eventually(t, "the first attempt at the receiver", func() bool { return len(recv.got()) > 0 })
	if err := run.cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no goodbye
		t.Fatal(err)
	}
	run.once.Do(func() { _ = run.cmd.Wait() })
	recv.setDown(false)

	up := r.startSluice(env, "up", "--listen", "127.0.0.1:0", "--no-watch", "--state", r.state)
	eventually(t, "the notice to be accepted after the restart", func() bool {
		for _, q := range recv.got() {
			if q.accepted {
				return true
			}
		}
		return false
	})
	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if res := up.wait(t); res.code != 0 || !strings.Contains(res.stdout, "  notify  ops (webhook)") {
		t.Fatalf("sluice up after SIGTERM: exit %d, want 0 and its notification channels named\n%s%s", res.code, res.stdout, res.stderr)
	}

	got := recv.got()
	accepted := 0
	var key string
	for i, q := range got {
		if q.accepted {
			accepted++
		}
		var ce sluice.Event
		if err := json.Unmarshal(q.body, &ce); err != nil || ce.Type != sluice.EventExecutionFailed {
			t.Errorf("request %d is not the execution.failed CloudEvent (%v): %s", i, err, q.body)
		}
		if k := q.header.Get(notify.DeliveryHeader); k != ce.ID || (key != "" && k != key) {
			t.Errorf("request %d: key %q, event %s, first key %q: every attempt carries the event ID", i, k, ce.ID, key)
		}
		key = ce.ID
		if err := notify.Verify([]byte("k3y"), q.header.Get(notify.SignatureHeader), q.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if accepted != 1 || len(got) < 2 {
		t.Errorf("receiver got %d requests, %d accepted; want the refused one(s), then exactly one accepted", len(got), accepted)
	}

	res := sluiceRun(t, r.dir, "notify", "log", "--json", "--state", r.state)
	var log struct {
		FormatVersion int               `json:"format_version"`
		Deliveries    []sluice.Delivery `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil || res.code != 0 {
		t.Fatalf("sluice notify log --json: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	if len(log.Deliveries) != 1 || log.Deliveries[0].Status != sluice.DeliveryDelivered || log.Deliveries[0].Channel != "ops" || log.Deliveries[0].EventID != key {
		t.Errorf("notify log: %+v; want one delivered notice of event %s to ops", log.Deliveries, key)
	}
	text := sluiceRun(t, r.dir, "notify", "log", "--state", r.state)
	if !strings.Contains(text.stdout, "execution.failed") || !strings.Contains(text.stdout, "delivered") {
		t.Errorf("sluice notify log:\n%s", text.stdout)
	}
}

// TestApprovalByEmail: a run waits for prod's approval; the email that says so arrives over
// STARTTLS (a self-signed certificate trusted through SLUICE_SMTP_CA), and the command it gives
// approves the change set; the mail of prod's deployment names who approved it.
func TestApprovalByEmail(t *testing.T) {
	skipShort(t)
	t.Parallel()
	srv := smtptest.Start(t, "sluice", "pw")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, func(y string) string {
		return fastRoute(y) + `
notifications:
  channels:
    - name: team
      email: {to: [team@example.com]}
  rules:
    - events: [approval.requested, deployment.succeeded, execution.failed]
      environments: [prod]
      channels: [team]
`
	})
	env := []string{"SLUICE_SMTP_URL=smtp://sluice:pw@127.0.0.1:" + srv.Port(), "SLUICE_SMTP_CA=" + ca}
	run := r.startSluice(env, "run", "--json", "--state", r.state)
	eventually(t, "the approval email", func() bool { return len(srv.Messages()) > 0 })
	mail := srv.Messages()[0]
	if !mail.TLS || mail.AuthUser != "sluice" {
		t.Errorf("mail sent with TLS=%v as %q, want STARTTLS and AUTH", mail.TLS, mail.AuthUser)
	}
	p, err := mail.Parse()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := decodeWords(p.Header.Get("Subject"))
	if !regexp.MustCompile(`^hello-api: prod waits for approval — deploy [0-9a-f]{7} \([0-9]+ changes\)$`).MatchString(subject) {
		t.Errorf("subject %q", subject)
	}
	approve := regexp.MustCompile(`sluice approve prod --change-set (sha256:[0-9a-f]+)`).FindStringSubmatch(p.Text)
	if approve == nil || !strings.Contains(p.Text, "Changes:") || !strings.Contains(p.Text, "artifact:") {
		t.Fatalf("the email has no change set or approve command:\n%s", p.Text)
	}
	res := sluiceRun(t, r.dir, "approve", "prod", "--change-set", approve[1], "--state", r.state)
	if res.code != 0 {
		t.Fatalf("the email's approve command: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if end := run.wait(t); end.code != 0 {
		t.Fatalf("run after the approval: exit %d\n%s", end.code, end.stderr)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("server took %d messages, want 2 (approval waiting, prod deployed)", len(msgs))
	}
	done, err := msgs[1].Parse()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = decodeWords(done.Header.Get("Subject"))
	if !strings.HasPrefix(subject, "hello-api: prod now runs ") || !strings.Contains(done.Text, "Approved by:") {
		t.Errorf("deployment mail %q:\n%s", subject, done.Text)
	}
}

// TestNotifyTest sends the samples to every channel, or to the one named, and says which failed.
func TestNotifyTest(t *testing.T) {
	t.Parallel()
	recv := newHookReceiver(t, false)
	chat := newHookReceiver(t, true)
	r := newRepo(t, func(y string) string {
		return y + `
notifications:
  channels:
    - name: ops
      webhook: {url: "` + recv.URL + `", secret_env: HOOK_SECRET}
    - name: chat
      slack: {url_env: SLACK_URL}
  rules:
    - events: ["*"]
      channels: [ops, chat]
`
	})
	env := []string{"HOOK_SECRET=k3y", "SLACK_URL=" + chat.URL + "/services/x"}
	res := r.startSluice(env, "notify", "test", "ops").wait(t)
	if res.code != 0 || strings.Count(res.stdout, "ops: ") != 3 || strings.Contains(res.stdout, "chat:") {
		t.Errorf("notify test ops: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := recv.got(); len(got) != 3 || !strings.Contains(res.stdout, `"[test] hello-api: prod rolled back — alarm api-errors error_rate 0.31 > 0.05"`) {
		t.Errorf("receiver got %d samples, want 3; output:\n%s", len(got), res.stdout)
	}
	res = r.startSluice(env, "notify", "test").wait(t)
	if res.code != 1 || strings.Count(res.stdout, "chat: ") != 3 || !strings.Contains(res.stdout, "503 Service Unavailable") {
		t.Errorf("notify test with Slack down: exit %d, want 1 naming the failures\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = r.startSluice(env, "notify", "test", "opz").wait(t)
	if res.code != 2 || !strings.Contains(res.stderr, `did you mean ops?`) {
		t.Errorf("notify test opz: exit %d\n%s", res.code, res.stderr)
	}
}

// TestRollbackInSlack: a release whose prod answers errors under traffic is rolled back by its
// alarm; the Slack message says so in its header, with the alarm, its value and who approved.
func TestRollbackInSlack(t *testing.T) {
	skipShort(t)
	t.Parallel()
	chat := newHookReceiver(t, false)
	r := newRepo(t, func(y string) string {
		return fastRoute(y) + `
notifications:
  channels:
    - name: chat
      slack: {url_env: SLACK_URL}
  rules:
    - events: [deployment.rolled_back]
      channels: [chat]
`
	})
	env := []string{"SLACK_URL=" + chat.URL + "/services/T0/B0/x"}
	res := r.startSluice(env, "run", "--approve", "--json", "--state", r.state).wait(t)
	s := decodeSummary(t, res)
	if res.code != 0 || len(chat.got()) != 0 {
		t.Fatalf("the good run: exit %d, %d Slack messages (want none)\n%s", res.code, len(chat.got()), res.stderr)
	}
	r.edit("breakprod.go", func(src string) string {
		return replaceOnce(src, "deliberatelyBreakProd = false", "deliberatelyBreakProd = true")
	})
	r.commit("break prod")
	stop := sendTraffic(prod(t, s).endpoint)
	res = r.startSluice(env, "run", "--approve", "--json", "--state", r.state).wait(t)
	stop()
	if s := decodeSummary(t, res); s.Status != sluice.StatusRolledBack || prod(t, s).last.Rollback.Cause != sluice.CauseAlarm {
		t.Fatalf("the broken release: %s, want rolled back by its alarm\n%s", s.Status, res.stderr)
	}
	got := chat.got()
	if len(got) != 1 {
		t.Fatalf("Slack got %d messages, want 1", len(got))
	}
	var msg struct {
		Blocks []struct {
			Type   string
			Text   struct{ Text string }
			Fields []struct{ Text string }
		}
	}
	if err := json.Unmarshal(got[0].body, &msg); err != nil || len(msg.Blocks) == 0 {
		t.Fatalf("not Block Kit (%v): %s", err, got[0].body)
	}
	if h := msg.Blocks[0].Text.Text; msg.Blocks[0].Type != "header" || !regexp.MustCompile(`^hello-api: prod rolled back — alarm api-errors error_rate [0-9.]+ > 0\.05$`).MatchString(h) {
		t.Errorf("header %q", h)
	}
	if !strings.Contains(string(got[0].body), `*Approved by*`) || !strings.Contains(string(got[0].body), `*Traffic restored in*`) {
		t.Errorf("the message does not say who approved and how fast traffic came back: %s", got[0].body)
	}
}
