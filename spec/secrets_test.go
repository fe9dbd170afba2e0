package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestUnsetSecrets(t *testing.T) {
	const file = `version: 1
name: shop
build:
  commands: [make]
  artifact: [dist/]
secrets:
  - DATABASE_URL
  - {name: STRIPE_KEY, required: true}
  - name: EMPTY_ONE
    required: true
  - SET_ONE
service:
  command: [dist/shop]
environments:
  - name: dev
`
	route, diags := Parse("shop.yaml", []byte(file))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if want := []string{"DATABASE_URL", "STRIPE_KEY", "EMPTY_ONE", "SET_ONE"}; !slices.Equal(route.Secrets, want) {
		t.Fatalf("Secrets = %v, want %v", route.Secrets, want)
	}
	if want := []string{"STRIPE_KEY", "EMPTY_ONE"}; !slices.Equal(route.RequiredSecrets(), want) {
		t.Fatalf("RequiredSecrets = %v, want %v", route.RequiredSecrets(), want)
	}
	env := map[string]string{"SET_ONE": "value", "EMPTY_ONE": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	got := route.UnsetSecrets(lookup)
	want := []string{
		"shop.yaml:7:5: warning: secrets[0]: secret DATABASE_URL is not set in Sluice's environment, so actions and the service get it empty",
		"shop.yaml:8:12: warning: secrets[1].name: secret STRIPE_KEY is required but not set in Sluice's environment, so executions will not start",
		"shop.yaml:9:11: warning: secrets[2].name: secret EMPTY_ONE is required but not set",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(want), got)
	}
	for i, d := range got {
		if !strings.HasPrefix(d.String(), want[i]) {
			t.Errorf("diagnostic %d:\n got %s\nwant %s...", i, d, want[i])
		}
	}
	if got.HasErrors() {
		t.Error("an unset secret is a warning at validate: the machine that validates may not hold the secrets")
	}
	if missing := route.MissingRequiredSecrets(lookup); !slices.Equal(missing, []string{"STRIPE_KEY", "EMPTY_ONE"}) {
		t.Fatalf("MissingRequiredSecrets = %v", missing)
	}
	env["STRIPE_KEY"], env["EMPTY_ONE"], env["DATABASE_URL"] = "sk_live_1", "x", "postgres://"
	if d := route.UnsetSecrets(lookup); len(d) != 0 {
		t.Fatalf("all set, still %v", d)
	}
	if m := route.MissingRequiredSecrets(lookup); len(m) != 0 {
		t.Fatalf("all set, still missing %v", m)
	}
}

// TestUnsetNotifyVars: each variable a channel reads that is not set is a warning where the
// file makes the channel read it.
func TestUnsetNotifyVars(t *testing.T) {
	src := `version: 1
name: hello-api
build: {commands: [make], artifact: [dist/]}
service: {command: [dist/app]}
environments: [{name: dev}]
notifications:
  channels:
    - name: team
      email: {to: [a@example.com]}
    - name: ops
      webhook: {url: "https://example.com", secret_env: HOOK_SECRET}
    - name: chat
      slack: {url_env: SLACK_URL}
  rules:
    - events: ["*"]
      channels: [team, ops, chat]
`
	rt, diags := Parse("sluice.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	set := map[string]string{"SLACK_URL": "https://hooks.slack.com/x", "HOOK_SECRET": ""}
	got := rt.UnsetNotifyVars(func(k string) (string, bool) { v, ok := set[k]; return v, ok })
	want := []string{
		"sluice.yaml:9:7: warning: notifications.channels[0].email: SLUICE_SMTP_URL is not set in Sluice's environment; channel team needs it (the SMTP server, such as smtp://user:pass@mail.example.com:587), and its notices wait until sluice up or sluice run starts with it set",
		"sluice.yaml:11:57: warning: notifications.channels[1].webhook.secret_env: HOOK_SECRET is not set in Sluice's environment; channel ops needs it (the signing secret), and its notices wait until sluice up or sluice run starts with it set",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(want), got.Error())
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("warning %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
