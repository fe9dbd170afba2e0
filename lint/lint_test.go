package lint_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/lint"
)

// optInRules are turned on for the planted templates, so opt-in rules are tested too.
var optInRules = func() []string {
	var ids []string
	for _, r := range lint.Rules {
		if r.OptIn {
			ids = append(ids, r.ID)
		}
	}
	return ids
}()

var wantMarker = regexp.MustCompile(`#\s*want\s+(.+)$`)

// TestPlantedMistakes checks that every mistake planted in testdata/planted is reported with
// its rule on its line, and that nothing else is. In YAML a line's expected findings are
// written at its end as "# want RULE [RULE...]"; a JSON template has them in FILE.want as
// "LINE:COL RULE" lines.
func TestPlantedMistakes(t *testing.T) {
	files, _ := filepath.Glob("testdata/planted/*")
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".want") {
			continue
		}
		checked++
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			findings, err := lint.Check(file, data, lint.Options{Enable: optInRules})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			if strings.HasSuffix(file, ".json") {
				for _, f := range findings {
					got = append(got, fmt.Sprintf("%d:%d %s", f.Line, f.Col, f.Rule))
				}
				want = wantFile(t, file+".want")
			} else {
				for _, f := range findings {
					got = append(got, fmt.Sprintf("%d %s", f.Line, f.Rule))
				}
				want = wantMarkers(data)
				sort.Strings(got)
			}
			if !slices.Equal(got, want) {
				var all strings.Builder
				for _, f := range findings {
					fmt.Fprintln(&all, f)
				}
				t.Errorf("findings (line rule):\n  %s\nwant:\n  %s\nall:\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), all.String())
			}
		})
	}
	if checked < 3 {
		t.Fatalf("only %d planted templates found", checked)
	}
}

func wantMarkers(data []byte) []string {
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		if m := wantMarker.FindStringSubmatch(sc.Text()); m != nil {
			for _, rule := range strings.Fields(m[1]) {
				want = append(want, fmt.Sprintf("%d %s", line, rule))
			}
		}
	}
	sort.Strings(want)
	return want
}

func wantFile(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	return want
}

// TestValidTemplatesHaveNoFindings guards against false alarms on realistic templates: a SAM
// HTTP API with a function and a table, a CodePipeline V2 stack, a KMS key with an artifact
// bucket, a JSON queue worker.
func TestValidTemplatesHaveNoFindings(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*")
	if len(files) < 4 {
		t.Fatalf("only %d valid templates found", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			findings, err := lint.Check(file, data, lint.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				t.Errorf("false alarm: %s", f)
			}
		})
	}
}

// Findings inside strings point at the character: a ${Name} of a quoted or block Fn::Sub, the
// attribute of a short-form Fn::GetAtt.
func TestFindingColumns(t *testing.T) {
	src := `Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "x-${Nope}"
      DisplayName: !GetAtt Queue.Arnn
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub |
        first line
          indented ${Gone.Arn} and ${Queue.Bad}
`
	findings, err := lint.Check("t.yaml", []byte(src), lint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range findings {
		got = append(got, fmt.Sprintf("%d:%d %s", f.Line, f.Col, f.Rule))
	}
	want := []string{"5:28 T022", "6:34 T021", "12:22 T021", "12:44 T021"}
	if !slices.Equal(got, want) {
		t.Errorf("findings at %v, want %v", got, want)
		for _, f := range findings {
			t.Log(f)
		}
	}
}
