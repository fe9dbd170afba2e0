package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
)

// An engine that stops while a run is handing it the execution (it was closing) must not fail
// the run: the execution begins with an engine started here.
func TestBeginWhenTheEngineStopsDuringTheHandOff(t *testing.T) {
	dir := t.TempDir()
	route := filepath.Join(dir, "sluice.yaml")
	text := "version: 1\nname: handoff\nbuild: {commands: [\"true\"], artifact: [.]}\n" +
		"service: {command: [./app]}\nenvironments:\n  - name: dev\n"
	if err := os.WriteFile(route, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, ".sluice")
	var out bytes.Buffer
	e := &env{ctx: t.Context(), stdin: strings.NewReader(""), stdout: &out, stderr: &out}
	first, err := startEngine(t.Context(), e, route, state, serveOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var handed, here int
	src, ex, head, closeEngine, err := begin(t.Context(), e, runOptions{file: route, dir: state, out: &out},
		func(svc service) (*sluice.Execution, string, error) {
			if _, remote := svc.(*api.Client); remote {
				handed++
				first.close() // the engine stops while the request is in flight
				return nil, "", io.ErrUnexpectedEOF
			}
			here++
			return &sluice.Execution{ID: "0123456789ab"}, "began here", nil
		})
	if err != nil {
		t.Fatalf("begin: %v\n%s", err, out.String())
	}
	defer closeEngine()
	if handed != 1 || here != 1 {
		t.Errorf("handed to the engine %d times and begun here %d times, want once each", handed, here)
	}
	if _, ok := src.(localSource); !ok || ex.ID != "0123456789ab" || head != "began here" {
		t.Errorf("begin = %T, %+v, %q; want the execution begun here", src, ex, head)
	}
	if !strings.Contains(out.String(), "beginning it here") {
		t.Errorf("output does not say the execution began here:\n%s", out.String())
	}
}
