package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestLintReportsFindingsAndExitStatus(t *testing.T) {
	dir := t.TempDir()
	good := `Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      DelaySeconds: 5
`
	bad := `Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      DelaySecs: 5
  Key:
    Type: AWS::KMS::Key
`
	suppressed := `Resources:
  Key:
    Type: AWS::KMS::Key
    Metadata:
      sluice:
        suppress:
          - id: KMS001
            reason: rotated by hand with a new key each quarter
`
	for name, text := range map[string]string{"good.yaml": good, "bad.yaml": bad, "suppressed.yaml": suppressed} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	r := sluiceRun(t, dir, "lint", "good.yaml", "suppressed.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "2 templates checked: 0 errors, 0 warnings") {
		t.Errorf("clean templates: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	r = sluiceRun(t, dir, "lint", "good.yaml", "bad.yaml")
	wantLines := []string{
		`bad.yaml:5:7: error: T012: Resources.Queue.Properties.DelaySecs: "DelaySecs" is not a property of AWS::SQS::Queue; did you mean "DelaySeconds"?`,
		`bad.yaml:6:3: error: KMS001: Resources.Key.Properties.EnableKeyRotation: key Key does not rotate its key material; set EnableKeyRotation: true`,
		"2 templates checked: 2 errors, 0 warnings",
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, w := range wantLines {
		if !strings.Contains(r.stdout, w+"\n") {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}

	r = sluiceRun(t, dir, "lint", "--json", "bad.yaml")
	var out struct {
		FormatVersion int `json:"format_version"`
		Errors        int `json:"errors"`
		Templates     []struct {
			File     string `json:"file"`
			Findings []struct {
				Line     int    `json:"line"`
				Col      int    `json:"col"`
				Rule     string `json:"rule"`
				Resource string `json:"resource"`
			} `json:"findings"`
		} `json:"templates"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if r.code != 1 || out.FormatVersion != 1 || out.Errors != 2 || len(out.Templates) != 1 || len(out.Templates[0].Findings) != 2 {
		t.Fatalf("--json: exit %d, %+v", r.code, out)
	}
	if f := out.Templates[0].Findings[1]; f.Line != 6 || f.Col != 3 || f.Rule != "KMS001" || f.Resource != "Key" {
		t.Errorf("second finding %+v, want KMS001 on Key at 6:3", f)
	}

	// Opt-in rules run only when asked; unknown rule IDs and missing files are bad usage.
	r = sluiceRun(t, dir, "lint", "--enable", "LMB001", "good.yaml")
	if r.code != 0 {
		t.Errorf("--enable LMB001 on a queue: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"lint", "--enable", "LMB01", "good.yaml"}, {"lint", "missing.yaml"}, {"lint"}, {"lint", "empty"}} {
		r = sluiceRun(t, dir, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("sluice %v: exit %d, stderr %q; want 2 and a sentence", args, r.code, r.stderr)
		}
	}
	// A directory stands for the templates in it; - for standard input.
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name": "not-a-template"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "event.json"), []byte("{\n  \"fragment\": {\n    \"Resources\": {}\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = sluiceRun(t, dir, "lint", ".")
	if r.code != 1 || !strings.Contains(r.stdout, "3 templates checked: 2 errors, 0 warnings") || strings.Contains(r.stdout, "package.json") || strings.Contains(r.stdout, "event.json") {
		t.Errorf("sluice lint .: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cmd, stdout, stderr := sluiceCmd(t.Context(), dir, "lint", "-")
	cmd.Stdin = strings.NewReader(bad)
	r = wait(t, cmd, stdout, stderr, cmd.Run())
	if r.code != 1 || !strings.Contains(r.stdout, "<stdin>:5:7: error: T012: ") {
		t.Errorf("sluice lint - : exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = sluiceRun(t, dir, "lint", "--rules")
	if r.code != 0 || !strings.Contains(r.stdout, "LMB001") || !strings.Contains(r.stdout, "opt-in") {
		t.Errorf("--rules: exit %d\n%s", r.code, r.stdout)
	}
}

// A route gates on its templates with a check that runs sluice lint in the checkout of the
// revision: a committed mistake fails the Checks stage with the finding in the log, the fix
// passes it.
func TestLintAsACheck(t *testing.T) {
	root := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(root, "app"), state: filepath.Join(root, "state")}
	if err := os.MkdirAll(filepath.Join(r.dir, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	route := `version: 1
name: lint-gate
build: {commands: ["true"], artifact: [infra/]}
checks:
  - name: templates
    run: '"$SLUICE_BIN" lint infra/template.yaml'
service: {command: [infra/missing]}
environments:
  - name: dev
`
	broken := "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySecs: 5\n"
	for name, text := range map[string]string{"sluice.yaml": route, "infra/template.yaml": broken} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.git("init", "-q", "-b", "main")
	r.commit("a route gated on its template")

	code, s, res := r.run()
	check := action(t, s, "Checks", sluice.KindCheck)
	if code != 1 || check.Status != sluice.StatusFailed {
		t.Fatalf("broken template: exit %d, check %s\n%s%s", code, check.Status, res.stdout, res.stderr)
	}
	logs := sluiceRun(t, r.dir, "logs", "--state", r.state, s.Execution, "templates")
	if want := `infra/template.yaml:5:7: error: T012: Resources.Queue.Properties.DelaySecs: "DelaySecs" is not a property of AWS::SQS::Queue; did you mean "DelaySeconds"?`; !strings.Contains(logs.stdout, want) {
		t.Errorf("the check's log lacks the finding %q:\n%s%s", want, logs.stdout, logs.stderr)
	}

	r.edit("infra/template.yaml", func(s string) string { return strings.Replace(s, "DelaySecs", "DelaySeconds", 1) })
	r.commit("fix the template")
	_, s, res = r.run()
	if check := action(t, s, "Checks", sluice.KindCheck); check.Status != sluice.StatusSucceeded {
		t.Fatalf("fixed template: check %s\n%s%s", check.Status, res.stdout, res.stderr)
	}
}
