package plan_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/internal/golden"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

func TestMain(m *testing.M) {
	spec.RegisterTarget(aws.TargetKind)
	os.Exit(m.Run())
}

// TestGolden compiles every valid route of the spec package's test data, and the aws target's
// route, and compares the plan, as JSON and as text, with testdata/<name>.json and .txt.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../spec/testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid routes found: %v", err)
	}
	files = append(files, "../aws/testdata/aws.yaml")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			p := compile(t, file)
			var js bytes.Buffer
			enc := json.NewEncoder(&js)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".json"), js.Bytes())
			golden.Check(t, filepath.Join("testdata", name+".txt"), []byte(p.Text()))
		})
	}
}

func compile(t *testing.T, file string) *plan.Plan {
	t.Helper()
	return plan.Compile(parse(t, file))
}

func parse(t *testing.T, file string) *spec.Route {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	route, diags := spec.Parse(filepath.Base(file), data)
	if diags.HasErrors() {
		t.Fatalf("%s is not valid:\n%s", file, diags.Error())
	}
	return route
}

// TestShape checks the contract every plan keeps, whatever the route: stage order, the action
// kinds of an environment stage, and run orders.
func TestShape(t *testing.T) {
	files, _ := filepath.Glob("../spec/testdata/valid/*.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := parse(t, file)
			p := plan.Compile(r)
			want := []string{plan.StageSource, plan.StageBuild}
			if len(r.Checks) > 0 {
				want = append(want, plan.StageChecks)
			}
			for _, env := range r.Environments {
				want = append(want, env.Name)
			}
			var got []string
			for _, s := range p.Stages {
				got = append(got, s.Name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("stages %v, want %v", got, want)
			}
			for _, env := range r.Environments {
				st := p.Stage(env.Name)
				kinds := []sluice.ActionKind{sluice.KindCreateChangeSet}
				if env.Approval.Required {
					kinds = append(kinds, sluice.KindApproval)
				}
				kinds = append(kinds, sluice.KindExecuteChangeSet)
				for range env.Tests {
					kinds = append(kinds, sluice.KindTest)
				}
				if len(st.Actions) != len(kinds) {
					t.Fatalf("%s has %d actions, want %d", env.Name, len(st.Actions), len(kinds))
				}
				last := 0
				for i, a := range st.Actions {
					if a.Kind != kinds[i] {
						t.Errorf("%s action %d is %s, want %s", env.Name, i, a.Kind, kinds[i])
					}
					if a.RunOrder < last {
						t.Errorf("%s action %s has run order %d after %d", env.Name, a.Name, a.RunOrder, last)
					}
					last = a.RunOrder
				}
			}
		})
	}
}

func TestGroups(t *testing.T) {
	s := plan.Stage{Actions: []plan.Action{{Name: "a", RunOrder: 1}, {Name: "b", RunOrder: 1}, {Name: "c", RunOrder: 2}}}
	groups := s.Groups()
	if len(groups) != 2 || len(groups[0]) != 2 || groups[1][0].Name != "c" {
		t.Fatalf("groups = %+v, want [[a b] [c]]", groups)
	}
}
