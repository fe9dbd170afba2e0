package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/engine"
)

// logRoute builds while it prints, slowly and then more than a page at once, and fails its
// check, so that the execution ends before any environment.
const logRoute = `version: 1
name: api-logs
build:
  commands:
    - "i=0; while [ $i -lt 20 ]; do echo line $i; i=$((i+1)); sleep 0.05; done"
    - "head -c 1500000 /dev/zero | tr '\\0' x; echo"
    - "mkdir -p dist && echo app > dist/app && echo built"
  artifact: [dist/]
checks:
  - name: lint
    run: "echo checking; exit 1"
service:
  command: [dist/app]
environments:
  - name: dev
`

// A follower that reads an execution's logs page by page with the cursor, from its start to
// its end, gets every byte the actions printed, once, in order, though the build prints while it
// reads; and a log of more than a page comes in pages.
func TestFollowLogs(t *testing.T) {
	srv, token, _ := newServerOf(t, logRoute, nil)
	c := &api.Client{Base: srv.URL, Token: token}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ex, err := c.Run(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*strings.Builder{}
	q := engine.LogQuery{Execution: ex.ID}
	pages := 0
	for {
		page, err := c.Logs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ch := range page.Chunks {
			key := ch.Stage + "." + ch.Action
			if got[key] == nil {
				got[key] = &strings.Builder{}
			}
			if int64(got[key].Len()) != ch.Offset {
				t.Fatalf("page %d: a chunk of %s at offset %d, after %d bytes of it", pages, key, ch.Offset, got[key].Len())
			}
			got[key].WriteString(ch.Text)
		}
		q.After = page.Cursor
		if page.Ended {
			break
		}
		if !page.More {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, key := range []string{"Build.Build", "Checks.lint"} {
		whole, err := c.Logs(ctx, engine.LogQuery{Execution: ex.ID, Action: key})
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		wholePages := 0
		for page := whole; ; {
			wholePages++
			for _, ch := range page.Chunks {
				want.WriteString(ch.Text)
			}
			if !page.More {
				break
			}
			if page, err = c.Logs(ctx, engine.LogQuery{Execution: ex.ID, Action: key, After: page.Cursor}); err != nil {
				t.Fatal(err)
			}
		}
		if key == "Build.Build" && wholePages < 2 {
			t.Errorf("the build's log, more than a page, came in %d page", wholePages)
		}
		if got[key] == nil || got[key].String() != want.String() || want.Len() == 0 {
			t.Errorf("%s: followed %d bytes, read whole afterwards %d", key, lenOf(got[key]), want.Len())
		}
	}
	build := got["Build.Build"].String()
	for i, line := range []string{"line 0\n", "line 19\n", "built\n"} {
		if !strings.Contains(build, line) {
			t.Errorf("the build's log lacks %q (%d)", line, i)
		}
	}
	if strings.Count(build, "line 7\n") != 1 {
		t.Errorf("the build's log has line 7 %d times; want once", strings.Count(build, "line 7\n"))
	}
	if !strings.Contains(got["Checks.lint"].String(), "checking\n") {
		t.Errorf("the check's log: %q", got["Checks.lint"].String())
	}

	// The end of one action's log, from a line's start: not the x line before it.
	tail, err := c.Logs(ctx, engine.LogQuery{Execution: ex.ID, Action: "build", Tail: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(tail.Chunks) != 1 || !strings.HasPrefix(tail.Chunks[0].Text, "$ mkdir") || !strings.Contains(tail.Chunks[0].Text, "built\n") {
		t.Errorf("the last 200 bytes of the build's log from a line's start: %+v; want from the last command on", tail.Chunks)
	}

	// Questions it cannot answer say why.
	if _, err := c.Logs(ctx, engine.LogQuery{Execution: ex.ID, Action: "deploy"}); sluice.ErrorCode(err) != sluice.ENOTFOUND || !strings.Contains(err.Error(), `no log for action "deploy"`) {
		t.Errorf("an action the execution does not have: %v", err)
	}
	if _, err := c.Logs(ctx, engine.LogQuery{Execution: ex.ID, After: "not-a-cursor"}); sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "send the cursor of the last page") {
		t.Errorf("a cursor the engine did not give: %v", err)
	}
	if _, err := c.Logs(ctx, engine.LogQuery{Execution: "nosuch"}); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("logs of an execution that does not exist: %v", err)
	}
	if status, body := rawGet(t, srv, "/api/v1/executions/"+ex.ID+"/logs?tail=-1", "", "Bearer "+token); status != http.StatusBadRequest {
		t.Errorf("tail=-1: %d %s", status, body)
	}
}

func lenOf(b *strings.Builder) int {
	if b == nil {
		return -1
	}
	return b.Len()
}

// Pipelines and executions by prefix are answered as the CLI asks for them.
func TestPipelinesAndExecutions(t *testing.T) {
	srv, token, _ := newServerOf(t, logRoute, nil)
	c := &api.Client{Base: srv.URL, Token: token}
	ctx := context.Background()
	empty, err := c.Pipelines(ctx)
	if err != nil || len(empty) != 0 {
		t.Fatalf("pipelines before any run: %v, %v", empty, err)
	}
	ex, err := c.Run(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Pipelines(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "api-logs@main" || list[0].Kind != sluice.KindMain {
		t.Fatalf("pipelines after a run: %+v, %v", list, err)
	}
	for prefix, want := range map[string]int{"": 1, ex.ID[:3]: 1, strings.ToUpper(ex.ID[:3]): 1, "zz": 0} {
		exs, err := c.Executions(ctx, prefix, 0)
		if err != nil || len(exs) != want || (want == 1 && exs[0].ID != ex.ID) {
			t.Errorf("executions beginning %q: %+v, %v; want %d", prefix, exs, err, want)
		}
	}
}
