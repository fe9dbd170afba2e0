package lambdarun

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// sandbox is one execution environment: a bootstrap process and the Runtime API it alone
// talks to. A sandbox that crashed, timed out or failed to initialise is stopped and never
// reused; its server goes with it, so a request from a dying process can never take an
// invocation meant for its successor.
type sandbox struct {
	f          *Function
	cmd        *exec.Cmd
	srv        *http.Server
	started    time.Time
	next       chan *invocation // handed to the bootstrap's waiting /next
	initFailed chan []byte      // the error document of /runtime/init/error
	exited     chan struct{}    // closed once the process has exited; exitErr is set then
	exitErr    error
	stopOnce   sync.Once

	mu      sync.Mutex
	current *invocation // delivered, not yet answered
	ready   time.Time   // the first /next: the end of the init phase
	initErr []byte
}

// invocation is one event on its way through a sandbox.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan outcome // buffered: the handler never waits for run
}

type outcome struct {
	payload []byte
	failed  bool
}

// Runtime API paths (version 2018-06-01).
const apiPrefix = "/2018-06-01/runtime/"

// spawn starts a sandbox: its Runtime API on a fresh loopback port, then the bootstrap.
func (f *Function) spawn() (*sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Runtime API: %w", err)
	}
	sb := &sandbox{f: f, next: make(chan *invocation), initFailed: make(chan []byte, 1), exited: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"invocation/next", sb.handleNext)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { sb.handleResult(w, r, false) })
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { sb.handleResult(w, r, true) })
	mux.HandleFunc("POST "+apiPrefix+"init/error", sb.handleInitError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		runtimeError(w, http.StatusNotFound, "InvalidRequest", "no Runtime API endpoint "+r.Method+" "+r.URL.Path)
	})
	sb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go sb.srv.Serve(ln)

	task := filepath.Join(f.dir, "task")
	cmd := exec.Command(filepath.Join(task, "bootstrap"))
	cmd.Dir = task
	cmd.Env = append(slices.Clone(f.env), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	if f.cfg.Log != nil {
		cmd.Stdout, cmd.Stderr = f.log, f.log
	}
	// Output copying must not outlive the process by much, even when a child it left holds
	// the pipe.
	cmd.WaitDelay = 2 * time.Second
	isolate(cmd)
	sb.cmd = cmd

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		sb.srv.Close()
		return nil, ErrClosed
	}
	sb.started = time.Now()
	if err := cmd.Start(); err != nil {
		sb.srv.Close()
		return nil, err
	}
	f.sandboxes[sb] = true
	go func() {
		sb.exitErr = cmd.Wait()
		close(sb.exited)
	}()
	return sb, nil
}

// retire stops sb and forgets it.
func (f *Function) retire(sb *sandbox) {
	f.mu.Lock()
	delete(f.sandboxes, sb)
	f.mu.Unlock()
	sb.stop()
}

// stop kills the process (and whatever it started), waits for it, and closes its Runtime API.
func (sb *sandbox) stop() {
	sb.stopOnce.Do(func() {
		select {
		case <-sb.exited:
		default:
			kill(sb.cmd)
		}
		<-sb.exited
		sb.srv.Close()
	})
}

// alive reports whether sb can take another invocation.
func (sb *sandbox) alive() bool {
	select {
	case <-sb.exited:
		return false
	default:
	}
	_, failed := sb.initError()
	return !failed
}

func (sb *sandbox) initError() ([]byte, bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.initErr, sb.initErr != nil
}

func (sb *sandbox) initDuration() time.Duration {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.ready.IsZero() {
		return 0
	}
	return sb.ready.Sub(sb.started)
}

// handleNext gives the bootstrap its next invocation, waiting for one as long as it takes.
// Asking again also ends the init phase, or the previous invocation.
func (sb *sandbox) handleNext(w http.ResponseWriter, r *http.Request) {
	sb.mu.Lock()
	if sb.ready.IsZero() {
		sb.ready = time.Now()
	}
	if cur := sb.current; cur != nil {
		sb.current = nil
		cur.done <- outcome{failed: true, payload: errorDocument("Runtime.NoResponse",
			fmt.Sprintf("RequestId: %s Error: the runtime asked for the next invocation without answering this one", cur.id))}
	}
	sb.mu.Unlock()
	select {
	case inv := <-sb.next:
		sb.mu.Lock()
		sb.current = inv
		sb.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", sb.f.arn)
		h.Set("Lambda-Runtime-Trace-Id", newTraceID())
		w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// handleResult takes the response (or, with failed, the error) of the invocation in the path.
func (sb *sandbox) handleResult(w http.ResponseWriter, r *http.Request, failed bool) {
	id := r.PathValue("id")
	sb.mu.Lock()
	inv := sb.current
	sb.mu.Unlock()
	if inv == nil || inv.id != id {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is waiting for its result")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "read the body: "+err.Error())
		return
	}
	out := outcome{payload: body, failed: failed}
	status := http.StatusAccepted
	switch {
	case len(body) > maxPayload:
		status = http.StatusRequestEntityTooLarge
		out = outcome{failed: true, payload: errorDocument("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload))}
	case r.Trailer.Get("Lambda-Runtime-Function-Error-Type") != "":
		// A streamed response that failed half-way says so in its trailers.
		out = outcome{failed: true, payload: trailerError(r.Trailer)}
	case failed:
		out.payload = asErrorDocument(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	}
	sb.mu.Lock()
	if sb.current != inv {
		sb.mu.Unlock()
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "invocation "+id+" was answered already")
		return
	}
	sb.current = nil
	sb.mu.Unlock()
	inv.done <- out
	if status != http.StatusAccepted {
		runtimeError(w, status, "RequestEntityTooLarge", "the response is over Lambda's limit of 6 MB")
		return
	}
	accepted(w)
}

// handleInitError takes the error of a runtime that could not start. The invocation that
// started the sandbox fails with it, and the sandbox is not used again.
func (sb *sandbox) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil || len(body) > maxPayload {
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the init error is over Lambda's limit of 6 MB")
		return
	}
	sb.mu.Lock()
	if !sb.ready.IsZero() || sb.initErr != nil {
		sb.mu.Unlock()
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "the init phase is over")
		return
	}
	sb.initErr = asErrorDocument(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	sb.mu.Unlock()
	sb.initFailed <- sb.initErr
	accepted(w)
}

// errorDocument is Lambda's JSON for a failed invocation.
func errorDocument(errorType, message string) []byte {
	b, _ := json.Marshal(FunctionError{Type: errorType, Message: message})
	return b
}

// asErrorDocument keeps the runtime's error document when it is a JSON object, and makes one
// of its text otherwise.
func asErrorDocument(body []byte, errorType string) []byte {
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		return body
	}
	if errorType == "" {
		errorType = "Runtime.Unknown"
	}
	return errorDocument(errorType, string(body))
}

// trailerError is the error document of a response whose trailers report a failure.
func trailerError(t http.Header) []byte {
	if body, err := base64.StdEncoding.DecodeString(t.Get("Lambda-Runtime-Function-Error-Body")); err == nil && len(body) > 0 {
		return asErrorDocument(body, t.Get("Lambda-Runtime-Function-Error-Type"))
	}
	return errorDocument(t.Get("Lambda-Runtime-Function-Error-Type"), "the function failed while streaming its response")
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}` + "\n"))
}

// runtimeError answers a Runtime API call with the API's error shape.
func runtimeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{message, errorType})
}
