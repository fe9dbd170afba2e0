package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestDiagnosticString(t *testing.T) {
	d := Diagnostic{File: "hello.yaml", Line: 14, Col: 7, Severity: SeverityError, Path: "environments[1].deploy.strategy", Message: `unknown strategy "Linear5Percent"`}
	want := `hello.yaml:14:7: error: environments[1].deploy.strategy: unknown strategy "Linear5Percent"`
	if got := d.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDiagnosticsErr(t *testing.T) {
	warning := Diagnostic{File: "f", Line: 1, Col: 1, Severity: SeverityWarning, Path: "a", Message: "w"}
	failure := Diagnostic{File: "f", Line: 2, Col: 1, Severity: SeverityError, Path: "b", Message: "e"}
	tests := []struct {
		name      string
		diags     Diagnostics
		hasErrors bool
		errText   string
	}{
		{"none", nil, false, ""},
		{"only warnings", Diagnostics{warning}, false, ""},
		{"an error", Diagnostics{warning, failure}, true, "f:2:1: error: b: e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.diags.HasErrors(); got != tt.hasErrors {
				t.Errorf("HasErrors = %v, want %v", got, tt.hasErrors)
			}
			err := tt.diags.Err()
			if tt.errText == "" {
				if err != nil {
					t.Errorf("Err = %v, want nil", err)
				}
				return
			}
			if sluice.ErrorCode(err) != sluice.EINVALID || !sluice.IsTerminal(err) {
				t.Errorf("Err = %#v, want a terminal EINVALID", err)
			}
			if err.Error() != tt.errText {
				t.Errorf("Err text %q, want %q (warnings left out)", err.Error(), tt.errText)
			}
			var diags Diagnostics
			if !errors.As(err, &diags) || len(diags) != len(tt.diags) {
				t.Errorf("Err does not unwrap to the diagnostics: %v", diags)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(good, readFile(t, "testdata/valid/minimal.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	route, diags, err := ParseFile(good)
	if err != nil || diags.HasErrors() || route == nil || route.Name != "tiny" {
		t.Fatalf("ParseFile(%s) = %v, %v, %v", good, route, diags, err)
	}

	missing := filepath.Join(dir, "nope.yaml")
	_, _, err = ParseFile(missing)
	if sluice.ErrorCode(err) != sluice.ENOTFOUND || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v (code %q), want ENOTFOUND wrapping ErrNotExist", err, sluice.ErrorCode(err))
	}
	if err != nil && !strings.Contains(err.Error(), "pass -f FILE") {
		t.Errorf("missing file: %q does not say what to do", err)
	}

	_, _, err = ParseFile(dir)
	if err == nil {
		t.Error("a directory: got no error")
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	route, diags, err = ParseFile(bad)
	if err != nil || route != nil || !diags.HasErrors() || diags[0].File != bad {
		t.Errorf("invalid file: got %v, %v, %v; want diagnostics naming %s", route, diags, err, bad)
	}
}

// TestDefaults pins what Parse fills in for a file that says as little as it may.
func TestDefaults(t *testing.T) {
	route, diags := Parse("", readFile(t, "testdata/valid/minimal.yaml"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	env := route.Environments[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"source.repo", route.Source.Repo, "."},
		{"source.branch", route.Source.Branch, DefaultBranch},
		{"build.timeout", route.Build.Timeout, DefaultBuildTimeout},
		{"service.port_env", route.Service.PortEnv, DefaultPortEnv},
		{"service.health", route.Service.Health, Health{Path: DefaultHealthPath, Interval: DefaultHealthEvery, Timeout: DefaultHealthTimeout, StartTimeout: DefaultStartTimeout}},
		{"execution_mode", route.ExecutionMode, sluice.ModeSuperseded},
		{"target", env.Target, TargetLocal},
		{"strategy", env.Deploy.Strategy, sluice.PredefinedStrategies["AllAtOnce"]},
		{"drain_timeout", env.Deploy.DrainTimeout, DefaultDrainTimeout},
		{"approval.timeout", env.Approval.Timeout, DefaultApprovalWait},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	gated, diags := Parse("g.yaml", []byte(`version: 1
name: g
build: {commands: [make], artifact: [dist/]}
checks: [{name: unit, run: go test}]
service: {command: [dist/app], health: /ready}
environments:
  - name: dev
    deploy:
      strategy: Canary10Percent5Minutes
      alarms: [{metric: errors, threshold: 1, window: 10s}]
`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if g := gated.Checks[0]; g.RunOrder != 1 || g.Timeout != DefaultGateTimeout {
		t.Errorf("check defaults: run_order %d timeout %s", g.RunOrder, g.Timeout)
	}
	if h := gated.Service.Health; h.Path != "/ready" || h.Interval != time.Second {
		t.Errorf("health as a path: %+v", h)
	}
	if a := gated.Environments[0].Deploy.Alarms[0]; a.Name != "errors" || a.MinRequests != 1 {
		t.Errorf("alarm defaults: %+v", a)
	}
}

func TestParseDiagnosticsFileName(t *testing.T) {
	_, diags := Parse("", []byte("version: 1\n"))
	if len(diags) == 0 || diags[0].File != DefaultFile {
		t.Errorf("empty filename: got %v, want diagnostics naming %s", diags, DefaultFile)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"comands", buildKeys, "commands"},
		{"Port-Env", serviceKeys, "port_env"},
		{"enviroments", routeKeys, "environments"},
		{"zzz", routeKeys, ""},
		{"", routeKeys, ""},
		{"Linear10PercentEvery1Minutes", sluice.StrategyNames(), "Linear10PercentEvery1Minute"},
		{"allatonce", sluice.StrategyNames(), "AllAtOnce"},
		{"error-rate", metricNames, "error_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			if got := Suggest(tt.word, tt.candidates); got != tt.want {
				t.Errorf("Suggest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data := readFile(b, "testdata/valid/architecture-example.yaml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, diags := Parse("sluice.yaml", data); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
