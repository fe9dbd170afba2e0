package spec

import (
	"strings"
	"testing"
	"time"
)

// box is a target kind for these tests, registered in a registry of their own: its block has a
// required size and an optional zone, and zone was once a key of the environment.
type box struct {
	size, zone string
	spare      bool
	count      int
	boot       time.Duration
	tags       string
}

var boxKind = TargetKind{
	Name:       "box",
	Keys:       []string{"size", "zone", "spare", "count", "boot", "tags"},
	LegacyKeys: []string{"zone"},
	Decode: func(b *TargetBlock) any {
		var out box
		if s, ok := b.String("size"); ok {
			if s != "small" && s != "large" {
				b.Errorf("size", "size %q of %s: use small or large", s, b.Environment())
			}
			out.size = s
		} else if !b.Has("size") {
			b.Missing("size", "add size: small")
		}
		out.zone, _ = b.String("zone")
		out.spare, _ = b.Bool("spare")
		out.count, _ = b.Int("count")
		out.boot, _ = b.Duration("boot")
		tags, _ := b.Strings("tags")
		out.tags = strings.Join(tags, ",")
		return out
	},
}

func TestTargetBlocksAreDecodedByTheirKind(t *testing.T) {
	targets := NewTargets(boxKind)
	const head = "version: 1\nname: t\nbuild: {commands: [make], artifact: [dist/]}\nservice: {command: [dist/app]}\nenvironments:\n"
	tests := []struct {
		name, envs string
		want       box
		diags      []string
	}{
		{"block", "  - name: dev\n    target: {box: {size: small, zone: a}}\n", box{size: "small", zone: "a"}, nil},
		{"block on lines", "  - name: dev\n    target:\n      box:\n        size: large\n", box{size: "large"}, nil},
		{"every type", "  - name: dev\n    target: {box: {size: small, spare: true, count: 3, boot: 1m, tags: [a, b]}}\n", box{size: "small", spare: true, count: 3, boot: time.Minute, tags: "a,b"}, nil},
		{"wrong types", "  - name: dev\n    target: {box: {size: small, spare: yes, count: x, boot: 5, tags: [1]}}\n", box{}, []string{
			`t.yaml:7:40: error: environments[0].target.box.spare: expected true or false, got "yes"`,
			`t.yaml:7:52: error: environments[0].target.box.count: expected an integer, got the string "x"`,
			`t.yaml:7:61: error: environments[0].target.box.boot: expected a duration such as 30s or 10m, got the integer 5; add a unit: 5s`,
			`t.yaml:7:71: error: environments[0].target.box.tags[0]: expected a string, got the integer 1; quote it: "1"`,
		}},
		{"legacy key", "  - name: dev\n    target: {box: {size: small}}\n    zone: b\n", box{size: "small", zone: "b"}, []string{
			"t.yaml:8:5: warning: environments[0].zone: deprecated here: move it into the target's block, target: {box: {zone: ...}}",
		}},
		{"legacy key given twice", "  - name: dev\n    target: {box: {size: small, zone: a}}\n    zone: b\n", box{}, []string{
			"t.yaml:8:5: error: environments[0].zone: given twice: here and in environments[0].target.box (line 7); keep the one in environments[0].target.box",
		}},
		{"legacy key on another target", "  - name: dev\n    zone: b\n", box{}, []string{
			"t.yaml:7:5: warning: environments[0].zone: ignored: zone is only used by target box",
		}},
		{"decoder's error", "  - name: dev\n    target: {box: {size: huge}}\n", box{}, []string{
			`t.yaml:7:26: error: environments[0].target.box.size: size "huge" of dev: use small or large`,
		}},
		{"missing key", "  - name: dev\n    target:\n      box: {zone: a}\n", box{}, []string{
			"t.yaml:8:12: error: environments[0].target.box.size: missing; add size: small",
		}},
		{"shorthand of a kind with required keys", "  - name: dev\n    target: box\n", box{}, []string{
			"t.yaml:7:13: error: environments[0].target.box.size: missing; add size: small",
		}},
		{"unknown key", "  - name: dev\n    target: {box: {size: small, colour: red}}\n", box{}, []string{
			`t.yaml:7:33: error: environments[0].target.box.colour: unknown key "colour"; known: size, zone, spare, count, boot, tags`,
		}},
		{"unknown kind", "  - name: dev\n    target: {bx: {size: small}}\n", box{}, []string{
			`t.yaml:7:14: error: environments[0].target.bx: unknown target "bx"; did you mean "box"?`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route, diags := parseWith(targets, "t.yaml", []byte(head+tt.envs))
			var got []string
			for _, d := range diags {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.diags, "\n") {
				t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.diags, "\n"))
			}
			if diags.HasErrors() {
				return
			}
			env := route.Environments[0]
			if env.Target != "box" && tt.want != (box{}) {
				t.Fatalf("target %q, want box", env.Target)
			}
			if tt.want != (box{}) && env.TargetConfig != tt.want {
				t.Errorf("config %#v, want %#v", env.TargetConfig, tt.want)
			}
		})
	}
}

func TestTargetRegistration(t *testing.T) {
	targets := NewTargets(boxKind)
	if got := strings.Join(targets.Names(), ","); got != "local,box" {
		t.Errorf("names %s, want local first", got)
	}
	for name, k := range map[string]TargetKind{
		"a second box":       boxKind,
		"a second local":     {Name: TargetLocal},
		"no name":            {},
		"an environment key": {Name: "steal", LegacyKeys: []string{"listen"}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %s did not panic", name)
				}
			}()
			targets.Register(k)
		})
	}
	if _, diags := Parse("t.yaml", []byte("version: 1\nname: t\nbuild: {commands: [make], artifact: [dist/]}\nenvironments: [{name: dev, target: box}]\n")); !diags.HasErrors() {
		t.Error("a kind registered in one registry leaked into Parse's")
	}
}
