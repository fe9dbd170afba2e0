package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice"
)

const schemaPath = "../schema/sluice.schema.json"

// fileForms are Go fields that have no key of their own in the file: they are the string form
// of a key that is "a string or a mapping". The schema must offer a string branch for them.
var fileForms = map[string]bool{
	"Strategy.name": true, // strategy: Linear10PercentEvery1Minute
}

type schemaDoc struct {
	root map[string]any
	defs map[string]any
}

func loadSchemaDoc(t *testing.T) schemaDoc {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(readFile(t, schemaPath), &root); err != nil {
		t.Fatalf("read schema: %v", err)
	}
	defs, _ := root["$defs"].(map[string]any)
	return schemaDoc{root: root, defs: defs}
}

// deref follows $ref to $defs until it reaches a schema that is not a reference.
func (s schemaDoc) deref(t *testing.T, node map[string]any) map[string]any {
	t.Helper()
	for range 16 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		def, ok := s.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok {
			t.Fatalf("schema: dangling $ref %q", ref)
		}
		node = def
	}
	t.Fatal("schema: $ref cycle")
	return nil
}

// branches returns node itself, or its oneOf/anyOf alternatives, each dereferenced.
func (s schemaDoc) branches(t *testing.T, node map[string]any) []map[string]any {
	t.Helper()
	node = s.deref(t, node)
	var out []map[string]any
	for _, key := range []string{"oneOf", "anyOf"} {
		alts, _ := node[key].([]any)
		for _, alt := range alts {
			if m, ok := alt.(map[string]any); ok {
				out = append(out, s.deref(t, m))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, node)
	}
	return out
}

// types returns the JSON types a schema node admits, inferring them from enum and const.
func (s schemaDoc) types(t *testing.T, node map[string]any) []string {
	t.Helper()
	var out []string
	for _, b := range s.branches(t, node) {
		if typ, ok := b["type"].(string); ok {
			out = append(out, typ)
		}
		values, _ := b["enum"].([]any)
		if c, ok := b["const"]; ok {
			values = append(values, c)
		}
		for _, v := range values {
			switch v := v.(type) {
			case string:
				out = append(out, "string")
			case float64:
				if v == float64(int64(v)) {
					out = append(out, "integer")
				} else {
					out = append(out, "number")
				}
			case bool:
				out = append(out, "boolean")
			}
		}
	}
	return out
}

func jsonTags(typ reflect.Type) []string {
	var tags []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			tags = append(tags, name)
		}
	}
	return tags
}

// TestSchemaMatchesTypes walks Route by reflection and the schema side by side: every Go field
// has a property of a matching type at the same place, and every property has a Go field.
func TestSchemaMatchesTypes(t *testing.T) {
	s := loadSchemaDoc(t)
	s.match(t, "(root)", reflect.TypeFor[Route](), s.root)
}

var durationType = reflect.TypeFor[time.Duration]()

func (s schemaDoc) match(t *testing.T, path string, typ reflect.Type, node map[string]any) {
	t.Helper()
	types := s.types(t, node)
	want := func(jsonType string) {
		t.Helper()
		if !slices.Contains(types, jsonType) {
			t.Errorf("%s: Go %s is %s in the file, schema admits %v", path, typ, jsonType, types)
		}
	}
	switch {
	case typ == durationType:
		want("string")
	case typ.Kind() == reflect.Struct:
		want("object")
		s.matchStruct(t, path, typ, node)
	case typ.Kind() == reflect.Slice:
		want("array")
		for _, b := range s.branches(t, node) {
			if items, ok := b["items"].(map[string]any); ok {
				s.match(t, path+"[]", typ.Elem(), items)
				return
			}
		}
		t.Errorf("%s: schema array has no items", path)
	case typ.Kind() == reflect.Map:
		want("object")
		for _, b := range s.branches(t, node) {
			if values, ok := b["additionalProperties"].(map[string]any); ok {
				s.match(t, path+".*", typ.Elem(), values)
				return
			}
		}
		t.Errorf("%s: schema object has no additionalProperties schema for its values", path)
	case typ.Kind() == reflect.String:
		want("string")
	case typ.Kind() == reflect.Bool:
		want("boolean")
	case typ.Kind() == reflect.Int:
		want("integer")
	case typ.Kind() == reflect.Float64:
		want("number")
	default:
		t.Errorf("%s: no rule for Go type %s; extend the test", path, typ)
	}
}

func (s schemaDoc) matchStruct(t *testing.T, path string, typ reflect.Type, node map[string]any) {
	t.Helper()
	var props map[string]any
	hasString := false
	for _, b := range s.branches(t, node) {
		if p, ok := b["properties"].(map[string]any); ok {
			props = p
		}
		if b["type"] == "string" {
			hasString = true
		}
	}
	if props == nil {
		t.Errorf("%s: schema has no properties for Go %s", path, typ)
		return
	}
	fields := make(map[string]reflect.Type)
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if fileForms[typ.Name()+"."+name] {
			if !hasString {
				t.Errorf("%s.%s: is the string form of %s but the schema has no string branch", path, name, path)
			}
			continue
		}
		fields[name] = f.Type
		prop, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s.%s: Go field %s.%s has no schema property", path, name, typ.Name(), f.Name)
			continue
		}
		s.match(t, joinPath(strings.TrimPrefix(path, "(root)"), name), f.Type, prop)
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s.%s: schema property has no Go field in %s", path, name, typ)
		}
	}
}

// TestKnownKeysMatchTypes holds the parser's key tables to the Go types, so a field added to
// route.go is also read from the file.
func TestKnownKeysMatchTypes(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		typ   reflect.Type
		extra []string // Go fields that are not keys of this mapping
	}{
		{"route", routeKeys, reflect.TypeFor[Route](), nil},
		{"source", sourceKeys, reflect.TypeFor[Source](), nil},
		{"build", buildKeys, reflect.TypeFor[Build](), nil},
		{"gate", gateKeys, reflect.TypeFor[Gate](), nil},
		{"service", serviceKeys, reflect.TypeFor[Service](), nil},
		{"health", healthKeys, reflect.TypeFor[Health](), nil},
		{"environment", environmentKeys, reflect.TypeFor[Environment](), nil},
		{"approval", approvalKeys, reflect.TypeFor[Approval](), nil},
		{"deploy", deployKeys, reflect.TypeFor[Deploy](), nil},
		{"strategy", strategyKeys, reflect.TypeFor[sluice.Strategy](), []string{"name"}},
		{"hooks", hooksKeys, reflect.TypeFor[Hooks](), nil},
		{"alarm", alarmKeys, reflect.TypeFor[sluice.Alarm](), nil},
		{"notifications", notificationsKeys, reflect.TypeFor[Notifications](), nil},
		{"channel", channelKeys, reflect.TypeFor[Channel](), nil},
		{"email", emailKeys, reflect.TypeFor[EmailChannel](), nil},
		{"webhook", webhookKeys, reflect.TypeFor[WebhookChannel](), nil},
		{"slack", slackKeys, reflect.TypeFor[SlackChannel](), nil},
		{"rule", ruleKeys, reflect.TypeFor[NotifyRule](), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Sorted(slices.Values(append(slices.Clone(tt.keys), tt.extra...)))
			want := slices.Sorted(slices.Values(jsonTags(tt.typ)))
			if !slices.Equal(got, want) {
				t.Errorf("keys read from the file %v, JSON tags of %s %v", got, tt.typ, want)
			}
		})
	}
}

// TestSchemaEnums holds the schema's enumerations to the domain's lists.
func TestSchemaEnums(t *testing.T) {
	s := loadSchemaDoc(t)
	def := func(name string) map[string]any {
		t.Helper()
		d, ok := s.defs[name].(map[string]any)
		if !ok {
			t.Fatalf("schema has no $defs/%s", name)
		}
		return d
	}
	prop := func(node map[string]any, name string) map[string]any {
		t.Helper()
		for _, b := range s.branches(t, node) {
			if props, ok := b["properties"].(map[string]any); ok {
				if p, ok := props[name].(map[string]any); ok {
					return p
				}
			}
		}
		t.Fatalf("schema node has no property %q", name)
		return nil
	}
	stringBranch := func(node map[string]any) map[string]any {
		for _, b := range s.branches(t, node) {
			if b["type"] == "string" {
				return b
			}
		}
		t.Fatal("schema node has no string branch")
		return nil
	}
	strings := func(xs []sluice.Metric) []string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = string(x)
		}
		return out
	}
	modes := make([]string, len(ExecutionModes))
	for i, m := range ExecutionModes {
		modes[i] = string(m)
	}
	tests := []struct {
		name string
		node map[string]any
		want []string
	}{
		{"strategy names", stringBranch(def("strategy")), sluice.StrategyNames()},
		{"strategy types", prop(def("strategy"), "type"), strategyTypes},
		{"metrics", prop(def("alarm"), "metric"), strings(sluice.Metrics)},
		{"execution modes", prop(s.root, "execution_mode"), modes},
		{"reserved environment names", prop(def("environment"), "name")["not"].(map[string]any), reservedEnvironmentNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			enum, _ := s.deref(t, tt.node)["enum"].([]any)
			for _, v := range enum {
				got = append(got, v.(string))
			}
			sort.Strings(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("schema enum %v, Go %v", got, want)
			}
		})
	}
}

// TestSchemaTargets: the schema offers every target kind Parse knows, as a name and as a block.
// (Kinds registered by providers are checked by their own packages' tests.)
func TestSchemaTargets(t *testing.T) {
	s := loadSchemaDoc(t)
	env := s.deref(t, s.defs["environment"].(map[string]any))
	target := env["properties"].(map[string]any)["target"].(map[string]any)
	var names []string
	var blocks map[string]any
	for _, b := range s.branches(t, target) {
		enum, _ := b["enum"].([]any)
		for _, v := range enum {
			names = append(names, v.(string))
		}
		if p, ok := b["properties"].(map[string]any); ok {
			blocks = p
		}
	}
	for _, kind := range TargetNames() {
		if !slices.Contains(names, kind) {
			t.Errorf("schema: target %q is not among the names %v", kind, names)
		}
		if _, ok := blocks[kind]; !ok {
			t.Errorf("schema: target %q has no block", kind)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(readFile(t, schemaPath)))
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://github.com/sluicehq/sluice/schema/sluice.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

// yamlInstance converts a YAML file into the JSON value the schema validates, as an editor's
// YAML language server does.
func yamlInstance(t *testing.T, path string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(readFile(t, path), &v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("to JSON %s: %v", path, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestSchemaAcceptsValid validates every testdata/valid file against the editor schema.
func TestSchemaAcceptsValid(t *testing.T) {
	sch := compileSchema(t)
	for _, file := range testdataFiles(t, "valid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := sch.Validate(yamlInstance(t, file)); err != nil {
				t.Errorf("schema rejects a valid file: %v", err)
			}
		})
	}
}

// TestSchemaRejectsInvalid checks that the schema is not laxer than it looks: invalid files
// whose problems a schema can express must fail it too. (Duplicate names, listen collisions
// and the like are beyond a schema; Parse reports them.)
func TestSchemaRejectsInvalid(t *testing.T) {
	sch := compileSchema(t)
	for _, name := range []string{
		"alarms", "approvals", "artifact-empty", "artifact-paths", "durations", "empty-commands",
		"env-names", "execution-mode", "health", "health-mapping", "missing-required",
		"missing-sections", "name-too-long", "names", "notifications", "run-order", "strategies", "targets",
		"unknown-keys", "version", "version-string", "version-unsupported", "wrong-types",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", "invalid", name+".yaml")
			if _, err := os.Stat(file); err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlInstance(t, file)); err == nil {
				t.Errorf("schema accepts %s, which Parse rejects", file)
			}
		})
	}
}
