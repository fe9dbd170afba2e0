package lambdarun

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/syncbuf"
)

// TestInvokeGoFunction runs a function written with aws-lambda-go: it gets its event, the
// environment Lambda gives it and its context, and a warm sandbox serves the next invocation.
func TestInvokeGoFunction(t *testing.T) {
	t.Setenv("SLUICE_ONLY_IN_THE_ENGINE", "secret") // the engine's environment must not leak
	var log syncbuf.Buffer
	f := start(t, Config{Code: goFunction(t), FunctionName: "orders", Version: "7", Region: "eu-west-1", Account: "444455556666",
		Memory: 256, Timeout: 90 * time.Second, Env: map[string]string{"GREETING": "hello", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE"}, Log: &log})

	before := time.Now()
	res := invoke(t, f, map[string]string{"value": "first"})
	r := succeeded(t, res)
	if r.Value != "first" || r.RequestID != res.RequestID || res.RequestID == "" {
		t.Errorf("reply %+v, request id %q", r, res.RequestID)
	}
	if want := "arn:aws:lambda:eu-west-1:444455556666:function:orders:7"; r.ARN != want || f.ARN() != want {
		t.Errorf("invoked ARN %q, f.ARN() %q, want %q", r.ARN, f.ARN(), want)
	}
	deadline := time.UnixMilli(r.DeadlineMS)
	if deadline.Before(before.Add(89*time.Second)) || deadline.After(time.Now().Add(90*time.Second)) {
		t.Errorf("deadline %s is not 90s after the invocation", deadline)
	}
	for k, want := range map[string]string{
		"GREETING": "hello", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
		"AWS_LAMBDA_FUNCTION_NAME": "orders", "AWS_LAMBDA_FUNCTION_VERSION": "7", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "_HANDLER": "bootstrap", "LAMBDA_TASK_ROOT": f.Dir(),
	} {
		if got := r.Env[k]; got != want {
			t.Errorf("env %s=%q, want %q", k, got, want)
		}
	}
	if api := r.Env["AWS_LAMBDA_RUNTIME_API"]; !strings.HasPrefix(api, "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API=%q, want a loopback address", api)
	}
	if _, leaked := r.Env["SLUICE_ONLY_IN_THE_ENGINE"]; leaked {
		t.Error("the engine's environment reached the function")
	}
	if res.InitDuration <= 0 || res.Duration <= 0 {
		t.Errorf("a cold start reports init %s, duration %s", res.InitDuration, res.Duration)
	}

	res2 := invoke(t, f, map[string]string{"value": "second"})
	r2 := succeeded(t, res2)
	if r2.Value != "second" || r2.PID != r.PID || res2.RequestID == res.RequestID {
		t.Errorf("second invocation: %+v (pid %d before, request ids %s %s)", r2, r.PID, res.RequestID, res2.RequestID)
	}
	if res2.InitDuration != 0 {
		t.Errorf("a warm invocation reports an init duration %s", res2.InitDuration)
	}
	if !strings.Contains(log.String(), "START RequestId: "+res2.RequestID+" Version: 7") || !strings.Contains(log.String(), "REPORT RequestId: "+res.RequestID) {
		t.Errorf("log lacks START/REPORT lines:\n%s", log.String())
	}
}

// TestFunctionFailures: an error, a panic and an exit are failed invocations with Lambda's
// error document, and the function serves the next invocation, from a new process when the
// old one is gone.
func TestFunctionFailures(t *testing.T) {
	f := start(t, Config{Code: goFunction(t)})
	pid := succeeded(t, invoke(t, f, map[string]string{})).PID
	tests := []struct {
		action   string
		typ, msg string
		restarts bool
	}{
		{action: "fail", typ: "errorString", msg: "it failed: x"},
		{action: "panic", msg: "boom: x", restarts: true},
		{action: "exit", typ: "Runtime.ExitError", msg: "Runtime exited with error: exit status 3", restarts: true},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			res := invoke(t, f, map[string]string{"action": tt.action, "value": "x"})
			fe := failed(t, res)
			if tt.typ != "" && fe.Type != tt.typ || !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("error %+v, want type %q and message with %q", fe, tt.typ, tt.msg)
			}
			next := succeeded(t, invoke(t, f, map[string]string{"value": "after"}))
			if next.Value != "after" || (next.PID != pid) != tt.restarts {
				t.Errorf("after %s: pid %d (was %d), restarted: want %v", tt.action, next.PID, pid, tt.restarts)
			}
			if tt.restarts && !processGone(pid) {
				t.Errorf("process %d still runs", pid)
			}
			pid = next.PID
		})
	}
}

// TestTimeout: an invocation that runs past the timeout fails as Lambda's does, its process
// is killed, and the next invocation starts a new one.
func TestTimeout(t *testing.T) {
	f := start(t, Config{Code: goFunction(t), Timeout: time.Second})
	pid := succeeded(t, invoke(t, f, map[string]string{})).PID
	res := invoke(t, f, map[string]string{"action": "sleep"})
	fe := failed(t, res)
	if fe.Type != "Sandbox.Timedout" || !strings.Contains(fe.Message, "Task timed out after 1.00 seconds") || !strings.Contains(fe.Message, res.RequestID) {
		t.Errorf("timeout error %+v", fe)
	}
	if res.Duration < time.Second {
		t.Errorf("timed out after %s", res.Duration)
	}
	waitFor(t, "the timed-out process to die", func() bool { return processGone(pid) })
	if next := succeeded(t, invoke(t, f, map[string]string{"value": "again"})); next.PID == pid || next.Value != "again" {
		t.Errorf("after the timeout: %+v", next)
	}
}

// TestRuntimeStopsAsking: a runtime that answers and then never asks for the next invocation
// times the next one out, and the one after runs in a new process.
func TestRuntimeStopsAsking(t *testing.T) {
	f := start(t, Config{Code: rawFunction(t), Env: map[string]string{"RAW_MODE": "answer-once"}, Timeout: time.Second})
	for range 2 {
		if res := invoke(t, f, map[string]any{}); string(res.Payload) != `{"answered":true}` {
			t.Fatalf("first invocation of a process: %s %s", res.FunctionError, res.Payload)
		}
		fe := failed(t, invoke(t, f, map[string]any{}))
		if fe.Type != "Sandbox.Timedout" || !strings.Contains(fe.Message, "Task timed out after 1.00 seconds") {
			t.Errorf("error %+v", fe)
		}
	}
}

// TestInstances: two sandboxes run two invocations at once, and a third waits for one of them.
func TestInstances(t *testing.T) {
	f := start(t, Config{Code: goFunction(t), Instances: 2})
	dir := t.TempDir()
	var wg sync.WaitGroup
	replies := make([]testReply, 3)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload, _ := json.Marshal(map[string]string{"action": "wait", "dir": dir})
			res, err := f.Invoke(context.Background(), payload)
			if err != nil || res.FunctionError != "" {
				t.Errorf("invocation %d: %v %s", i, err, res.Payload)
				return
			}
			json.Unmarshal(res.Payload, &replies[i])
		}()
		if i == 1 {
			// Both instances hold an invocation at once; only then does the third come.
			waitFor(t, "two invocations running at once", func() bool {
				started, _ := filepath.Glob(filepath.Join(dir, "started-*"))
				return len(started) == 2
			})
		}
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	wg.Wait()
	pids := map[int]bool{}
	for _, r := range replies {
		pids[r.PID] = true
	}
	if len(pids) != 2 {
		t.Errorf("three invocations ran in %d processes, want the 2 instances: %v", len(pids), pids)
	}
}

// TestRawRuntimeClient: a runtime written against the Runtime API alone gets the documented
// headers with each invocation.
func TestRawRuntimeClient(t *testing.T) {
	f := start(t, Config{Code: rawFunction(t), FunctionName: "raw", Region: "eu-central-1"})
	res := invoke(t, f, map[string]any{"n": 1})
	if res.FunctionError != "" {
		t.Fatalf("failed: %s", res.Payload)
	}
	var got struct {
		Payload json.RawMessage   `json:"payload"`
		Headers map[string]string `json:"headers"`
		Env     map[string]string `json:"env"`
		Status  int               `json:"status"`
	}
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("%s: %v", res.Payload, err)
	}
	h := got.Headers
	if got.Status != 200 || string(got.Payload) != `{"n":1}` || h["Lambda-Runtime-Aws-Request-Id"] != res.RequestID ||
		h["Lambda-Runtime-Invoked-Function-Arn"] != "arn:aws:lambda:eu-central-1:000000000000:function:raw" ||
		!strings.HasPrefix(h["Lambda-Runtime-Trace-Id"], "Root=1-") || h["Lambda-Runtime-Deadline-Ms"] == "" {
		t.Errorf("next answered %d %s with headers %v", got.Status, got.Payload, h)
	}
	if got.Env["AWS_LAMBDA_FUNCTION_VERSION"] != "$LATEST" || got.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "128" {
		t.Errorf("defaults: env %v", got.Env)
	}
}

// TestRuntimeAPIRefusals: the Runtime API refuses a result for an invocation that is not
// waiting, and a response whose trailers report a failure fails the invocation.
func TestRuntimeAPIRefusals(t *testing.T) {
	t.Run("unknown request id", func(t *testing.T) {
		f := start(t, Config{Code: rawFunction(t), Env: map[string]string{"RAW_MODE": "bad-id"}})
		res := invoke(t, f, map[string]any{})
		if string(res.Payload) != `{"bad_id_status":400}` || res.FunctionError != "" {
			t.Errorf("got %s %s, want the bad id refused with 400", res.FunctionError, res.Payload)
		}
	})
	t.Run("streamed failure", func(t *testing.T) {
		f := start(t, Config{Code: rawFunction(t), Env: map[string]string{"RAW_MODE": "stream-fail"}})
		fe := failed(t, invoke(t, f, map[string]any{}))
		if fe.Type != "Stream.Broken" || fe.Message != "half way" {
			t.Errorf("error %+v", fe)
		}
	})
	t.Run("response too large", func(t *testing.T) {
		f := start(t, Config{Code: goFunction(t)})
		fe := failed(t, invoke(t, f, map[string]string{"action": "big"}))
		if fe.Type != "Function.ResponseSizeTooLarge" {
			t.Errorf("error %+v", fe)
		}
	})
}

// TestInitError: a runtime that reports an init error fails the invocation with it, and is
// started afresh for the next.
func TestInitError(t *testing.T) {
	var log syncbuf.Buffer
	f := start(t, Config{Code: rawFunction(t), Env: map[string]string{"RAW_MODE": "init-error"}, Log: &log})
	for range 2 {
		fe := failed(t, invoke(t, f, map[string]any{}))
		if fe.Type != "Runtime.ConfigError" || fe.Message != "no configuration" {
			t.Errorf("error %+v", fe)
		}
	}
	waitFor(t, "both starts to have logged", func() bool { return strings.Count(log.String(), "init failed on purpose") == 2 })
}

// TestBootstrapNotRunnable: a bootstrap the system cannot execute (another architecture, a
// script without an interpreter line) fails each invocation as Lambda's InvalidEntrypoint.
func TestBootstrapNotRunnable(t *testing.T) {
	f := start(t, Config{Code: zipOf(t, entry{name: "bootstrap", data: []byte("\x7fELF not really"), mode: 0o755})})
	fe := failed(t, invoke(t, f, map[string]any{}))
	if fe.Type != "Runtime.InvalidEntrypoint" || !strings.Contains(fe.Message, "exec format error") {
		t.Errorf("error %+v", fe)
	}
}

// TestCodeInsideTheZip: folders and links inside the function's folder unpack, and a
// bootstrap that is a link to the program works.
func TestCodeInsideTheZip(t *testing.T) {
	program := readFile(t, build(t, "", "./internal/testfunc"))
	f := start(t, Config{Code: zipOf(t,
		entry{name: "bin/", mode: 0o755 | os.ModeDir},
		entry{name: "bin/function", data: program, mode: 0o755},
		entry{name: "bootstrap", data: []byte("bin/function"), mode: 0o777 | os.ModeSymlink},
		entry{name: "config/settings.json", data: []byte(`{}`), deflate: true},
	)})
	if r := succeeded(t, invoke(t, f, map[string]string{"value": "linked"})); r.Value != "linked" {
		t.Errorf("reply %+v", r)
	}
	if b, err := os.ReadFile(filepath.Join(f.Dir(), "config", "settings.json")); err != nil || string(b) != "{}" {
		t.Errorf("config/settings.json: %q %v", b, err)
	}
}

// TestBadCode: code Lambda would refuse, or that would escape its folder, is refused at Start
// with a sentence that says what to do, and nothing is left behind.
func TestBadCode(t *testing.T) {
	exe := func(name string) entry { return entry{name: name, data: []byte("#!/bin/sh\n"), mode: 0o755} }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"not a zip", Config{Code: []byte("PK? no")}, "is not a zip archive"},
		{"empty zip", Config{Code: zipOf(t)}, "has no bootstrap; for provided.al2023 build"},
		{"bootstrap in a folder", Config{Code: zipOf(t, exe("dist/bootstrap"))}, "has dist/bootstrap but no bootstrap at its top; zip from inside dist"},
		{"not executable", Config{Code: zipOf(t, entry{name: "bootstrap", data: []byte("x"), mode: 0o644})}, "bootstrap is not executable (mode -rw-r--r--); run chmod +x"},
		{"bootstrap is a folder", Config{Code: zipOf(t, entry{name: "bootstrap/", mode: 0o755 | os.ModeDir})}, "bootstrap is a d"},
		{"parent path", Config{Code: zipOf(t, exe("bootstrap"), exe("../escaped"))}, `entry "../escaped" of the function's code zip would be written outside`},
		{"absolute path", Config{Code: zipOf(t, exe("/tmp/escaped"), exe("bootstrap"))}, `entry "/tmp/escaped"`},
		{"backslashes", Config{Code: zipOf(t, exe(`..\escaped`), exe("bootstrap"))}, `would be written outside`},
		{"link out", Config{Code: zipOf(t, entry{name: "bootstrap", data: []byte("../../../bin/sh"), mode: 0o777 | os.ModeSymlink})}, `is a link to "../../../bin/sh", outside`},
		{"absolute link", Config{Code: zipOf(t, entry{name: "lib", data: []byte("/usr/lib"), mode: 0o777 | os.ModeSymlink}, exe("bootstrap"))}, `is a link to "/usr/lib", outside`},
		{"chain of links out", Config{Code: zipOf(t, escapingLinks()...)}, "the function's bootstrap cannot be read"},
		{"twice", Config{Code: zipOf(t, exe("bootstrap"), exe("bootstrap"))}, `entry "bootstrap" appears twice`},
		{"zip bomb", Config{Code: zipOf(t, exe("bootstrap"), entry{name: "zeros", data: make([]byte, 4<<20), deflate: true}), MaxUnzippedSize: 1 << 20}, "unzips to more than 1048576 bytes"},
		{"no name", Config{Code: zipOf(t, exe("bootstrap")), FunctionName: ""}, "has no name"},
		{"reserved variable", Config{Code: zipOf(t, exe("bootstrap")), Env: map[string]string{"AWS_REGION": "x"}}, "AWS_REGION is reserved"},
		{"runtime variable", Config{Code: zipOf(t, exe("bootstrap")), Env: map[string]string{"AWS_LAMBDA_RUNTIME_API": "x"}}, "AWS_LAMBDA_RUNTIME_API is reserved"},
		{"bad variable name", Config{Code: zipOf(t, exe("bootstrap")), Env: map[string]string{"A=B": "x"}}, `name "A=B" is not valid`},
		{"timeout", Config{Code: zipOf(t, exe("bootstrap")), Timeout: time.Hour}, "timeout 1h0m0s is out of Lambda's range"},
		{"function name", Config{Code: zipOf(t, exe("bootstrap")), FunctionName: "orders:live"}, `function name "orders:live" is not one Lambda accepts`},
		{"version", Config{Code: zipOf(t, exe("bootstrap")), Version: "live"}, `version "live" is not a Lambda version`},
		{"region", Config{Code: zipOf(t, exe("bootstrap")), Region: "Europe"}, `region "Europe" is not a region code`},
		{"account", Config{Code: zipOf(t, exe("bootstrap")), Account: "1234"}, `account "1234" is not 12 digits`},
		{"environment size", Config{Code: zipOf(t, exe("bootstrap")), Env: map[string]string{"BIG": strings.Repeat("x", 4094)}}, "take 4097 bytes, over Lambda's limit of 4 KB"},
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.FunctionName == "" && tt.name != "no name" {
				cfg.FunctionName = "bad"
			}
			f, err := Start(context.Background(), cfg)
			if err == nil {
				f.Close()
				t.Fatalf("Start succeeded, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || sluice.ErrorCode(err) != sluice.EINVALID {
				t.Errorf("error %q (code %s), want it to say %q", err, sluice.ErrorCode(err), tt.want)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(tmp), "escaped")); err == nil {
				t.Error("an entry was written outside the function's folder")
			}
		})
	}
}

// TestClose: closing stops the processes, ends the invocations in flight with ErrClosed and
// removes the code.
func TestClose(t *testing.T) {
	f, err := Start(context.Background(), Config{Code: goFunction(t), FunctionName: "closing"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pid := succeeded(t, invoke(t, f, map[string]string{})).PID
	errs := make(chan error, 1)
	go func() {
		payload, _ := json.Marshal(map[string]string{"action": "wait", "dir": dir})
		_, err := f.Invoke(context.Background(), payload)
		errs <- err
	}()
	waitFor(t, "the invocation to run", func() bool {
		started, _ := filepath.Glob(filepath.Join(dir, "started-*"))
		return len(started) == 1
	})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("the invocation in flight ended with %v, want ErrClosed", err)
	}
	if !processGone(pid) {
		t.Errorf("process %d still runs", pid)
	}
	if _, err := os.Stat(f.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the code is still at %s: %v", f.Dir(), err)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCallerGivesUp: a caller whose context ends gets its error at once; the invocation runs
// on, as on Lambda, and the instance is free again after it.
func TestCallerGivesUp(t *testing.T) {
	f := start(t, Config{Code: goFunction(t)})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		payload, _ := json.Marshal(map[string]string{"action": "wait", "dir": dir})
		_, err := f.Invoke(ctx, payload)
		errs <- err
	}()
	waitFor(t, "the invocation to run", func() bool {
		started, _ := filepath.Glob(filepath.Join(dir, "started-*"))
		return len(started) == 1
	})
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke returned %v, want context.Canceled", err)
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	if r := succeeded(t, invoke(t, f, map[string]string{"value": "next"})); r.Value != "next" {
		t.Errorf("reply %+v", r)
	}
}

// escapingLinks are links each pointing inside the function's folder on paper, which together
// lead out of it: d goes up to b, so x, going up from d as many times as it is deep, climbs out
// from b. bootstrap through x is /bin/sh.
func escapingLinks() []entry {
	deep := strings.Repeat("p/", 10)
	link := func(name, target string) entry {
		return entry{name: name, data: []byte(target), mode: 0o777 | os.ModeSymlink}
	}
	return []entry{
		{name: "b/", mode: 0o755 | os.ModeDir},
		link(deep+"d", strings.Repeat("../", 10)+"b"),
		link(deep+"x", "d"+strings.Repeat("/..", 11)),
		link("bootstrap", deep+"x/bin/sh"),
	}
}
