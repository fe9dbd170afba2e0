package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Sender delivers notices to one channel.
//
// Send is called again for the same notice when an attempt fails (and after a crash when the
// engine was killed before recording the outcome): every attempt carries the same Key, the
// event ID, for receivers to drop duplicates. Send must be safe to call concurrently.
type Sender interface {
	Send(ctx context.Context, n Notice) error
}

// Notice is one delivery of one event to one channel.
type Notice struct {
	// Key is the idempotency key, the same for every attempt: the event's ID.
	Key     string
	Event   sluice.Event
	Message Message
	// Attempt counts from 1.
	Attempt int
}

// permanentError is a failure that trying again cannot mend: a receiver that refuses the
// request (400, 404, 410), a channel without its secret.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as final: the delivery is recorded as failed at once, not retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// unset says that a channel's variable is missing. It is not final: the notice waits in the
// outbox (until give_up_after) for an engine started with the variable set.
func unset(name, why string) error {
	return fmt.Errorf("%s is not set (%s); start sluice with it set and the notice goes out", name, why)
}

// Problems returns what keeps the route's channels from ever sending, a sentence each: an
// SMTP URL that cannot be used. (A variable that is not set is spec.Route.UnsetNotifyVars's to
// say, where the file names it.)
func Problems(senders map[string]Sender) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(senders)) {
		if e, ok := senders[name].(*Email); ok {
			if _, err := e.server(); err != nil && IsPermanent(err) {
				out = append(out, fmt.Sprintf("channel %s cannot send: %v", name, err))
			}
		}
	}
	return out
}

// Env reads the variables channels take their settings and secrets from; os.LookupEnv in
// production.
type Env func(name string) (string, bool)

// sendTimeout bounds one attempt of one notice, so a receiver that hangs delays nothing else
// for long.
const sendTimeout = 30 * time.Second

// postJSON posts body to url with headers and judges the answer: 2xx is delivered; 408, 425,
// 429 and 5xx are worth another try; any other status is final.
func postJSON(ctx context.Context, client *http.Client, url, contentType string, body []byte, headers http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return Permanent(fmt.Errorf("build request to %s: %w", redact(url), err))
	}
	for k, vs := range headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "sluice-notify")
	if client == nil {
		client = &http.Client{Timeout: sendTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", redact(url), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s answered %s: %s", redact(url), resp.Status, strings.TrimSpace(string(reply)))
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly, resp.StatusCode == http.StatusTooManyRequests:
		return err
	}
	return Permanent(err)
}

// redact keeps a URL's scheme and host: the path of a Slack webhook URL is its secret.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return "the URL"
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	return scheme + "://" + host
}
