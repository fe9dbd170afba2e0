package cli_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

var update = flag.Bool("update", false, "rewrite testdata/json/*.shape from the outputs of this run")

// shape is the keys of a JSON document and the types found at each: "stages[].actions[].status"
// → {"string"}. Objects whose keys are data (env, outputs) have their keys as "*".
type shape map[string]map[string]bool

// dataKeys are objects whose keys are names chosen by users, not part of the format.
var dataKeys = map[string]bool{"env": true, "outputs": true, "secret_hashes": true}

func (s shape) add(path string, v any) {
	kind := "null"
	switch v := v.(type) {
	case map[string]any:
		kind = "object"
		for k, child := range v {
			name := k
			if dataKeys[lastKey(path)] {
				name = "*"
			}
			s.add(join(path, name), child)
		}
	case []any:
		kind = "array"
		for _, child := range v {
			s.add(path+"[]", child)
		}
	case string:
		kind = "string"
	case float64:
		kind = "number"
	case bool:
		kind = "bool"
	}
	if s[path] == nil {
		s[path] = map[string]bool{}
	}
	s[path][kind] = true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func lastKey(path string) string {
	path = strings.TrimRight(path, "[]")
	return path[strings.LastIndex(path, ".")+1:]
}

func (s shape) lines() []string {
	var out []string
	for path, kinds := range s {
		if path == "" {
			continue
		}
		ks := make([]string, 0, len(kinds))
		for k := range kinds {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		out = append(out, path+": "+strings.Join(ks, "|"))
	}
	sort.Strings(out)
	return out
}

// outputs collects the shapes of every --json output of a scenario, by command.
type outputs map[string]shape

func (o outputs) add(t *testing.T, command string, res result) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
		t.Fatalf("%s --json printed something that is not JSON: %v\n%s\nstderr:\n%s", command, err, res.stdout, res.stderr)
	}
	if obj, ok := v.(map[string]any); !ok || obj["format_version"] != float64(1) {
		t.Errorf("%s --json does not say format_version 1:\n%s", command, res.stdout)
	}
	if o[command] == nil {
		o[command] = shape{}
	}
	o[command].add("", v)
}

// TestJSONOutputsMatchTheDocs runs every command that has --json, as a user would, and checks
// that what each prints has the shape pinned in testdata/json (go test ./cli -run JSONOutputs
// -args -update rewrites them); TestJSONDocsMatchTheOutputs checks docs/json.md against those.
func TestJSONOutputsMatchTheDocs(t *testing.T) {
	skipShort(t)
	t.Parallel()
	got := outputs{}
	root := t.TempDir()
	invalid := filepath.Join(root, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("version: 1\nname: x\nbuild:\n  commands: [make]\n  artifact: [dist/]\nenvironments:\n  - name: Prod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, fastRoute)
	got.add(t, "validate", sluiceRun(t, r.dir, "validate", "--json"))
	got.add(t, "validate", sluiceRun(t, r.dir, "validate", "--json", "-f", invalid))
	got.add(t, "plan", sluiceRun(t, r.dir, "plan", "--json"))

	// A run that waits for prod's approval, seen while it waits, then approved.
	run := r.startSluice(nil, "run", "--json", "--state", r.state)
	pending := r.waitPending("prod")
	got.add(t, "status", sluiceRun(t, r.dir, "status", "--json", "--state", r.state))
	got.add(t, "changeset", sluiceRun(t, r.dir, "changeset", "prod", "--json", "--state", r.state))
	got.add(t, "approve", sluiceRun(t, r.dir, "approve", "prod", "--change-set", pending.ChangeSetDigest, "--comment", "looks right", "--json", "--state", r.state))
	res := run.wait(t)
	if res.code != cli.ExitOK {
		t.Fatalf("the first run: exit %d\n%s", res.code, res.stderr)
	}
	got.add(t, "run", res)
	pipelines := sluiceRun(t, r.dir, "pipelines", "--json", "--state", r.state)
	got.add(t, "pipelines", pipelines)
	var pl struct {
		Pipelines []sluice.Pipeline `json:"pipelines"`
	}
	if err := json.Unmarshal([]byte(pipelines.stdout), &pl); err != nil || len(pl.Pipelines) != 1 || pl.Pipelines[0].ID != "hello-api@main" ||
		pl.Pipelines[0].Kind != sluice.KindMain || pl.Pipelines[0].Branch != "main" || pl.Pipelines[0].State != sluice.PipelineActive {
		t.Errorf("sluice pipelines --json = %s, want the main pipeline, active", pipelines.stdout)
	}
	if text := sluiceRun(t, r.dir, "pipelines", "--state", r.state); !regexp.MustCompile(`(?m)^hello-api@main +main +branch main +active `).MatchString(text.stdout) {
		t.Errorf("sluice pipelines does not list the main pipeline:\n%s", text.stdout)
	}

	// A release that breaks prod, rolled back (with no traffic, by its post_traffic hook); then a
	// release that mends it, and a person's rollback.
	r.edit("breakprod.go", func(src string) string {
		return replaceOnce(src, "deliberatelyBreakProd = false", "deliberatelyBreakProd = true")
	})
	r.commit("break prod")
	_, s, res := r.run("--approve")
	if s.Status != sluice.StatusRolledBack {
		t.Fatalf("the broken release: %s, want RolledBack\n%s", s.Status, res.stderr)
	}
	got.add(t, "run", res)
	r.edit("breakprod.go", func(src string) string {
		return replaceOnce(src, "deliberatelyBreakProd = true", "deliberatelyBreakProd = false")
	})
	r.commit("third release: mend prod")
	if _, s, res := r.run("--approve"); s.Status != sluice.StatusSucceeded {
		t.Fatalf("the third release: %s\n%s", s.Status, res.stderr)
	}
	got.add(t, "status", sluiceRun(t, r.dir, "status", "--json", "--state", r.state))
	rollback := sluiceRunEnv(t, r.dir, []string{"SLUICE_USER=alice"}, "rollback", "prod", "--comment", "the third release is slow", "--json", "--state", r.state)
	got.add(t, "rollback", rollback)
	var d sluice.Deployment
	if err := json.Unmarshal([]byte(rollback.stdout), &d); err != nil || d.Rollback == nil ||
		d.Rollback.Cause != sluice.CauseManual || d.Rollback.By != "alice" || d.Rollback.Detail != "the third release is slow" {
		t.Errorf("sluice rollback --json = %s, want cause manual by alice with the comment", rollback.stdout)
	}
	got.add(t, "history", sluiceRun(t, r.dir, "history", "prod", "--json", "--state", r.state))
	if h := sluiceRun(t, r.dir, "history", "prod", "--state", r.state); !strings.Contains(h.stdout, `manual rollback by alice: "the third release is slow"`) {
		t.Errorf("history does not say who rolled prod back and why:\n%s", h.stdout)
	}

	// A run stopped at its approval, and one rejected.
	r.edit("README.md", func(s string) string { return s + "\nA fourth release.\n" })
	r.commit("fourth release")
	run = r.startSluice(nil, "run", "--json", "--state", r.state)
	pending = r.waitPending("prod")
	got.add(t, "reject", sluiceRun(t, r.dir, "reject", "prod", "--change-set", pending.ChangeSetDigest, "--json", "--state", r.state))
	run.wait(t)
	r.edit("README.md", func(s string) string { return s + "\nA fifth release.\n" })
	r.commit("fifth release")
	run = r.startSluice(nil, "run", "--json", "--state", r.state)
	pending = r.waitPending("prod")
	got.add(t, "stop", sluiceRun(t, r.dir, "stop", pending.ExecutionID, "--json", "--state", r.state))
	run.wait(t)

	for command, s := range got {
		checkGolden(t, command, s)
	}
}

// TestJSONDocsMatchTheOutputs checks docs/json.md against the shapes pinned from real runs by
// TestJSONOutputsMatchTheDocs.
func TestJSONDocsMatchTheOutputs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "json", "*.shape"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/json/*.shape (%v); run go test ./cli -run JSONOutputs -args -update", err)
	}
	got := outputs{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s := shape{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			path, kinds, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s: %q is not PATH: TYPES", file, line)
			}
			s[path] = map[string]bool{}
			for _, k := range strings.Split(kinds, "|") {
				s[path][k] = true
			}
		}
		got[strings.TrimSuffix(filepath.Base(file), ".shape")] = s
	}
	checkDocs(t, got)
}

func sluiceRunEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd, stdout, stderr := sluiceCmd(t.Context(), dir, args...)
	cmd.Env = append(cmd.Env, env...)
	return wait(t, cmd, stdout, stderr, cmd.Run())
}

func checkGolden(t *testing.T, command string, s shape) {
	t.Helper()
	path := filepath.Join("testdata", "json", command+".shape")
	text := strings.Join(s.lines(), "\n") + "\n"
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./cli -run JSONOutputs -args -update to write it", err)
	}
	if string(want) != text {
		t.Errorf("sluice %s --json changed shape (go test ./cli -run JSONOutputs -args -update accepts it; then update docs/json.md):\n%s",
			command, lineDiff(strings.Split(strings.TrimSpace(string(want)), "\n"), s.lines()))
	}
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// documentedOnly are keys docs/json.md documents that the scenario above does not produce, and
// why that is right.
var documentedOnly = map[string]string{
	"run stages[].actions[].outputs.*":                      "only when an action writes $SLUICE_OUTPUT",
	"run environments[].last_deployment.rollback.alarm":     "only when an alarm, not a hook, rolled back",
	"run environments[].last_deployment.rollback.metric":    "only when an alarm, not a hook, rolled back",
	"run environments[].last_deployment.rollback.value":     "only when an alarm, not a hook, rolled back",
	"run environments[].last_deployment.rollback.threshold": "only when an alarm, not a hook, rolled back",
	"history deployments[].rollback.alarm":                  "only when an alarm, not a hook, rolled back",
	"history deployments[].rollback.metric":                 "only when an alarm, not a hook, rolled back",
	"history deployments[].rollback.value":                  "only when an alarm, not a hook, rolled back",
	"history deployments[].rollback.threshold":              "only when an alarm, not a hook, rolled back",
	"history approvals[].expired":                           "only when nobody decided in time",
	"status environments[].serving.versions[].problem":      "only while a crashed live version is being restarted",
	"status environments[].serving.versions[].restarts":     "only once a crashed live version was restarted",
	"status environments[].serving.versions[].last_restart": "only once a crashed live version was restarted",
	"status executions[].waiting":                           "only while an execution waits for a lock or a freeze",
	"changeset from":                                        "absent only when the environment runs nothing yet",
	"changeset to.secrets":                                  "only when the route declares secrets",
	"changeset to.secrets[]":                                "only when the route declares secrets",
	"changeset to.secret_hashes":                            "only when the route declares secrets",
	"changeset to.secret_hashes.*":                          "only when the route declares secrets",
	"approve comment":                                       "only when the decision has a comment",
	"reject comment":                                        "only when the decision has a comment",
	"status environments[].progress":                        "only while traffic shifts",
	"status environments[].progress.phase":                  "only while traffic shifts",
	"status environments[].progress.weight":                 "only while traffic shifts",
	"status environments[].problem":                         "only when an environment cannot be restored",
	"status executions[].error":                             "only for an execution that did not succeed",
	"status environments[].frozen":                          "only while the environment is frozen",
	"pipelines pipelines[].pull_request":                    "only for a pull request's pipeline",
	"pipelines pipelines[].removed_at":                      "only once a pipeline's branch or pull request is gone",
	"pipelines pipelines[].removed_because":                 "only once a pipeline's branch or pull request is gone",
	"pipelines pipelines[].expires_at":                      "only for a pull request's pipeline with an ephemeral environment",
}

// documentedOnlyKey reports whether path, or an object or array it is in, is in documentedOnly.
func documentedOnlyKey(command, path string) bool {
	for p := path; p != ""; {
		if documentedOnly[command+" "+p] != "" {
			return true
		}
		if strings.HasSuffix(p, "[]") {
			p = strings.TrimSuffix(p, "[]")
		} else if i := strings.LastIndexAny(p, "."); i >= 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
	return false
}

// checkDocs checks each ```json example of docs/json.md against the outputs of its command (the
// section's heading names it): every key an output has is documented, and every documented key
// is one an output has.
func checkDocs(t *testing.T, got outputs) {
	t.Helper()
	docs := map[string]shape{}
	for _, name := range []string{"json.md", "plan-json.md"} {
		examples, err := docExamples(filepath.Join("..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		for command, s := range examples {
			if docs[command] == nil {
				docs[command] = shape{}
			}
			for path, kinds := range s {
				if docs[command][path] == nil {
					docs[command][path] = map[string]bool{}
				}
				for k := range kinds {
					docs[command][path][k] = true
				}
			}
		}
	}
	docs["reject"], docs["retry"] = docs["approve"], docs["run"]
	for command, s := range got {
		doc, ok := docs[command]
		if !ok {
			t.Errorf("docs/json.md has no ```json example under a heading for sluice %s --json", command)
			continue
		}
		for path, kinds := range s {
			if path == "" {
				continue
			}
			dk, ok := doc[path]
			switch {
			case !ok:
				t.Errorf("docs/json.md: sluice %s --json prints %s (%s), which its example does not show", command, path, strings.Join(keys(kinds), "|"))
			case !overlaps(kinds, dk):
				t.Errorf("docs/json.md: sluice %s --json prints %s as %s, the example as %s", command, path, strings.Join(keys(kinds), "|"), strings.Join(keys(dk), "|"))
			}
		}
		for path := range doc {
			if _, ok := s[path]; !ok && path != "" && !documentedOnlyKey(command, path) {
				t.Errorf("docs/json.md: the example of sluice %s --json shows %s, which it does not print", command, path)
			}
		}
	}
}

func overlaps(a, b map[string]bool) bool {
	for k := range a {
		if b[k] || k == "null" || b["null"] {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var heading = regexp.MustCompile("^#+ .*?`sluice ([a-z]+)[^`]*--json")

// docExamples reads the ```json blocks of a document by the command of the heading above them;
// several blocks under one heading add up.
func docExamples(path string) (map[string]shape, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]shape{}
	var command string
	var block []string
	inBlock := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case !inBlock && heading.MatchString(text):
			command = heading.FindStringSubmatch(text)[1]
		case !inBlock && strings.HasPrefix(text, "```json"):
			inBlock, block = true, nil
		case inBlock && strings.HasPrefix(text, "```"):
			inBlock = false
			if command == "" {
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(strings.Join(block, "\n")), &v); err != nil {
				return nil, fmt.Errorf("%s: the JSON example ending on line %d is not JSON: %v", path, line, err)
			}
			if out[command] == nil {
				out[command] = shape{}
			}
			out[command].add("", v)
		case inBlock:
			block = append(block, text)
		}
	}
	return out, sc.Err()
}
