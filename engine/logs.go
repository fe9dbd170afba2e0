package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// What actions and versions print is read through the engine, page by page with a cursor, so
// that a command (or a script over the API) follows a log without reading the state directory
// or a provider's folders behind the engine's back, and misses nothing between two pages.

// LogQuery asks for what an execution's actions printed.
type LogQuery struct {
	Execution string
	// Action narrows the answer to the actions named Action or STAGE.Action (case does not
	// matter). If empty, every action's output is read, in the execution's order.
	Action string
	// After is the Cursor of the page read last. If empty, each log is read from its start.
	After string
	// Tail, when above zero, reads each log that After has no place in from at most Tail bytes
	// before its end (from the start of a line), for "what it printed last".
	Tail int64
}

// LogChunk is output of one action.
type LogChunk struct {
	Stage  string `json:"stage"`
	Action string `json:"action"`
	// Offset is where Text begins in the action's log; 0 is its start.
	Offset int64 `json:"offset"`
	// Text is what the action printed. Bytes that are not UTF-8 come over the API as U+FFFD.
	Text string `json:"text"`
}

// LogPage is one answer to a LogQuery.
type LogPage struct {
	Chunks []LogChunk `json:"chunks"`
	// Cursor is where the page ends: send it as LogQuery.After for what follows.
	Cursor string `json:"cursor"`
	// More is true when the page is full: what follows is there to read at once.
	More bool `json:"more"`
	// Ended is true when the execution had ended before the page was read and the page holds
	// the rest of its output: nothing more will come.
	Ended bool `json:"ended"`
}

// maxLogPage bounds the text of one LogPage or VersionLogPage; what is left comes on the next.
const maxLogPage = 1 << 20

// Logs returns what the actions of q.Execution printed after q.After, at most maxLogPage bytes.
// It reads the store and the engine's log folder only, so an engine that was never started
// answers too. An Action that names no action of the execution is ENOTFOUND.
func (e *Engine) Logs(ctx context.Context, q LogQuery) (*LogPage, error) {
	offsets, err := decodeLogCursor(q.After)
	if err != nil {
		return nil, err
	}
	// Whether it ended is read before the logs: every byte written before the end is then in
	// this page or the next, and a page without chunks after the end is the last.
	ex, err := e.store.Execution(ctx, q.Execution)
	if err != nil {
		return nil, err
	}
	actions, err := e.store.Actions(ctx, q.Execution)
	if err != nil {
		return nil, err
	}
	page := &LogPage{Chunks: []LogChunk{}, Ended: ex.Status.Done()}
	matched, room := false, int64(maxLogPage)
	for _, a := range actions {
		if q.Action != "" && !strings.EqualFold(a.Action, q.Action) && !strings.EqualFold(a.Stage+"."+a.Action, q.Action) {
			continue
		}
		matched = true
		key := a.Stage + "/" + a.Action
		offset, seen := offsets[key]
		chunk, err := readLog(filepath.Join(e.LogDir(q.Execution), LogName(a.Stage, a.Action)), offset, !seen, q.Tail, room)
		if err != nil {
			return nil, fmt.Errorf("read the log of %s %s: %w", a.Stage, a.Action, err)
		}
		if len(chunk.text) == 0 {
			continue
		}
		page.Chunks = append(page.Chunks, LogChunk{Stage: a.Stage, Action: a.Action, Offset: chunk.offset, Text: string(chunk.text)})
		offsets[key] = chunk.offset + int64(len(chunk.text))
		if room -= int64(len(chunk.text)); room <= 0 {
			page.More, page.Ended = true, false
			break
		}
	}
	if q.Action != "" && !matched {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no log for action %q in execution %s; name one as sluice status shows it (Build, or dev.integration)", q.Action, q.Execution)
	}
	page.Cursor = encodeLogCursor(offsets)
	return page, nil
}

// logChunk is text read from a log at offset.
type logChunk struct {
	offset int64
	text   []byte
}

// readLog reads at most limit bytes of the log at path from offset; with fresh and tail > 0,
// from the start of the first line in its last tail bytes instead. A log not written yet is
// empty.
func readLog(path string, offset int64, fresh bool, tail, limit int64) (logChunk, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return logChunk{offset: offset}, nil
	}
	if err != nil {
		return logChunk{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return logChunk{}, err
	}
	if !st.Mode().IsRegular() {
		return logChunk{}, fmt.Errorf("%s is not a regular file", path)
	}
	size := st.Size()
	partial := false
	if fresh && tail > 0 && size-tail > offset {
		offset, partial = size-tail, true
	}
	if offset >= size {
		return logChunk{offset: offset}, nil
	}
	b, err := io.ReadAll(io.NewSectionReader(f, offset, min(size-offset, limit)))
	if err != nil {
		return logChunk{}, err
	}
	if partial {
		// The tail may begin mid-line: start at the next line.
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			offset, b = offset+int64(i)+1, b[i+1:]
		}
	}
	return logChunk{offset: offset, text: b}, nil
}

// A log cursor is where each action's log was read to, as base64url JSON: opaque to clients,
// which send it back as it came.
func encodeLogCursor(offsets map[string]int64) string {
	if len(offsets) == 0 {
		return ""
	}
	b, _ := json.Marshal(offsets) // a map of strings to numbers always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeLogCursor(cursor string) (map[string]int64, error) {
	offsets := map[string]int64{}
	if cursor == "" {
		return offsets, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, &offsets)
	}
	for _, o := range offsets {
		if o < 0 {
			err = errors.New("a negative offset")
		}
	}
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "log cursor %q is not one this engine gave (%v); send the cursor of the last page, or none to read from the start", cursor, err)
	}
	return offsets, nil
}

// VersionLogQuery asks for what a version serving in an environment printed.
type VersionLogQuery struct {
	// Pipeline is the pipeline whose environment it is; if empty, the main pipeline.
	Pipeline    string
	Environment string
	// Version is the version whose output to read; if empty, the newest version's.
	Version string
	// Offset is where to read from: the Next of the page read last, or 0 for the start.
	Offset int64
}

// VersionLogPage is one answer to a VersionLogQuery.
type VersionLogPage struct {
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Offset      int64  `json:"offset"`
	// Text is what the version printed from Offset on. Bytes that are not UTF-8 come over the
	// API as U+FFFD.
	Text string `json:"text"`
	// Next is the Offset to ask from for what follows.
	Next int64 `json:"next"`
	// More is true when the page is full: what follows is there to read at once.
	More bool `json:"more"`
}

// VersionLog returns what a version of an environment printed, through the environment's
// provider. A provider that keeps no output answers EINVALID; an environment that has run no
// version, ENOTFOUND.
func (e *Engine) VersionLog(ctx context.Context, q VersionLogQuery) (*VersionLogPage, error) {
	if q.Offset < 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "offset %d is not a place in a log; send the next of the last page, or 0", q.Offset)
	}
	pipeline := q.Pipeline
	if pipeline == "" {
		pipeline = e.mainOrStored(ctx)
	}
	state, err := e.environmentState(ctx, pipeline, q.Environment)
	if err != nil {
		return nil, err
	}
	route, err := e.livePlan(ctx, state)
	if err != nil {
		return nil, err
	}
	envSpec := route.Environment(q.Environment)
	if envSpec == nil {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "environment %q is not in %s", q.Environment, e.cfg.RouteFile)
	}
	p, err := e.provider(envSpec)
	if err != nil {
		return nil, err
	}
	out, ok := p.(deploy.Output)
	if !ok {
		return nil, sluice.Errorf(sluice.EINVALID, "the %s target keeps no output of its versions; read it where %s runs them", envSpec.Target, envSpec.Target)
	}
	got, err := out.VersionOutput(ctx, target(route, pipeline, envSpec, nil), q.Version, q.Offset, maxLogPage)
	if err != nil {
		return nil, err
	}
	return &VersionLogPage{Environment: q.Environment, Version: got.Version, Offset: q.Offset, Text: string(got.Text), Next: q.Offset + int64(len(got.Text)), More: len(got.Text) >= maxLogPage}, nil
}
