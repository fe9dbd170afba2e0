package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Slack posts Block Kit messages to the incoming webhook whose URL is in URLEnv. Slack keeps no
// idempotency key for incoming webhooks: a notice whose attempt was cut off after Slack took it
// may show twice; the event ID in its footer tells the copies apart.
type Slack struct {
	URLEnv string
	Env    Env
	// Client sends the requests. If nil, a client with a 30s timeout.
	Client *http.Client
}

var _ Sender = (*Slack)(nil)

func (s *Slack) url() (string, error) {
	if v, ok := s.Env(s.URLEnv); ok && v != "" {
		return v, nil
	}
	return "", unset(s.URLEnv, "it holds the Slack incoming webhook's URL")
}

// Send posts n's message.
func (s *Slack) Send(ctx context.Context, n Notice) error {
	url, err := s.url()
	if err != nil {
		return err
	}
	body, err := json.Marshal(SlackPayload(n.Message))
	if err != nil {
		return Permanent(fmt.Errorf("encode Slack message: %w", err))
	}
	return postJSON(ctx, s.Client, url, "application/json", body, nil)
}

// Block Kit limits: a header's text, a section's text, a section's fields.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 10
)

// toneEmoji leads the header, so a phone's notification shows the news at a glance.
var toneEmoji = map[string]string{ToneBad: ":red_circle:", ToneWait: ":hourglass_flowing_sand:", ToneGood: ":large_green_circle:", ToneInfo: ":information_source:"}

// SlackPayload is the Block Kit message of m: a header, the lead, the facts two by two, the
// changes, the log, what to do, and the event ID. Text is the fallback notifications show.
func SlackPayload(m Message) map[string]any {
	var blocks []map[string]any
	text := func(kind, s string) map[string]any { return map[string]any{"type": kind, "text": s} }
	blocks = append(blocks, map[string]any{"type": "header", "text": text("plain_text", cut(m.Subject, slackHeaderMax))})
	if m.Lead != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": text("mrkdwn", cut(escapeSlack(m.Lead), slackSectionMax))})
	}
	if len(m.Facts) > 0 {
		var fields []map[string]any
		for _, f := range m.Facts[:min(len(m.Facts), slackFieldMax)] {
			fields = append(fields, text("mrkdwn", cut("*"+escapeSlack(f.Label)+"*\n"+escapeSlack(f.Value), 2000)))
		}
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	if len(m.Changes) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": text("mrkdwn", cut("*Changes*\n"+codeBlock(strings.Join(m.Changes, "\n")), slackSectionMax))})
	}
	if m.Log != "" {
		log := m.Log
		// Keep the end of the log: the last lines say why it failed.
		for utf8.RuneCountInString(log) > slackSectionMax-100 {
			_, log, _ = strings.Cut(log, "\n")
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": text("mrkdwn", "*"+escapeSlack(capitalize(m.LogTitle))+"*\n"+codeBlock(log))})
	}
	if len(m.Act) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": text("mrkdwn", cut("*To act on it*\n"+codeBlock(strings.Join(m.Act, "\n")), slackSectionMax))})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{text("mrkdwn", "Sluice event `"+m.EventID+"`")}})
	emoji := toneEmoji[m.Tone]
	if emoji == "" {
		emoji = toneEmoji[ToneInfo]
	}
	return map[string]any{"text": emoji + " " + m.Subject, "blocks": blocks}
}

func codeBlock(s string) string { return "```\n" + strings.ReplaceAll(s, "```", "`\u200b``") + "\n```" }

// escapeSlack escapes the three characters Slack's mrkdwn gives a meaning to.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
