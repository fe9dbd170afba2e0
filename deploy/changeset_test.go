package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

func version() sluice.Version {
	return sluice.Version{
		Artifact: "sha256:aa", Revision: "abc", Command: []string{"dist/app"}, PortEnv: "PORT",
		Env: map[string]string{"LOG_LEVEL": "info", "DB_PASSWORD": "hunter22"}, Secrets: []string{"DB_PASSWORD"},
		HealthPath: "/healthz", HealthEvery: sluice.Duration(time.Second), Strategy: sluice.PredefinedStrategies["AllAtOnce"],
	}
}

func fields(cs sluice.ChangeSet) map[string]sluice.Change {
	out := map[string]sluice.Change{}
	for _, c := range cs.Changes {
		out[c.Field] = c
	}
	return out
}

func TestDiff(t *testing.T) {
	base := version()
	tests := []struct {
		name     string
		from     *sluice.Version
		change   func(v *sluice.Version)
		want     []string // fields expected to change
		replaces bool
	}{
		{name: "same version is empty", from: &base, change: func(*sluice.Version) {}, want: nil},
		{name: "new artifact", from: &base, change: func(v *sluice.Version) { v.Artifact = "sha256:bb"; v.Revision = "def" }, want: []string{"artifact", "revision"}, replaces: true},
		{name: "config key", from: &base, change: func(v *sluice.Version) { v.Env = map[string]string{"LOG_LEVEL": "debug", "DB_PASSWORD": "hunter22"} }, want: []string{"env.LOG_LEVEL"}, replaces: true},
		{name: "strategy only needs no new version", from: &base, change: func(v *sluice.Version) { v.Strategy = sluice.PredefinedStrategies["Canary10Percent5Minutes"] }, want: []string{"strategy"}},
		{name: "first deployment lists everything", from: nil, change: func(*sluice.Version) {}, want: []string{"artifact", "command", "env.LOG_LEVEL", "env.DB_PASSWORD"}, replaces: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := version()
			to.Env = map[string]string{"LOG_LEVEL": "info", "DB_PASSWORD": "hunter22"}
			tt.change(&to)
			cs := deploy.Diff("prod", tt.from, to)
			got := fields(cs)
			if len(tt.want) == 0 && !cs.Empty() {
				t.Fatalf("want an empty change set, got %+v", cs.Changes)
			}
			for _, f := range tt.want {
				if _, ok := got[f]; !ok {
					t.Errorf("change set lacks %s: %+v", f, cs.Changes)
				}
			}
			if deploy.NeedsNewVersion(&cs) != tt.replaces {
				t.Errorf("NeedsNewVersion = %v, want %v", !tt.replaces, tt.replaces)
			}
		})
	}
}

func TestDiffMasksSecrets(t *testing.T) {
	from, to := version(), version()
	to.Env = map[string]string{"LOG_LEVEL": "info", "DB_PASSWORD": "correct-horse"}
	cs := deploy.Diff("prod", &from, to)
	c, ok := fields(cs)["env.DB_PASSWORD"]
	if !ok {
		t.Fatalf("a changed secret must still show as a change: %+v", cs.Changes)
	}
	if c.From != deploy.Masked || c.To != deploy.Masked {
		t.Errorf("secret values shown: %q -> %q", c.From, c.To)
	}
}

// TestDigestBindsContent: an approval is bound to a digest, so any difference in what would be
// deployed must change it, and the same content must give the same digest.
func TestDigestBindsContent(t *testing.T) {
	a, b := version(), version()
	if deploy.Diff("prod", nil, a).Digest != deploy.Diff("prod", nil, b).Digest {
		t.Fatal("same change, different digests")
	}
	b.Env = map[string]string{"LOG_LEVEL": "warn", "DB_PASSWORD": "hunter22"}
	if deploy.Diff("prod", nil, a).Digest == deploy.Diff("prod", nil, b).Digest {
		t.Fatal("different config, same digest")
	}
	if deploy.Diff("prod", nil, a).Digest == deploy.Diff("dev", nil, a).Digest {
		t.Fatal("different environment, same digest")
	}
	live := version()
	if deploy.Diff("prod", &live, a).Digest == deploy.Diff("prod", nil, a).Digest {
		t.Fatal("different starting point, same digest")
	}
}

// TestDiffSecretRotation: rotating a secret's value is a reviewed change, shown and digested by
// its keyed hash, never by its value.
func TestDiffSecretRotation(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	withSecret := func(value string) sluice.Version {
		v := version()
		v.Secrets = []string{"DB_PASSWORD", "API_TOKEN"}
		v.SecretHashes = map[string]string{"DB_PASSWORD": deploy.SecretHash(key, "DB_PASSWORD", value)}
		return v
	}
	live := withSecret("hunter22")
	same := deploy.Diff("prod", &live, withSecret("hunter22"))
	if !same.Empty() {
		t.Fatalf("the same secret value gave changes: %+v", same.Changes)
	}
	rotated := deploy.Diff("prod", &live, withSecret("correct-horse"))
	c, ok := fields(rotated)["secret.DB_PASSWORD"]
	if !ok || !c.Replaces || !deploy.NeedsNewVersion(&rotated) {
		t.Fatalf("a rotated secret is not a change that needs a new version: %+v", rotated.Changes)
	}
	if rotated.Digest == same.Digest {
		t.Fatal("rotation left the digest unchanged, so an old approval would cover it")
	}
	for _, text := range []string{c.From, c.To} {
		if !strings.HasPrefix(text, "(secret ") || strings.Contains(text, "hunter22") || strings.Contains(text, "correct-horse") {
			t.Errorf("change shows %q", text)
		}
	}
	set := withSecret("x")
	set.SecretHashes["API_TOKEN"] = deploy.SecretHash(key, "API_TOKEN", "tok")
	if c := fields(deploy.Diff("prod", &live, set))["secret.API_TOKEN"]; c.From != "(unset)" || !strings.HasPrefix(c.To, "(secret ") {
		t.Errorf("a secret set for the first time shows %q -> %q", c.From, c.To)
	}
	old := version() // planned before secret hashes were kept
	old.Secrets = []string{"DB_PASSWORD", "API_TOKEN"}
	if c := fields(deploy.Diff("prod", &old, live))["secret.DB_PASSWORD"]; c.From != "(not recorded)" {
		t.Errorf("a version without recorded hashes shows %q", c.From)
	}
	if deploy.SecretHash(key, "A", "v") == deploy.SecretHash([]byte("another key of thirty-two bytes!"), "A", "v") ||
		deploy.SecretHash(key, "A", "v") == deploy.SecretHash(key, "B", "v") {
		t.Fatal("the hash must depend on the key and the name")
	}
}
