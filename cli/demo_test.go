package cli_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// TestDemoBreakProd runs the README's demo with --break-prod: the first release reaches prod,
// the broken one passes dev and is rolled back in prod by its alarm, and the demo says so.
func TestDemoBreakProd(t *testing.T) {
	skipShort(t)
	t.Parallel()
	res := sluiceRun(t, t.TempDir(), "demo", "--approve", "--break-prod", "--json")
	var out struct {
		AsDesigned bool          `json:"as_designed"`
		Runs       []cli.Summary `json:"runs"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("decode the demo's JSON (exit %d): %v\nstderr:\n%s", res.code, err, res.stderr)
	}
	if res.code != cli.ExitOK || !out.AsDesigned || len(out.Runs) != 2 {
		t.Fatalf("exit %d, as_designed %v, %d runs\nstderr:\n%s", res.code, out.AsDesigned, len(out.Runs), res.stderr)
	}
	if out.Runs[0].Status != sluice.StatusSucceeded {
		t.Errorf("first release: %s (%s)", out.Runs[0].Status, out.Runs[0].Error)
	}
	checkBrokenRelease(t, out.Runs, res.stderr)
}

// checkBrokenRelease checks the second of a demo's runs with --break-prod: rolled back, with
// dev deployed (the break is prod-only) and prod rolled back by an alarm (one of alarms, if
// named, on a value above zero) and serving the first release again.
func checkBrokenRelease(t *testing.T, runs []cli.Summary, stderr string, alarms ...string) {
	t.Helper()
	broken := runs[1]
	if broken.Status != sluice.StatusRolledBack {
		t.Fatalf("broken release: %s, want RolledBack (%s)\nstderr:\n%s", broken.Status, broken.Error, stderr)
	}
	for _, env := range broken.Environments {
		d := env.LastDeployment
		switch env.Name {
		case "dev":
			if d == nil || d.Status != sluice.StatusSucceeded {
				t.Errorf("dev's deployment of the broken release = %+v, want Succeeded (the break is prod-only)", d)
			}
		case "prod":
			if d == nil || d.Rollback == nil || d.Rollback.Cause != sluice.CauseAlarm ||
				len(alarms) > 0 && (!slices.Contains(alarms, d.Rollback.Alarm) || d.Rollback.Value <= 0) {
				t.Fatalf("prod's deployment = %+v, want rolled back by its alarm %v", d, alarms)
			}
			if env.Live != runs[0].Artifact {
				t.Errorf("prod runs %s after the rollback, want the first release %s", env.Live, runs[0].Artifact)
			}
		}
	}
}
