package spec

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Notifications say who hears of what: channels (email, a signed webhook, Slack) and rules that
// send events of the catalogue (docs/events.md) to them.
type Notifications struct {
	Channels []Channel    `json:"channels,omitempty"`
	Rules    []NotifyRule `json:"rules,omitempty"`
	// GiveUpAfter bounds how long a notice that keeps failing is retried. If zero, 24h.
	GiveUpAfter time.Duration `json:"give_up_after"`
}

// Channel is where notices go. Exactly one of Email, Webhook and Slack is set.
type Channel struct {
	Name    string         `json:"name"`
	Email   EmailChannel   `json:"email,omitzero"`
	Webhook WebhookChannel `json:"webhook,omitzero"`
	Slack   SlackChannel   `json:"slack,omitzero"`
}

// Kind returns "email", "webhook" or "slack": which of the channel's blocks is set.
func (c Channel) Kind() string {
	switch {
	case len(c.Email.To) > 0:
		return ChannelEmail
	case c.Webhook.URL != "":
		return ChannelWebhook
	case c.Slack.URLEnv != "":
		return ChannelSlack
	}
	return ""
}

// The kinds of channel.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
)

// EmailChannel sends mail through the SMTP server that SLUICE_SMTP_URL names.
type EmailChannel struct {
	To []string `json:"to"`
	// From is the sender's address. If empty, SLUICE_SMTP_FROM, else sluice@localhost.
	From string `json:"from,omitempty"`
}

// WebhookChannel posts the CloudEvents JSON of each event to URL, signed with the secret in the
// environment variable SecretEnv.
type WebhookChannel struct {
	URL       string `json:"url"`
	SecretEnv string `json:"secret_env"`
}

// SlackChannel posts Block Kit messages to the Slack incoming webhook whose URL is in the
// environment variable URLEnv (the URL is a secret, so it is not in the file).
type SlackChannel struct {
	URLEnv string `json:"url_env"`
}

// NotifyRule sends events whose type matches one of Events (see sluice.EventType.Matches), of
// the given environments and pipelines, to Channels.
type NotifyRule struct {
	Events []string `json:"events"`
	// Environments limits the rule to events about these environments. Empty: any, and events
	// about no environment (an execution's end, a build).
	Environments []string `json:"environments,omitempty"`
	// Pipelines limits the rule to events of these pipelines: each is a kind (main, branch,
	// pull_request) or a pattern of the pipeline's branch slug ("main", "release-*", "pr-12").
	// Empty: every pipeline.
	Pipelines []string `json:"pipelines,omitempty"`
	Channels  []string `json:"channels"`
}

// SMTPURLEnv names the SMTP server of email channels: smtp://user:pass@host:587.
const SMTPURLEnv = "SLUICE_SMTP_URL"

// notifyVar is a variable a channel reads, and where the file makes it do so.
type notifyVar struct {
	name, channel, what, path string
	at                        position
}

// UnsetNotifyVars warns, where the file makes a channel read it, about each variable a
// notification channel needs that lookup does not find set: the signing secret, the Slack URL,
// SLUICE_SMTP_URL. The channel's notices wait in the outbox until an engine runs with it set.
// lookup is usually os.LookupEnv.
func (rt *Route) UnsetNotifyVars(lookup func(string) (string, bool)) Diagnostics {
	var diags Diagnostics
	for _, v := range rt.notifyVars {
		if v.name == "" {
			continue // its own error is reported already
		}
		if s, ok := lookup(v.name); ok && s != "" {
			continue
		}
		diags = append(diags, Diagnostic{File: rt.file, Line: v.at.line, Col: v.at.col, Severity: SeverityWarning, Path: v.path,
			Message: fmt.Sprintf("%s is not set in Sluice's environment; channel %s needs it (%s), and its notices wait until sluice up or sluice run starts with it set", v.name, v.channel, v.what)})
	}
	return diags
}

// DefaultGiveUpAfter is how long a failing notice is retried when give_up_after is not set.
const DefaultGiveUpAfter = 24 * time.Hour

var (
	notificationsKeys = []string{"channels", "rules", "give_up_after"}
	channelKeys       = []string{"name", ChannelEmail, ChannelWebhook, ChannelSlack}
	emailKeys         = []string{"to", "from"}
	webhookKeys       = []string{"url", "secret_env"}
	slackKeys         = []string{"url_env"}
	ruleKeys          = []string{"events", "environments", "pipelines", "channels"}
)

func (r *reader) readNotifications(f field, rt *Route) {
	n := &rt.Notifications
	n.GiveUpAfter = DefaultGiveUpAfter
	fs, ok := r.fields(f, notificationsKeys)
	if !ok {
		return
	}
	if f, ok := fs["give_up_after"]; ok {
		if d, ok := r.duration(f); ok {
			n.GiveUpAfter = d
		}
	}
	if f, ok := fs["channels"]; ok {
		n.Channels = r.readChannels(f, &rt.notifyVars)
	}
	if f, ok := fs["rules"]; ok {
		n.Rules = r.readRules(f, rt, n.Channels)
	} else if len(n.Channels) > 0 {
		p := joinPath(f.path, "rules")
		r.warnf(r.at(f.path), p, "channels without rules receive nothing; add rules: [{events: [execution.failed], channels: [%s]}]", n.Channels[0].Name)
	}
}

func (r *reader) readChannels(f field, vars *[]notifyVar) []Channel {
	items, ok := r.list(f, "a list of channels such as {name: team, email: {to: [team@example.com]}}")
	if !ok {
		return nil
	}
	seen := newNames("channel")
	var out []Channel
	for _, it := range items {
		fs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, channelKeys)
		if !ok {
			continue
		}
		var c Channel
		if f, ok := fs["name"]; ok {
			if s, ok := r.str(f); ok {
				if !validEnvironmentName(s) {
					r.errorf(f.pos(), f.path, "invalid channel name %q; use 1-%d lowercase letters, digits and '-', starting with a letter%s", s, maxEnvironmentName, nameHint(s, maxEnvironmentName))
				}
				c.Name = s
				seen.check(r, s, f)
			}
		} else {
			r.missing(joinPath(it.path, "name"), "give the channel a name that rules refer to, e.g. name: team")
		}
		var kinds []string
		for _, k := range []string{ChannelEmail, ChannelWebhook, ChannelSlack} {
			if _, ok := fs[k]; ok {
				kinds = append(kinds, k)
			}
		}
		switch {
		case len(kinds) == 0:
			r.errorf(r.keyAt[it.path], it.path, "a channel needs one of email, webhook or slack, e.g. email: {to: [team@example.com]}")
		case len(kinds) > 1:
			r.errorf(fs[kinds[1]].keyPos, fs[kinds[1]].path, "a channel is one of email, webhook or slack, and this one is also %s; make a channel of each", kinds[0])
		}
		if f, ok := fs[ChannelEmail]; ok {
			r.readEmail(f, &c.Email)
			*vars = append(*vars, notifyVar{name: SMTPURLEnv, channel: c.Name, what: "the SMTP server, such as smtp://user:pass@mail.example.com:587", path: f.path, at: f.keyPos})
		}
		if f, ok := fs[ChannelWebhook]; ok {
			r.readWebhook(f, &c.Webhook, c.Name, vars)
		}
		if block, ok := fs[ChannelSlack]; ok {
			if fs, ok := r.fields(block, slackKeys); ok {
				if f, ok := fs["url_env"]; ok {
					c.Slack.URLEnv = r.varName(f, "the incoming webhook's URL", "SLACK_WEBHOOK_URL")
					*vars = append(*vars, notifyVar{name: c.Slack.URLEnv, channel: c.Name, what: "the incoming webhook's URL", path: f.path, at: f.pos()})
				} else {
					r.missing(joinPath(block.path, "url_env"), "name the variable holding the incoming webhook's URL, e.g. url_env: SLACK_WEBHOOK_URL")
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func (r *reader) readEmail(block field, e *EmailChannel) {
	fs, ok := r.fields(block, emailKeys)
	if !ok {
		return
	}
	if f, ok := fs["to"]; ok {
		e.To = r.checkedItems(f, "a list of addresses", "add at least one address", func(it strItem) bool {
			if !plausibleAddress(it.s) {
				r.errorf(it.pos, it.path, "%q is not an email address; write it as name@example.com", it.s)
				return false
			}
			return true
		})
	} else {
		r.missing(joinPath(block.path, "to"), "add to: [team@example.com]")
	}
	if f, ok := fs["from"]; ok {
		if s, ok := r.str(f); ok {
			if !plausibleAddress(s) {
				r.errorf(f.pos(), f.path, "%q is not an email address; write it as sluice@example.com", s)
			} else {
				e.From = s
			}
		}
	}
}

// plausibleAddress accepts what looks like one address: the SMTP server has the last word.
func plausibleAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(s, " \t\r\n<>,;")
}

func (r *reader) readWebhook(block field, w *WebhookChannel, channel string, vars *[]notifyVar) {
	fs, ok := r.fields(block, webhookKeys)
	if !ok {
		return
	}
	if f, ok := fs["url"]; ok {
		if s, ok := r.str(f); ok {
			u, err := url.Parse(s)
			switch {
			case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
				r.errorf(f.pos(), f.path, "%q is not an http or https URL; write it as https://example.com/hooks/sluice", s)
			case u.User != nil:
				r.errorf(f.pos(), f.path, "the URL holds a user or password, which this file is no place for; the secret in secret_env signs each request instead")
			default:
				w.URL = s
			}
		}
	} else {
		r.missing(joinPath(block.path, "url"), "add url: https://example.com/hooks/sluice")
	}
	if f, ok := fs["secret_env"]; ok {
		w.SecretEnv = r.varName(f, "the signing secret", "SLUICE_NOTIFY_SECRET")
		*vars = append(*vars, notifyVar{name: w.SecretEnv, channel: channel, what: "the signing secret", path: f.path, at: f.pos()})
	} else {
		r.missing(joinPath(block.path, "secret_env"), "name the variable holding the signing secret, e.g. secret_env: SLUICE_NOTIFY_SECRET; receivers check each request's signature with it")
	}
}

// varName reads the name of an environment variable that holds what, such as example.
func (r *reader) varName(f field, what, example string) string {
	s, ok := r.str(f)
	if !ok {
		return ""
	}
	if !validVarName(s) {
		r.errorf(f.pos(), f.path, "%q is not an environment variable name; name the variable that holds %s, such as %s", s, what, example)
		return ""
	}
	return s
}

// eventPatterns are the patterns rules may use, for suggestions: every stored type without its
// "sluice." prefix, and each group with ".*".
func eventPatterns() []string {
	set := map[string]bool{"*": true}
	for _, t := range sluice.EventTypes() {
		if !t.Stored() {
			continue
		}
		name := strings.TrimPrefix(string(t), "sluice.")
		set[name] = true
		group, _, _ := strings.Cut(name, ".")
		set[group+".*"] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// matchesStored reports whether pattern matches an event type that reaches the store.
func matchesStored(pattern string) bool {
	for _, t := range sluice.EventTypes() {
		if t.Stored() && t.Matches(pattern) {
			return true
		}
	}
	return false
}

func (r *reader) readRules(f field, rt *Route, channels []Channel) []NotifyRule {
	items, ok := r.list(f, "a list of rules such as {events: [execution.failed], channels: [team]}")
	if !ok {
		return nil
	}
	channelNames := make([]string, 0, len(channels))
	for _, c := range channels {
		channelNames = append(channelNames, c.Name)
	}
	envNames := make([]string, 0, len(rt.Environments))
	for _, e := range rt.Environments {
		envNames = append(envNames, e.Name)
	}
	var out []NotifyRule
	for _, it := range items {
		fs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, ruleKeys)
		if !ok {
			continue
		}
		var rule NotifyRule
		if f, ok := fs["events"]; ok {
			rule.Events = r.checkedItems(f, "a list of event types or patterns such as deployment.*", "add the events to send, e.g. [execution.failed, approval.requested]", func(it strItem) bool {
				switch {
				case strings.TrimPrefix(it.s, "sluice.") == "deployment.progress":
					r.errorf(it.pos, it.path, "deployment.progress is never stored, so it cannot be notified; use deployment.* for a deployment's start and end")
				case !matchesStored(it.s):
					r.errorf(it.pos, it.path, "%q matches no event type%s (docs/events.md lists them)", it.s, didYouMean(strings.TrimPrefix(it.s, "sluice."), eventPatterns()))
				default:
					return true
				}
				return false
			})
		} else {
			r.missing(joinPath(it.path, "events"), "add the events to send, e.g. events: [execution.failed, approval.requested, deployment.rolled_back]")
		}
		if f, ok := fs["environments"]; ok {
			rule.Environments = r.checkedItems(f, "a list of environment names", "", func(it strItem) bool {
				return r.known(it, "environment", envNames)
			})
		}
		if f, ok := fs["pipelines"]; ok {
			rule.Pipelines = r.checkedItems(f, "a list of pipeline kinds (main, branch, pull_request) or branch patterns", "", func(it strItem) bool {
				if strings.TrimSpace(it.s) == "" || strings.ContainsAny(it.s, "[]\\") {
					r.errorf(it.pos, it.path, "%q is not a pipeline filter; write main, branch, pull_request, or a branch pattern such as release-*", it.s)
					return false
				}
				return true
			})
		}
		if f, ok := fs["channels"]; ok {
			rule.Channels = r.checkedItems(f, "a list of channel names", "name the channels to send to", func(it strItem) bool {
				return r.known(it, "channel", channelNames)
			})
		} else {
			r.missing(joinPath(it.path, "channels"), "name the channels to send to, e.g. channels: [team]")
		}
		out = append(out, rule)
	}
	return out
}

// checkedItems reads a list of strings and keeps those check accepts (check reports the others).
// An empty list is an error when empty says what to add instead.
func (r *reader) checkedItems(f field, want, empty string, check func(strItem) bool) []string {
	items, _ := r.strItems(f, want)
	var out []string
	for _, it := range items {
		if check(it) {
			out = append(out, it.s)
		}
	}
	if len(items) == 0 && empty != "" {
		r.errorf(f.pos(), f.path, "empty list; %s", empty)
	}
	return out
}

// known reports whether it names one of names (a kind of thing), and says so where it does not.
func (r *reader) known(it strItem, kind string, names []string) bool {
	if slices.Contains(names, it.s) {
		return true
	}
	r.errorf(it.pos, it.path, "no %s is called %q%s", kind, it.s, didYouMean(it.s, names))
	return false
}
