package lambdarun

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// programs are the test bootstraps, each built once per test run.
var programs struct {
	sync.Mutex
	dir   string
	built map[string]string
}

// build compiles the command at pkg (relative to dir, or to this package when dir is "") for
// this machine, as a Lambda route builds its bootstrap, and returns the binary's path.
func build(t testing.TB, dir, pkg string) string {
	t.Helper()
	programs.Lock()
	defer programs.Unlock()
	key := filepath.Join(dir, pkg)
	if bin, ok := programs.built[key]; ok {
		return bin
	}
	if programs.dir == "" {
		tmp, err := os.MkdirTemp("", "lambdarun-test-")
		if err != nil {
			t.Fatal(err)
		}
		programs.dir = tmp
		programs.built = map[string]string{}
	}
	bin := filepath.Join(programs.dir, strconv.Itoa(len(programs.built)))
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", key, err, out)
	}
	programs.built[key] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if programs.dir != "" {
		os.RemoveAll(programs.dir)
	}
	os.Exit(code)
}

// entry is one file of a test zip.
type entry struct {
	name    string
	data    []byte
	mode    fs.FileMode
	deflate bool
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		// Stored, not deflated: the test binaries are megabytes, and compressing them under
		// the race detector is slow. TestCodeInsideTheZip and
		// TestBadCode's bomb unpack deflated ones.
		h := &zip.FileHeader{Name: e.name, Method: zip.Store}
		if e.deflate {
			h.Method = zip.Deflate
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goFunction is the aws-lambda-go test function, zipped as bootstrap.
func goFunction(t testing.TB) []byte {
	return zipOf(t, entry{name: "bootstrap", data: readFile(t, build(t, "", "./internal/testfunc")), mode: 0o755})
}

// rawFunction is the raw Runtime API client, zipped as bootstrap.
func rawFunction(t testing.TB) []byte {
	return zipOf(t, entry{name: "bootstrap", data: readFile(t, build(t, "", "./internal/rawclient")), mode: 0o755})
}

func start(t *testing.T, cfg Config) *Function {
	t.Helper()
	if cfg.FunctionName == "" {
		cfg.FunctionName = "orders"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute // generous: the machine may be loaded; timeouts are tested apart
	}
	f, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func invoke(t *testing.T, f *Function, event any) Result {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := f.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return res
}

// testReply is what testfunc answers.
type testReply struct {
	Value      string            `json:"value"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"request_id"`
	ARN        string            `json:"arn"`
	DeadlineMS int64             `json:"deadline_ms"`
	Env        map[string]string `json:"env"`
}

func succeeded(t *testing.T, res Result) testReply {
	t.Helper()
	if res.FunctionError != "" {
		t.Fatalf("the invocation failed: %s %s", res.FunctionError, res.Payload)
	}
	var r testReply
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("payload %s: %v", res.Payload, err)
	}
	return r
}

func failed(t *testing.T, res Result) *FunctionError {
	t.Helper()
	if res.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError %q, want Unhandled; payload %s", res.FunctionError, res.Payload)
	}
	var fe *FunctionError
	if err := res.Err(); err == nil || !asFunctionError(err, &fe) {
		t.Fatalf("Err() = %v, want a *FunctionError", err)
	}
	return fe
}

func asFunctionError(err error, target **FunctionError) bool {
	fe, ok := err.(*FunctionError)
	*target = fe
	return ok
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether no process with pid runs any more (a zombie counts as gone).
func processGone(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}
