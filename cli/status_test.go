package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/engine"
)

// Every value starts where its column's header starts, however long the values are.
func TestStatusColumnsAlign(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 3, 0, 0, time.UTC)
	st := &api.Status{
		Environments: []engine.EnvironmentView{
			{Name: "dev", Endpoint: "http://127.0.0.1:8081", LiveRevision: strings.Repeat("a", 40),
				LastDeployment: &sluice.Deployment{Status: sluice.StatusSucceeded, Revision: strings.Repeat("a", 40), StartedAt: at}},
			{Name: "production-eu-west", Endpoint: "http://127.0.0.1:40123", Frozen: true,
				Pending: &sluice.Approval{ChangeSetDigest: "sha256:" + strings.Repeat("c", 64)}},
		},
		Executions: []sluice.Execution{
			{ID: "8eba81b8c0de", Status: sluice.StatusInProgress, Revision: strings.Repeat("b", 40), CreatedAt: at, Subject: "Add\tthe ünïcode handler",
				Waiting: "waiting: execution 1234 holds prod"},
			{ID: "ddcf951e2897", Status: sluice.StatusRolledBack, Revision: strings.Repeat("d", 40), CreatedAt: at, Subject: "Break prod"},
			{ID: "0badc0ffee00", Status: sluice.StatusFailed, Revision: strings.Repeat("e", 40), CreatedAt: at},
		},
	}
	var buf bytes.Buffer
	printStatus(&buf, st, false)
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// column checks that each row of a table has its cells at the header's offsets.
	column := func(header string, rows []string, values [][]string) {
		t.Helper()
		names := strings.Split(header, "|")
		head := lines[indexOf(t, lines, names[0])]
		var starts []int
		for _, name := range names {
			starts = append(starts, utf8.RuneCountInString(head[:strings.Index(head, name)]))
		}
		for i, row := range rows {
			line := lines[indexOf(t, lines, row)]
			from := 0
			for j, v := range values[i] {
				at := strings.Index(line[from:], v)
				if at >= 0 {
					at += from
					from = at + len(v)
				}
				if at < 0 || utf8.RuneCountInString(line[:at]) != starts[j] {
					t.Errorf("%q starts at column %d in %q, want %d (header %q)\n%s", v, utf8.RuneCountInString(line[:max(at, 0)]), line, starts[j], names[j], out)
				}
			}
		}
	}
	column("ENVIRONMENT|ENDPOINT|LIVE|LAST DEPLOYMENT", []string{"dev ", "production-eu-west "},
		[][]string{{"dev", "http://127.0.0.1:8081", "aaaaaaa", "Succeeded"}, {"production-eu-west", "http://127.0.0.1:40123 (stopped)", "-"}})
	column("EXECUTION|STATUS|REVISION|STARTED|SUBJECT", []string{"8eba81b8c0de", "ddcf951e2897", "0badc0ffee00"},
		[][]string{{"8eba81b8c0de", "InProgress", "bbbbbbb", "2026-", "Add the ünïcode handler"}, {"ddcf951e2897", "RolledBack", "ddddddd", "2026-", "Break prod"}, {"0badc0ffee00", "Failed", "eeeeeee", "2026-"}})
	for _, want := range []string{"\n  approval waiting for change set", "\n  frozen:", "\n  waiting: execution 1234 holds prod\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not show %q:\n%s", want, out)
		}
	}
	for _, line := range lines {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("line %q ends in spaces", line)
		}
	}
}

func indexOf(t *testing.T, lines []string, prefix string) int {
	t.Helper()
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	t.Fatalf("no line starts with %q in\n%s", prefix, strings.Join(lines, "\n"))
	return -1
}
