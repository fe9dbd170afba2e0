package trigger

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// Pipelines is what git events act on; *engine.Engine implements it. See engine's methods of
// the same names: each is idempotent, so a delivery and the poller may tell the same thing.
type Pipelines interface {
	BranchPushed(ctx context.Context, branch, rev string) (engine.Triggered, error)
	BranchDeleted(ctx context.Context, branch string) (*sluice.Pipeline, error)
	PullRequestUpdated(ctx context.Context, number int, branch, rev string) (engine.Triggered, error)
	PullRequestClosed(ctx context.Context, number int, why string) (*sluice.Pipeline, error)
}

// Deliveries records accepted deliveries; store.WebhookDeliveries is one.
type Deliveries interface {
	RecordWebhookDelivery(ctx context.Context, d *sluice.WebhookDelivery, events ...sluice.Event) error
	SaveWebhookOutcome(ctx context.Context, d *sluice.WebhookDelivery) error
}

// DefaultMaxBody bounds a delivery's body unless Webhooks.MaxBody says otherwise: far above
// what a push or pull-request event of a normal repository weighs, far below what could hurt.
const DefaultMaxBody = 4 << 20

// Webhooks receives git hosts' webhook deliveries and acts on them. It serves only
//
//	POST /webhooks/github   GitHub: X-Hub-Signature-256 (HMAC-SHA256 of the body), X-GitHub-Delivery
//	POST /webhooks/gitlab   GitLab: X-Gitlab-Token (the secret itself), Idempotency-Key or X-Gitlab-Event-UUID
//	POST /webhooks/gitea    Gitea and Forgejo: X-Gitea-Signature or X-Forgejo-Signature (hex HMAC-SHA256), X-Gitea-Delivery
//	POST /webhooks/forgejo  the same
//
// and refuses, changing nothing: a body over MaxBody (413), a missing signature or token (401),
// a wrong one (403, compared in constant time), a missing delivery ID or event name and a
// payload that is not what the host documents (400), and a delivery ID it accepted before from
// the same host (409, a replay). Each delivery it accepts is recorded before it is acted on;
// the answer is 202 with what was done, or 500 when acting failed (the delivery stays
// recorded, so a redelivery is refused: push again or wait for the poller).
type Webhooks struct {
	// Secret is the shared secret configured on the host. Required: with an empty secret every
	// delivery is refused.
	Secret     []byte
	Deliveries Deliveries
	Pipelines  Pipelines
	// MaxBody bounds a delivery's body in bytes. If zero, DefaultMaxBody.
	MaxBody int64
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Log receives what deliveries did. If nil, nothing is logged.
	Log *slog.Logger
}

// refusal is a delivery refused with an HTTP status.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// verifyHMAC checks sig, the hex HMAC-SHA256 of body under secret after prefix, in constant
// time.
func verifyHMAC(sig, prefix, header string, body, secret []byte) error {
	if sig == "" {
		return refuse(http.StatusUnauthorized, "the delivery is not signed: %s is missing; set the webhook's secret to SLUICE_WEBHOOK_SECRET's value", header)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, prefix))
	if err != nil || (prefix != "" && !strings.HasPrefix(sig, prefix)) {
		return refuse(http.StatusForbidden, "%s is not a %shex HMAC-SHA256 signature", header, prefix)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return refuse(http.StatusForbidden, "%s does not match the body signed with the secret; check that the webhook's secret is SLUICE_WEBHOOK_SECRET's value", header)
	}
	return nil
}

// verifyToken checks a secret token sent as it is (GitLab), in constant time: both sides are
// hashed first, so neither the content nor the length of the secret leaks through timing.
func verifyToken(token string, secret []byte) error {
	if token == "" {
		return refuse(http.StatusUnauthorized, "the delivery has no X-Gitlab-Token; set the webhook's secret token to SLUICE_WEBHOOK_SECRET's value")
	}
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256(secret)
	if !hmac.Equal(a[:], b[:]) {
		return refuse(http.StatusForbidden, "X-Gitlab-Token is not the secret; set the webhook's secret token to SLUICE_WEBHOOK_SECRET's value")
	}
	return nil
}

// Handler returns the HTTP handler of the webhook endpoints; every other path is 404.
func (wh *Webhooks) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, path := range []string{"github", "gitlab", "gitea", "forgejo"} {
		p := providers[path]
		if path == "forgejo" {
			p = providers["gitea"]
		}
		mux.HandleFunc("/webhooks/"+path, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, p) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusNotFound, map[string]string{"error": "this listener serves only POST /webhooks/github, /webhooks/gitlab, /webhooks/gitea and /webhooks/forgejo"})
	})
	return mux
}

// deliveryResult is the body of an accepted delivery's answer.
type deliveryResult struct {
	Delivery  string `json:"delivery"`
	Event     string `json:"event"`
	Pipeline  string `json:"pipeline,omitempty"`
	Execution string `json:"execution,omitempty"`
	Outcome   string `json:"outcome"`
}

func (wh *Webhooks) serve(w http.ResponseWriter, r *http.Request, p provider) {
	log := wh.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res, err := wh.accept(r, p)
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		log.Warn("webhook delivery refused", "provider", p.name, "status", ref.status, "why", ref.msg)
		if ref.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		answer(w, ref.status, map[string]string{"error": ref.msg})
	case err != nil:
		log.Error("webhook delivery failed", "provider", p.name, "delivery", res.Delivery, "err", err)
		answer(w, http.StatusInternalServerError, res)
	default:
		log.Info("webhook delivery", "provider", p.name, "delivery", res.Delivery, "event", res.Event, "outcome", res.Outcome)
		answer(w, http.StatusAccepted, res)
	}
}

// accept checks a delivery, records it and acts on it.
func (wh *Webhooks) accept(r *http.Request, p provider) (deliveryResult, error) {
	if r.Method != http.MethodPost {
		return deliveryResult{}, refuse(http.StatusMethodNotAllowed, "webhooks are delivered with POST, not %s", r.Method)
	}
	limit := wh.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		return deliveryResult{}, refuse(http.StatusRequestEntityTooLarge, "the delivery's body is %d bytes, over the limit of %d", r.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return deliveryResult{}, refuse(http.StatusBadRequest, "read the delivery's body: %v", err)
	}
	if int64(len(body)) > limit {
		return deliveryResult{}, refuse(http.StatusRequestEntityTooLarge, "the delivery's body is over the limit of %d bytes", limit)
	}
	if len(wh.Secret) == 0 {
		return deliveryResult{}, refuse(http.StatusForbidden, "no webhook secret is configured here; set SLUICE_WEBHOOK_SECRET")
	}
	if err := p.verify(r.Header, body, wh.Secret); err != nil {
		return deliveryResult{}, err
	}
	event, id := p.event(r.Header), p.delivery(r.Header)
	if event == "" || id == "" {
		return deliveryResult{}, refuse(http.StatusBadRequest, "the delivery has no event name or delivery ID header; is this a %s webhook?", p.name)
	}
	res := deliveryResult{Delivery: id, Event: event}
	ge, err := p.parse(event, body)
	if err != nil {
		return res, refuse(http.StatusBadRequest, "%s %s delivery %s: %v", p.name, event, id, err)
	}
	now := time.Now
	if wh.Now != nil {
		now = wh.Now
	}
	d := &sluice.WebhookDelivery{Provider: p.name, ID: id, Event: event, ReceivedAt: now().UTC()}
	if err := wh.Deliveries.RecordWebhookDelivery(r.Context(), d); err != nil {
		if sluice.ErrorCode(err) == sluice.ECONFLICT {
			return res, refuse(http.StatusConflict, "%s delivery %s was received before; a replayed delivery is refused", p.name, id)
		}
		return res, fmt.Errorf("record delivery: %w", err)
	}
	// Acting goes on if the host gives up waiting: the delivery is recorded and will not be
	// taken again.
	ctx := context.WithoutCancel(r.Context())
	t, actErr := wh.act(ctx, ge)
	res.Outcome = outcome(ge, t, actErr)
	if t.Pipeline != nil {
		res.Pipeline = t.Pipeline.ID
	}
	if t.Execution != nil {
		res.Execution = t.Execution.ID
	}
	d.Pipeline, d.Outcome = res.Pipeline, res.Outcome
	if err := wh.Deliveries.SaveWebhookOutcome(ctx, d); err != nil {
		actErr = errors.Join(actErr, err)
	}
	return res, actErr
}

// act does what a git event asks of the pipelines.
func (wh *Webhooks) act(ctx context.Context, ge GitEvent) (engine.Triggered, error) {
	switch ge.Kind {
	case BranchPushed:
		return wh.Pipelines.BranchPushed(ctx, ge.Branch, ge.Revision)
	case BranchDeleted:
		pl, err := wh.Pipelines.BranchDeleted(ctx, ge.Branch)
		return engine.Triggered{Pipeline: pl}, err
	case PullRequestUpdated:
		return wh.Pipelines.PullRequestUpdated(ctx, ge.PullRequest, ge.Branch, ge.Revision)
	case PullRequestClosed:
		pl, err := wh.Pipelines.PullRequestClosed(ctx, ge.PullRequest, ge.Why)
		return engine.Triggered{Pipeline: pl}, err
	}
	return engine.Triggered{}, nil
}

// outcome says what a delivery did, for people.
func outcome(ge GitEvent, t engine.Triggered, err error) string {
	what := map[GitEventKind]string{
		BranchPushed: "branch " + ge.Branch + " pushed", BranchDeleted: "branch " + ge.Branch + " deleted",
		PullRequestUpdated: fmt.Sprintf("pull request #%d updated", ge.PullRequest), PullRequestClosed: fmt.Sprintf("pull request #%d %s", ge.PullRequest, ge.Why),
	}[ge.Kind]
	switch {
	case ge.Kind == Ignored:
		return "ignored: " + ge.Why
	case err != nil:
		return what + ": failed: " + err.Error()
	case t.Pipeline == nil:
		return what + ": no pipeline follows it (see pipelines in sluice.yaml)"
	case ge.Kind == BranchDeleted || ge.Kind == PullRequestClosed:
		return what + ": pipeline " + t.Pipeline.ID + " removed"
	case t.Existing:
		return what + ": execution " + t.Execution.ID + " of this revision exists already in " + t.Pipeline.ID
	case t.Execution != nil:
		return what + ": execution " + t.Execution.ID + " started in " + t.Pipeline.ID
	}
	return what
}

func answer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
