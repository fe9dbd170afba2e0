package engine_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// grepState fails the test if any file under the state directory (the SQLite database and its
// journal included) holds needle.
func grepState(t *testing.T, dir, needle string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s holds the secret value", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretOutputsAreMasked(t *testing.T) {
	const secret = "s3cr3t-value-42"
	f := newFixture(t, routeHead+`
secrets: [MY_TOKEN]
checks:
  - name: leak
    run: "echo URL=https://user:$MY_TOKEN@example.test/db >> $SLUICE_OUTPUT; echo PLAIN=ok >> $SLUICE_OUTPUT"
  - name: after
    run_order: 2
    run: "echo \"URL=$URL\" > @OUT@/after.env"
`+devOnly)
	f.environ = append(os.Environ(), "MY_TOKEN="+secret)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s)", ex.Status, ex.Error)
	}
	rec := f.action(ex.ID, "Checks", "leak")
	if got, want := rec.Outputs["URL"], "https://user:***@example.test/db"; got != want {
		t.Errorf("stored output URL=%q, want %q", got, want)
	}
	if rec.Outputs["PLAIN"] != "ok" {
		t.Errorf("an output without a secret changed: %q", rec.Outputs["PLAIN"])
	}
	if got := f.lines("after.env"); len(got) != 1 || strings.Contains(got[0], secret) {
		t.Errorf("a later action got the output %v", got)
	}
	log, err := os.ReadFile(filepath.Join(f.engine.LogDir(ex.ID), "Checks.leak.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "output URL contains a secret value") {
		t.Errorf("the log does not say the output was masked:\n%s", log)
	}
	f.engine.Close()
	f.db.Close()
	grepState(t, f.state, secret)
}

func TestBadOutputLineDoesNotLeakSecret(t *testing.T) {
	const secret = "another-s3cret"
	f := newFixture(t, routeHead+`
secrets: [MY_TOKEN]
checks:
  - name: leak
    run: "echo \"not an output $MY_TOKEN\" >> $SLUICE_OUTPUT"
`+devOnly)
	f.environ = append(os.Environ(), "MY_TOKEN="+secret)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusFailed || !strings.Contains(ex.Error, "is not KEY=VALUE") || strings.Contains(ex.Error, secret) {
		t.Fatalf("status %s, error %q: want a failure naming the bad line, masked", ex.Status, ex.Error)
	}
	f.engine.Close()
	f.db.Close()
	grepState(t, f.state, secret)
}

func TestRequiredSecret(t *testing.T) {
	route := routeHead + `
secrets:
  - {name: MY_TOKEN, required: true}
  - OPTIONAL_ONE
` + devOnly
	t.Run("unset fails before anything runs", func(t *testing.T) {
		f := newFixture(t, route)
		f.environ = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		f.start()
		ex := f.wait(f.run().ID)
		if ex.Status != sluice.StatusFailed || !strings.Contains(ex.Error, "requires the secret MY_TOKEN") {
			t.Fatalf("status %s, error %q: want a failure naming MY_TOKEN", ex.Status, ex.Error)
		}
		if rec := f.action(ex.ID, "Source", "Checkout"); rec.Status != sluice.StatusFailed {
			t.Fatalf("Source %s: the first action should fail", rec.Status)
		}
		if ex.Artifact != "" {
			t.Fatal("the build ran without its required secret")
		}
	})
	t.Run("set runs, unset optional warns", func(t *testing.T) {
		f := newFixture(t, route)
		f.environ = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "MY_TOKEN=abcdef"}
		f.start()
		ex := f.wait(f.run().ID)
		if ex.Status != sluice.StatusSucceeded {
			t.Fatalf("status %s (%s)", ex.Status, ex.Error)
		}
		log, err := os.ReadFile(filepath.Join(f.engine.LogDir(ex.ID), "Source.Checkout.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "warning: secrets[1]: secret OPTIONAL_ONE is not set") {
			t.Errorf("no warning about the unset secret in the Source log:\n%s", log)
		}
	})
}

func TestSecretRotationChangesChangeSet(t *testing.T) {
	f := newFixture(t, routeHead+`
secrets: [MY_TOKEN]
`+devOnly)
	f.environ = append(os.Environ(), "MY_TOKEN=first-value")
	f.start()
	first := f.wait(f.run().ID)
	if first.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s)", first.Status, first.Error)
	}
	changes := func(ex *sluice.Execution) map[string]sluice.Change {
		t.Helper()
		digest := f.action(ex.ID, "dev", "CreateChangeSet").Outputs["change_set"]
		cs, err := f.db.ChangeSet(context.Background(), digest)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]sluice.Change{}
		for _, c := range cs.Changes {
			out[c.Field] = c
		}
		return out
	}
	if c, ok := changes(first)["secret.MY_TOKEN"]; !ok || c.From != "(unset)" {
		t.Fatalf("first deployment: secret change %+v", c)
	}
	f.engine.Close()
	f.db.Close()

	// Same revision, same value: nothing to deploy. Same revision, rotated value: a change.
	for _, tt := range []struct {
		value   string
		changed bool
	}{{"first-value", false}, {"second-value", true}} {
		f.git("commit", "-q", "--allow-empty", "-m", "again")
		f.environ = append(os.Environ(), "MY_TOKEN="+tt.value)
		f.start()
		ex := f.wait(f.run().ID)
		if ex.Status != sluice.StatusSucceeded {
			t.Fatalf("status %s (%s)", ex.Status, ex.Error)
		}
		c, ok := changes(ex)["secret.MY_TOKEN"]
		if ok != tt.changed {
			t.Fatalf("value %s: secret change %+v, want changed=%v", tt.value, c, tt.changed)
		}
		if ok && (!strings.HasPrefix(c.From, "(secret ") || !strings.HasPrefix(c.To, "(secret ") || c.From == c.To) {
			t.Errorf("rotation shows %q -> %q", c.From, c.To)
		}
		f.engine.Close()
		f.db.Close()
	}
	grepState(t, f.state, "first-value")
	grepState(t, f.state, "second-value")
}
