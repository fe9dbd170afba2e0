package aws_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/internal/golden"
	"github.com/sluicehq/sluice/spec"
)

func TestMain(m *testing.M) {
	spec.RegisterTarget(aws.TargetKind)
	os.Exit(m.Run())
}

// TestTargetGolden parses each testdata file with the aws target registered: its diagnostics
// must match NAME.diag and, for a file without errors, each environment's target
// configuration NAME.json.
func TestTargetGolden(t *testing.T) {
	for _, name := range []string{"aws", "legacy", "invalid"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", name+".yaml")
			route, diags := spec.Parse(name+".yaml", read(t, file))
			if diags.HasErrors() != (name == "invalid") {
				t.Fatalf("errors: %v; diagnostics:\n%s", diags.HasErrors(), diags.Error())
			}
			var text strings.Builder
			for _, d := range diags {
				fmt.Fprintln(&text, d)
			}
			golden.Check(t, filepath.Join("testdata", name+".diag"), []byte(text.String()))
			if route == nil {
				return
			}
			configs := map[string]any{}
			for _, env := range route.Environments {
				if env.Target != aws.Kind {
					t.Errorf("%s: target %q", env.Name, env.Target)
				}
				if _, ok := env.TargetConfig.(*aws.Target); !ok {
					t.Errorf("%s: config %#v is not an *aws.Target", env.Name, env.TargetConfig)
				}
				configs[env.Name] = env.TargetConfig
			}
			js, err := json.MarshalIndent(configs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".json"), append(js, '\n'))
		})
	}
}

// TestSchema holds schema/sluice.schema.json to this package: the aws block has the keys of
// Target, and the block form of the route validates.
func TestSchema(t *testing.T) {
	var schema struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	raw := read(t, "../schema/sluice.schema.json")
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for key := range schema.Defs["awsTarget"].Properties {
		keys = append(keys, key)
	}
	if got, want := strings.Join(sorted(keys), ","), strings.Join(sorted(aws.TargetKind.Keys), ","); got != want {
		t.Errorf("schema $defs/awsTarget has keys %s, the decoder reads %s", got, want)
	}

	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sluice.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sluice.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"testdata/aws.yaml", "../examples/serverless-api/sluice.yaml"} {
		var v any
		if err := yaml.Unmarshal(read(t, file), &v); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("schema rejects %s: %v", file, err)
		}
	}
}

func sorted(xs []string) []string {
	return slices.Sorted(slices.Values(xs))
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
