package cli_test

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// awsDemo is the JSON of `sluice demo --aws --json`.
type awsDemo struct {
	AsDesigned bool          `json:"as_designed"`
	Runs       []cli.Summary `json:"runs"`
	AWS        struct {
		Simulation bool             `json:"simulation"`
		Calls      []map[string]int `json:"calls_per_run"`
		Alias      []struct {
			Function, Alias, Version string
			Steps                    []string
		} `json:"prod_alias_per_run"`
	} `json:"aws"`
}

// demoAWS runs `sluice demo --aws` as a real process and decodes its JSON.
func demoAWS(t *testing.T, args ...string) (awsDemo, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("sluice demo --aws runs the function as a Linux executable")
	}
	skipShort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd, stdout, stderr := sluiceCmd(ctx, t.TempDir(), append([]string{"demo", "--aws", "--approve", "--json"}, args...)...)
	res := wait(t, cmd, stdout, stderr, cmd.Run())
	var out awsDemo
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("decode the demo's JSON (exit %d): %v\nstderr:\n%s", res.code, err, res.stderr)
	}
	if res.code != cli.ExitOK || !out.AsDesigned || len(out.Runs) != 2 {
		t.Fatalf("exit %d, as_designed %v, %d runs\nstderr:\n%s", res.code, out.AsDesigned, len(out.Runs), res.stderr)
	}
	if !out.AWS.Simulation || !strings.Contains(res.stderr, "SIMULATION") || !strings.Contains(res.stderr, "No AWS account is needed") {
		t.Errorf("the output does not say AWS is simulated:\n%s", res.stderr)
	}
	if len(out.AWS.Calls) != 2 || len(out.AWS.Alias) != 2 {
		t.Fatalf("aws: %+v", out.AWS)
	}
	for _, service := range []string{"sts", "s3", "cloudformation", "lambda"} {
		if out.AWS.Calls[0][service] == 0 {
			t.Errorf("the first run made no %s call: %v", service, out.AWS.Calls[0])
		}
	}
	first := out.Runs[0]
	if first.Status != sluice.StatusSucceeded {
		t.Fatalf("first release: %s (%s)\nstderr:\n%s", first.Status, first.Error, res.stderr)
	}
	if a := out.AWS.Alias[0]; a.Version != "1" || !slices.Equal(a.Steps, []string{"$LATEST", "1"}) {
		t.Errorf("prod's alias after the first release: %+v, want the stack's alias on $LATEST, then version 1", a)
	}
	return out, res.stderr
}

// TestDemoAWS runs `sluice demo --aws`: the serverless route goes through dev (integration
// tests against the simulated API) and prod (approved change set, then a second release that
// moves the alias 10% at a time under load), each function running its real code.
func TestDemoAWS(t *testing.T) {
	t.Parallel()
	out, stderr := demoAWS(t)
	second := out.Runs[1]
	if second.Status != sluice.StatusSucceeded {
		t.Fatalf("second release: %s (%s)\nstderr:\n%s", second.Status, second.Error, stderr)
	}
	tested := false
	for _, st := range second.Stages {
		for _, a := range st.Actions {
			if st.Name == "dev" && a.Action == "integration" {
				tested = a.Status == sluice.StatusSucceeded
			}
		}
	}
	if !tested {
		t.Errorf("dev's integration tests did not pass on the second release: %+v", second.Stages)
	}
	for _, env := range second.Environments {
		if d := env.LastDeployment; d == nil || d.Status != sluice.StatusSucceeded || env.Live != second.Artifact {
			t.Errorf("%s after the second release: live %s, deployment %+v; want the second artifact %s deployed", env.Name, env.Live, d, second.Artifact)
		}
	}
	want := []string{"1"}
	for p := 10; p < 100; p += 10 {
		want = append(want, "1+2@"+itoa(p)+"%")
	}
	want = append(want, "2")
	if a := out.AWS.Alias[1]; a.Version != "2" || !slices.Equal(a.Steps, want[1:]) {
		t.Errorf("prod's alias during the second release: %+v, want %v", a, want[1:])
	}
}

// TestDemoAWSBreakProd runs `sluice demo --aws --break-prod`: the broken release passes dev,
// gets its first 10% in prod, fails there for real, and an alarm judged on those failures puts
// the alias back on the first version.
func TestDemoAWSBreakProd(t *testing.T) {
	t.Parallel()
	out, stderr := demoAWS(t, "--break-prod")
	checkBrokenRelease(t, out.Runs, stderr, "serverless-api-prod-5xx", "new-version-errors")
	a := out.AWS.Alias[1]
	if a.Version != "1" || len(a.Steps) < 2 || a.Steps[0] != "1+2@10%" || a.Steps[len(a.Steps)-1] != "1" {
		t.Errorf("prod's alias during the broken release: %+v, want 10%% on version 2, then back on version 1 alone", a)
	}
	if !strings.Contains(stderr, "demo: prod's rollback: alarm ") {
		t.Errorf("the demo does not say which alarm rolled prod back:\n%s", stderr)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
