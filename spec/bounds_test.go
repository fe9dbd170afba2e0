package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostile are inputs that, without the bounds of bounds.go, kept the YAML parser or the walk
// busy for minutes or gigabytes. Each must be answered with one error that names the bound.
// FuzzParse starts from them too.
func hostile() []struct{ name, data, want string } {
	const minimal = "version: 1\nname: x\nbuild: {commands: [make], artifact: [dist/]}\nservice: {command: [dist/app]}\n"
	var keys strings.Builder
	for i := range 60000 {
		fmt.Fprintf(&keys, "k%d: v\n", i)
	}
	var indented strings.Builder
	for i := range 200 {
		fmt.Fprintf(&indented, "%sa:\n", strings.Repeat(" ", i))
	}
	var laughs strings.Builder
	laughs.WriteString("x-0: &a0 {FOO: bar}\n")
	for i := 1; i < 9; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 40), ",")
		fmt.Fprintf(&laughs, "x-%d: &a%d {<<: [%s]}\n", i, i, refs)
	}
	laughs.WriteString(minimal + "environments:\n  - name: dev\n    env: *a8\n")
	var wide strings.Builder
	wide.WriteString("x-env: &env {")
	for i := range 2000 {
		fmt.Fprintf(&wide, "A%d: v, ", i)
	}
	wide.WriteString("B: v}\n" + minimal + "environments:\n")
	for i := range 300 {
		fmt.Fprintf(&wide, "  - {name: e%d, env: *env}\n", i)
	}
	return []struct{ name, data, want string }{
		{"flow sequence 100000 deep", "a: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n", "nested more than 64 levels"},
		{"flow mapping 100000 deep", "a: " + strings.Repeat("{a: ", 100000) + "1" + strings.Repeat("}", 100000) + "\n", "nested more than 64 levels"},
		{"sequence entries 100000 deep", "a:\n  " + strings.Repeat("- ", 100000) + "x\n", "nested more than 64 levels"},
		{"indentation 200 deep", indented.String(), "nested more than 64 levels"},
		{"brackets after a quote inside a plain scalar", "a: [it's, " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + " ']\n", "nested more than 64 levels"},
		{"entries after a quoted bracket", "a: ['[', \"{\", &x [y]]\nb:\n  " + strings.Repeat("- ", 100000) + "x\n", "nested more than 64 levels"},
		{"entries after an anchored list", "a: [&x]\nb:\n  " + strings.Repeat("- ", 100000) + "x\n", "nested more than 64 levels"},
		{"entries inside a list", "a: [\n" + strings.Repeat("- ", 100000) + "x]\n", "more than 5000 entries"},
		{"60000 keys in one mapping", keys.String(), "more than 2000 lines of YAML"},
		{"a list of 500000 entries", "a: [" + strings.Repeat("1,", 500000) + "1]\n", "more than 5000 entries in [ ] and { }"},
		{"more than 1 MiB", "a: \"" + strings.Repeat("x", MaxFileSize) + "\"\n", "larger than 1048576 bytes"},
		{"merge keys that merge merge keys", laughs.String(), "expand to more than 200000 values"},
		{"one large mapping named many times", wide.String(), "expand to more than 200000 values"},
	}
}

func TestParseBoundsRefuseHostileInput(t *testing.T) {
	for _, tt := range hostile() {
		t.Run(tt.name, func(t *testing.T) {
			route, diags := Parse("h.yaml", []byte(tt.data))
			if route != nil || !diags.HasErrors() {
				t.Fatalf("accepted; diagnostics: %v", diags)
			}
			if len(diags) != 1 || !strings.Contains(diags[0].Message, tt.want) {
				t.Fatalf("want one error saying %q, got:\n%s", tt.want, diags.Error())
			}
			if d := diags[0]; d.Line < 1 || d.Col < 1 || d.Path != RootPath {
				t.Errorf("diagnostic does not point into the file: %+v", d)
			}
		})
	}
}

// TestParseBoundsWhere checks that a refusal points at where the file went too far.
func TestParseBoundsWhere(t *testing.T) {
	tests := []struct {
		name, data string
		line, col  int
	}{
		{"flow", "a: b\nc: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", 2, 3 + 64},
		{"entries", "a:\n" + strings.Repeat("  - x\n", 3) + "b:\n" + "  " + strings.Repeat("- ", 70) + "x\n", 6, 3 + 2*63},
		{"lines", strings.Repeat("# note\n", 10) + strings.Repeat("a: b\n", MaxLines+5), 10 + MaxLines + 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse("w.yaml", []byte(tt.data))
			if len(diags) != 1 || diags[0].Line != tt.line || diags[0].Col != tt.col {
				t.Fatalf("want one error at %d:%d, got:\n%s", tt.line, tt.col, diags.Error())
			}
		})
	}
}

// TestParseBoundsLeaveRealFilesAlone parses files close to every bound that are otherwise
// valid: the bounds must be far from anything a person writes.
func TestParseBoundsLeaveRealFilesAlone(t *testing.T) {
	base := string(readFile(t, "testdata/valid/architecture-example.yaml"))
	var env strings.Builder
	env.WriteString("x-env: &env\n")
	for i := range MaxLines - 100 {
		fmt.Fprintf(&env, "  VAR_%d: value\n", i)
	}
	tests := []struct{ name, data string }{
		{"deep", base + "x-deep: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n"},
		{"deep blocks", base + "x-deep:\n" + func() string {
			var b strings.Builder
			for i := 1; i < 58; i++ {
				in := strings.Repeat("  ", i)
				fmt.Fprintf(&b, "%sk%d:\n%s  s: |\n%s    text [[[[\n%s    - x: y\n", in, i, in, in, in)
			}
			return b.String()
		}()},
		{"long", base + env.String()},
		{"wide", base + "x-list: [" + strings.Repeat("1, ", MaxFlowItems-100) + "1]\n"},
		{"brackets in values", base + "x-cmd: echo [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n" +
			"x-quoted: \"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route, diags := Parse("ok.yaml", []byte(tt.data))
			if diags.HasErrors() || route == nil {
				t.Fatalf("refused:\n%s", diags.Error())
			}
		})
	}
}

// TestParseFileBounded reads endless and huge files without reading them whole.
func TestParseFileBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("# " + strings.Repeat("x", 1021) + "\n")
	for range 50 * 1024 {
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	files := []string{big}
	if _, err := os.Stat("/dev/zero"); err == nil {
		files = append(files, "/dev/zero")
	}
	for _, file := range files {
		route, diags, err := ParseFile(file)
		if err != nil || route != nil || len(diags) != 1 || !strings.Contains(diags[0].Message, "larger than") {
			t.Errorf("%s: got %v, %v; want one diagnostic saying the file is too large", file, diags, err)
		}
	}
}

func TestParseInvalidUTF8(t *testing.T) {
	data := "version: 1\n" +
		"name: x\n" +
		"# a comment with a bad byte: \xff\n" +
		"build: {commands: [\"make \xfe\"], artifact: [dist/]}\n" +
		"service: {command: [dist/app]}\n" +
		"environments:\n" +
		"  - name: dev\n" +
		"    env:\n" +
		"      GREETING: h\xc3llo\n" +
		"      \xe2\x82K: v\n" +
		"    tests:\n" +
		"      - name: t\n" +
		"        run: |\n" +
		"          echo fine\n" +
		"          echo b\xc0d\n" +
		"x-ignored: caf\xe9\n" +
		"x-fine: \"café \uFFFD\"\n"
	_, diags := Parse("u.yaml", []byte(data))
	want := []string{
		"u.yaml:3:30: error: (root): invalid UTF-8 (byte 0xff)",
		"u.yaml:4:26: error: build.commands[0]: invalid UTF-8 (byte 0xfe)",
		"u.yaml:9:18: error: environments[0].env.GREETING: invalid UTF-8 (byte 0xc3)",
		"u.yaml:10:7: error: environments[0].env: invalid UTF-8 (byte 0xe2)",
		"u.yaml:15:17: error: environments[0].tests[0].run: invalid UTF-8 (byte 0xc0)",
		"u.yaml:16:15: error: (root): invalid UTF-8 (byte 0xe9)",
	}
	if len(diags) != len(want) {
		t.Fatalf("want %d diagnostics, got:\n%s", len(want), diags.Error())
	}
	for i, d := range diags {
		if !strings.HasPrefix(d.String(), want[i]) {
			t.Errorf("diagnostic %d:\n got %s\nwant %s...", i, d, want[i])
		}
	}
}

// BenchmarkParseAtTheBounds parses the costliest files the bounds let through, one per bound:
// each must stay far below a second.
func BenchmarkParseAtTheBounds(b *testing.B) {
	var chain, keys, longKeys strings.Builder
	for i := range MaxLines - 5 {
		fmt.Fprintf(&chain, "x-%d: &a%d {<<: *a%d}\n", i, i, max(i-1, 0))
		fmt.Fprintf(&keys, "k%d: v\n", i)
		fmt.Fprintf(&longKeys, "k%d%s: v\n", i, strings.Repeat("x", MaxFileSize/MaxLines-20))
	}
	cases := []struct{ name, data string }{
		{"keys in one mapping", keys.String()},
		{"long unknown keys", longKeys.String()},
		{"merge chain", chain.String()},
		{"entries deep on every line", "x:\n" + strings.Repeat("  "+strings.Repeat("- ", MaxDepth-4)+"x\n", MaxLines-5)},
		{"aliases in a list", "x-a: &a 1\nx-b: [" + strings.Repeat("*a, ", MaxFlowItems-10) + "*a]\n"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.data)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, diags := Parse("b.yaml", data); len(diags) == 0 || strings.Contains(diags[0].Message, "more than") {
					b.Fatalf("not parsed to the end: %v", diags)
				}
			}
		})
	}
}
