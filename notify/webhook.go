package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery (docs/notifications.md shows how to check them).
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>", the HMAC keyed with the
	// channel's secret over "<t>.<body>".
	SignatureHeader = "Sluice-Signature"
	// DeliveryHeader carries the idempotency key, the event's ID (also the CloudEvents id):
	// a receiver that has seen it already drops the request.
	DeliveryHeader = "Sluice-Delivery"
)

// CloudEventsType is the content type of a CloudEvents event in structured mode.
const CloudEventsType = "application/cloudevents+json"

// Webhook posts each event's CloudEvents JSON to URL, signed with the secret in SecretEnv.
type Webhook struct {
	URL       string
	SecretEnv string
	Env       Env
	// Client sends the requests. If nil, a client with a 30s timeout.
	Client *http.Client
	// Now is the clock of the signature's timestamp. If nil, time.Now.
	Now func() time.Time
}

var _ Sender = (*Webhook)(nil)

func (w *Webhook) secret() (string, error) {
	if v, ok := w.Env(w.SecretEnv); ok && v != "" {
		return v, nil
	}
	return "", unset(w.SecretEnv, "the webhook's requests are signed with it")
}

// Send posts n's event, signed.
func (w *Webhook) Send(ctx context.Context, n Notice) error {
	secret, err := w.secret()
	if err != nil {
		return err
	}
	body, err := json.Marshal(n.Event)
	if err != nil {
		return Permanent(fmt.Errorf("encode event %s: %w", n.Event.ID, err))
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	h := http.Header{}
	h.Set(SignatureHeader, Sign([]byte(secret), now(), body))
	h.Set(DeliveryHeader, n.Key)
	h.Set("Idempotency-Key", n.Key)
	return postJSON(ctx, w.Client, w.URL, CloudEventsType, body, h)
}

// Sign returns the value of SignatureHeader for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value against body, as a receiver would: the HMAC must match
// and the timestamp be within tolerance of now, so a captured request cannot be replayed later.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("signature header %q is not t=<seconds>,v1=<hex>", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp %s is %s away from now, more than %s", ts, d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("signature does not match the body")
}
