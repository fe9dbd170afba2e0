// Package lambdarun runs a Lambda function's code on this machine the way Lambda's OS-only
// runtimes (provided.al2023, provided.al2) do, so that a fake AWS can execute real code: the
// requests of a demo reach the function's own Go code, and a broken version really fails.
//
// Start unpacks the function's zip into a temporary folder and checks that it holds an
// executable bootstrap at its top. Invoke runs one invocation. Like Lambda, each execution
// environment (a sandbox here) is one bootstrap process, started on the first invocation that
// needs it (a cold start), that asks for work through the Runtime API 2018-06-01, which the
// sandbox serves on its own loopback port:
//
//	GET  /2018-06-01/runtime/invocation/next           long-polls for the next invocation
//	POST /2018-06-01/runtime/invocation/{id}/response  the invocation's result
//	POST /2018-06-01/runtime/invocation/{id}/error     the invocation failed
//	POST /2018-06-01/runtime/init/error                the runtime could not start
//
// Up to Config.Instances sandboxes run at once, each handling one invocation at a time. As on
// Lambda, failures of the function are results, not errors: a returned error, a panic, a
// bootstrap that exits, a timeout (the sandbox is killed) or an init error end the invocation
// with Result.FunctionError "Unhandled" and Lambda's error document as the payload, and the
// next invocation starts a fresh sandbox where one was lost. Invoke returns an error only when
// the invocation could not be run at all (the function is closed, the caller gave up).
//
// HTTPAPI puts a function (or anything that invokes one, such as an alias choosing among
// versions) behind HTTP as an API Gateway HTTP API does, with payload format 2.0.
package lambdarun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Config describes one version of a function.
type Config struct {
	// Code is the function's deployment package: a zip with an executable bootstrap at its top.
	Code []byte
	// Env are the function's environment variables. The variables Lambda defines itself
	// (AWS_LAMBDA_*, AWS_REGION, _HANDLER, LAMBDA_TASK_ROOT, ...) are refused, as Lambda
	// refuses them; AWS credentials may be given, as Lambda gives the execution role's.
	Env map[string]string
	// FunctionName is the function's name. Required.
	FunctionName string
	// Version is the function's version, such as "3". If empty, $LATEST.
	Version string
	// Region is the function's region. If empty, us-east-1.
	Region string
	// Account is the account in the function's ARN. If empty, 000000000000.
	Account string
	// Handler is the function's handler setting, given to the bootstrap as _HANDLER. If
	// empty, bootstrap.
	Handler string
	// Memory is the function's memory in MB, only reported to the function (nothing limits
	// it). If zero, 128; at most 10240.
	Memory int
	// Timeout bounds one invocation, from its delivery to the bootstrap to its result. If
	// zero, 3s (Lambda's default); at most 15 minutes.
	Timeout time.Duration
	// Instances is how many sandboxes may run invocations at once. If zero, 1; at most 100.
	Instances int
	// MaxUnzippedSize bounds what the code may unzip to. If zero, 262144000 bytes, Lambda's
	// limit for a function's code unzipped.
	MaxUnzippedSize int64
	// Log receives the bootstrap processes' output and a START, END and REPORT line per
	// invocation, as CloudWatch Logs would. If nil, it is discarded.
	Log io.Writer
}

// Lambda's defaults and limits.
const (
	defaultTimeout     = 3 * time.Second
	maxTimeout         = 15 * time.Minute
	defaultMemory      = 128
	maxMemory          = 10240
	maxInstances       = 100
	defaultMaxUnzipped = 262144000
	// initLimit bounds a cold start: from starting the bootstrap to its first request for
	// work. Lambda allows an init phase 10 seconds too.
	initLimit = 10 * time.Second
	// maxPayload is Lambda's limit on a synchronous invocation's response (and the runtime's
	// error document): 6 MB.
	maxPayload = 6291556
)

// reservedEnv are variables Lambda sets itself and refuses in a function's configuration.
var reservedEnv = []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
	"LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}

// maxEnvSize is Lambda's limit on a function's environment variables, names and values.
const maxEnvSize = 4096

var (
	envNameRe      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	functionNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	versionRe      = regexp.MustCompile(`^(\$LATEST|[0-9]{1,10})$`)
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	accountRe      = regexp.MustCompile(`^[0-9]{12}$`)
)

// ErrClosed is returned by Invoke on a function that is closed or closing.
var ErrClosed = errors.New("the function is closed")

// Result is the outcome of one invocation, as Lambda's Invoke answers it.
type Result struct {
	// Payload is the function's response, or Lambda's error document
	// ({"errorType": ..., "errorMessage": ...}) when FunctionError is set.
	Payload []byte
	// FunctionError is "Unhandled" when the function failed (what Lambda's Invoke puts in
	// X-Amz-Function-Error), "" when it succeeded.
	FunctionError string
	// Duration is the time from the invocation's delivery to the bootstrap to its result.
	Duration time.Duration
	// InitDuration is the time the bootstrap took to start, on a cold start; zero otherwise.
	InitDuration time.Duration
	// RequestID is the invocation's request id.
	RequestID string
}

// FunctionError is a failed invocation's error document.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Err returns the function's error, nil when the invocation succeeded.
func (r Result) Err() error {
	if r.FunctionError == "" {
		return nil
	}
	e := &FunctionError{}
	if json.Unmarshal(r.Payload, e) != nil || e.Message == "" && e.Type == "" {
		e.Message = string(r.Payload)
	}
	return e
}

// Function is a started function version. Its methods are safe to call concurrently.
type Function struct {
	cfg  Config
	dir  string // holds task/ (the code, LAMBDA_TASK_ROOT) and tmp/ (TMPDIR)
	arn  string
	log  io.Writer
	env  []string // the environment every bootstrap starts with, but AWS_LAMBDA_RUNTIME_API
	slot chan *slot

	closing   chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
	sandboxes map[*sandbox]bool
	runs      sync.WaitGroup
}

// slot is one of the Instances places an invocation runs in; it keeps its sandbox between
// invocations, as Lambda keeps an execution environment warm.
type slot struct{ sb *sandbox }

// Start unpacks the code and prepares the function; no process runs until the first
// invocation. The error says what to fix when the configuration or the code is not usable.
// ctx is checked before the work starts; unpacking is not interrupted.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lambdarun-")
	if err != nil {
		return nil, fmt.Errorf("create a folder for function %s: %w", cfg.FunctionName, err)
	}
	task := filepath.Join(dir, "task")
	err = errors.Join(os.Mkdir(task, 0o755), os.Mkdir(filepath.Join(dir, "tmp"), 0o700))
	if err == nil {
		err = unzip(cfg.Code, task, cfg.MaxUnzippedSize)
	}
	if err == nil {
		err = checkBootstrap(task)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f := &Function{cfg: cfg, dir: dir, log: io.Discard, closing: make(chan struct{}), sandboxes: map[*sandbox]bool{},
		slot: make(chan *slot, cfg.Instances)}
	if cfg.Log != nil {
		f.log = &lockedWriter{w: cfg.Log}
	}
	f.arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.Account, cfg.FunctionName)
	if cfg.Version != "$LATEST" {
		f.arn += ":" + cfg.Version
	}
	f.env = f.environ()
	for range cfg.Instances {
		f.slot <- &slot{}
	}
	return f, nil
}

// fill checks the configuration and sets its defaults.
func (c *Config) fill() error {
	invalid := func(format string, args ...any) error { return sluice.Errorf(sluice.EINVALID, format, args...) }
	switch {
	case c.FunctionName == "":
		return invalid("the function has no name; set FunctionName")
	case !functionNameRe.MatchString(c.FunctionName):
		return invalid("function name %q is not one Lambda accepts; use up to 64 letters, digits, '-' and '_'", c.FunctionName)
	case c.Version != "" && !versionRe.MatchString(c.Version):
		return invalid("version %q is not a Lambda version; write $LATEST or a number", c.Version)
	case c.Region != "" && !regionRe.MatchString(c.Region):
		return invalid("region %q is not a region code such as eu-west-1", c.Region)
	case c.Account != "" && !accountRe.MatchString(c.Account):
		return invalid("account %q is not 12 digits", c.Account)
	case c.Memory < 0 || c.Memory > maxMemory:
		return invalid("memory %d MB is out of Lambda's range; write 128 to %d", c.Memory, maxMemory)
	case c.Timeout < 0 || c.Timeout > maxTimeout:
		return invalid("timeout %s is out of Lambda's range; write up to 15m", c.Timeout)
	case c.Instances < 0 || c.Instances > maxInstances:
		return invalid("%d instances: run 1 to %d at once", c.Instances, maxInstances)
	case c.MaxUnzippedSize < 0:
		return invalid("MaxUnzippedSize is negative; leave it zero for Lambda's limit")
	}
	size := 0
	for k, v := range c.Env {
		size += len(k) + len(v)
		switch {
		case !envNameRe.MatchString(k):
			return invalid("environment variable name %q is not valid; use letters, digits and '_', not starting with a digit", k)
		case slices.Contains(reservedEnv, k) || strings.HasPrefix(k, "AWS_LAMBDA_"):
			return invalid("environment variable %s is reserved: Lambda sets it itself; remove it from the function's environment", k)
		case strings.ContainsRune(v, 0):
			return invalid("environment variable %s holds a NUL byte; remove it", k)
		}
	}
	if size > maxEnvSize {
		return invalid("the function's environment variables take %d bytes, over Lambda's limit of 4 KB; move large settings to a file in the code or a parameter store", size)
	}
	if c.Version == "" {
		c.Version = "$LATEST"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Account == "" {
		c.Account = "000000000000"
	}
	if c.Handler == "" {
		c.Handler = "bootstrap"
	}
	if c.Memory == 0 {
		c.Memory = defaultMemory
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Instances == 0 {
		c.Instances = 1
	}
	if c.MaxUnzippedSize == 0 {
		c.MaxUnzippedSize = defaultMaxUnzipped
	}
	return nil
}

// checkBootstrap reports what is wrong when task has no executable bootstrap file at its top.
func checkBootstrap(task string) error {
	root, err := os.OpenRoot(task)
	if err != nil {
		return fmt.Errorf("open the function's folder: %w", err)
	}
	defer root.Close()
	// Through the root, so a chain of links cannot make a file outside pass for the bootstrap.
	info, err := root.Stat("bootstrap")
	switch {
	case errors.Is(err, os.ErrNotExist):
		if where := findBootstrap(task); where != "" {
			return sluice.Errorf(sluice.EINVALID, "the function's code has %s but no bootstrap at its top; zip from inside %s so that bootstrap is at the zip's top level", where, filepath.Dir(where))
		}
		return sluice.Errorf(sluice.EINVALID, "the function's code has no bootstrap; for provided.al2023 build the function as a file named bootstrap (GOOS=linux go build -tags lambda.norpc -o bootstrap) and zip it at the top level")
	case err != nil:
		return sluice.Errorf(sluice.EINVALID, "the function's bootstrap cannot be read: %v", err)
	case !info.Mode().IsRegular():
		return sluice.Errorf(sluice.EINVALID, "the function's bootstrap is a %s, not a file; zip the program itself as bootstrap", info.Mode().Type())
	case info.Mode()&0o111 == 0:
		return sluice.Errorf(sluice.EINVALID, "the function's bootstrap is not executable (mode %s); run chmod +x bootstrap before zipping, or zip with a tool that keeps file modes", info.Mode().Perm())
	}
	return nil
}

// findBootstrap returns the path of a file named bootstrap below task's top, or "".
func findBootstrap(task string) string {
	found := ""
	filepath.WalkDir(task, func(p string, d os.DirEntry, err error) error {
		if err == nil && found == "" && d.Name() == "bootstrap" && p != filepath.Join(task, "bootstrap") {
			found, _ = filepath.Rel(task, p)
			found = filepath.ToSlash(found)
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// environ is the environment of a bootstrap, as Lambda sets it, without the Runtime API's
// address (each sandbox has its own).
func (f *Function) environ() []string {
	c := f.cfg
	task := filepath.Join(f.dir, "task")
	vars := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"TMPDIR":                          filepath.Join(f.dir, "tmp"),
		"LAMBDA_TASK_ROOT":                task,
		"LAMBDA_RUNTIME_DIR":              task,
		"_HANDLER":                        c.Handler,
		"AWS_REGION":                      c.Region,
		"AWS_DEFAULT_REGION":              c.Region,
		"AWS_LAMBDA_FUNCTION_NAME":        c.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     c.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(c.Memory),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + c.FunctionName,
	}
	for k, v := range c.Env {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// Dir is the folder the code was unpacked into (LAMBDA_TASK_ROOT).
func (f *Function) Dir() string { return filepath.Join(f.dir, "task") }

// ARN is the function's ARN, as its invocations see it.
func (f *Function) ARN() string { return f.arn }

// Invoke runs one invocation with payload as its event and waits for its result. It waits for
// a free instance first. When ctx ends before the result, Invoke returns ctx's error at once
// while the invocation runs on to its end, as on Lambda. The error is ErrClosed after Close.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return Result{}, ErrClosed
	}
	f.runs.Add(1)
	f.mu.Unlock()
	var s *slot
	select {
	case s = <-f.slot:
	case <-ctx.Done():
		f.runs.Done()
		return Result{}, context.Cause(ctx)
	case <-f.closing:
		f.runs.Done()
		return Result{}, ErrClosed
	}
	type outcome struct {
		r   Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer f.runs.Done()
		r, err := f.run(s, slices.Clone(payload))
		f.slot <- s
		done <- outcome{r, err}
	}()
	select {
	case o := <-done:
		return o.r, o.err
	case <-ctx.Done():
		return Result{}, context.Cause(ctx)
	}
}

// run runs one invocation in s, starting a sandbox when s has none alive.
func (f *Function) run(s *slot, payload []byte) (Result, error) {
	id := newRequestID()
	res := Result{RequestID: id}
	inv := &invocation{id: id, payload: payload, done: make(chan outcome, 1)}
	var sb *sandbox
	cold := false
	for sb == nil {
		if s.sb != nil && !s.sb.alive() {
			f.drop(s)
		}
		cold = s.sb == nil
		if cold {
			started, err := f.spawn()
			if err != nil {
				if f.isClosed() {
					return res, ErrClosed
				}
				// Lambda answers so when the bootstrap cannot be executed (wrong architecture,
				// a script without its interpreter).
				return f.failed(res, "Runtime.InvalidEntrypoint", "RequestId: %s Error: %v", id, err), nil
			}
			s.sb = started
		}
		inv.deadline = time.Now().Add(f.cfg.Timeout)
		// A new bootstrap has Lambda's init limit to ask for its first invocation; a warm one
		// asks again at once after answering, and is given the invocation's own timeout.
		limit, phase := initLimit, "Init"
		if !cold {
			limit, phase = f.cfg.Timeout, "Task"
		}
		select {
		case s.sb.next <- inv:
			sb = s.sb
		case <-s.sb.exited:
			exited := s.sb
			f.drop(s)
			if body, ok := exited.initError(); ok {
				return f.failedWith(res, body), nil
			}
			if cold {
				return f.failed(res, "Runtime.ExitError", "RequestId: %s Error: %s", id, exitText(exited.exitErr)), nil
			}
			// A warm process that ended after its last invocation (a panic reported, then
			// exit) never saw this one: it starts cold in a new sandbox, as on Lambda.
		case body := <-s.sb.initFailed:
			f.drop(s)
			return f.failedWith(res, body), nil
		case <-time.After(limit): // no Stop needed: an unreachable timer is collected
			f.drop(s)
			return f.failed(res, "Sandbox.Timedout", "RequestId: %s Error: %s timed out after %.2f seconds", id, phase, limit.Seconds()), nil
		case <-f.closing:
			return res, ErrClosed
		}
	}
	delivered := time.Now()
	if cold {
		res.InitDuration = sb.initDuration()
	}
	fmt.Fprintf(f.log, "START RequestId: %s Version: %s\n", id, f.cfg.Version)
	timeout := time.NewTimer(f.cfg.Timeout)
	defer timeout.Stop()
	select {
	case out := <-inv.done:
		res.Payload, res.Duration = out.payload, time.Since(delivered)
		if out.failed {
			res.FunctionError = "Unhandled"
		}
	case <-sb.exited:
		res.Duration = time.Since(delivered)
		f.drop(s)
		select {
		case out := <-inv.done: // answered, then exited: a panic reported before the exit
			res.Payload = out.payload
			if out.failed {
				res.FunctionError = "Unhandled"
			}
		default:
			res = f.failed(res, "Runtime.ExitError", "RequestId: %s Error: %s", id, exitText(sb.exitErr))
		}
	case <-timeout.C:
		res.Duration = time.Since(delivered)
		f.drop(s)
		res = f.failed(res, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds", id, f.cfg.Timeout.Seconds())
	case <-f.closing:
		return res, ErrClosed
	}
	fmt.Fprintf(f.log, "END RequestId: %s\n", id)
	fmt.Fprintf(f.log, "REPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB", id, float64(res.Duration.Microseconds())/1000, f.cfg.Memory)
	if res.InitDuration > 0 {
		fmt.Fprintf(f.log, "\tInit Duration: %.2f ms", float64(res.InitDuration.Microseconds())/1000)
	}
	fmt.Fprintln(f.log)
	return res, nil
}

// failed returns res as a failed invocation with Lambda's error document.
func (f *Function) failed(res Result, errorType, format string, args ...any) Result {
	body, _ := json.Marshal(FunctionError{Type: errorType, Message: fmt.Sprintf(format, args...)})
	return f.failedWith(res, body)
}

func (f *Function) failedWith(res Result, body []byte) Result {
	res.Payload, res.FunctionError = body, "Unhandled"
	return res
}

// drop kills the slot's sandbox; the slot's next invocation starts a new one.
func (f *Function) drop(s *slot) {
	f.retire(s.sb)
	s.sb = nil
}

func (f *Function) isClosed() bool {
	select {
	case <-f.closing:
		return true
	default:
		return false
	}
}

// Close stops every bootstrap process, waits for the invocations in flight to end (they end
// with ErrClosed) and removes the function's folder. It is safe to call more than once.
func (f *Function) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.closeOnce.Do(func() { close(f.closing) })
	f.runs.Wait()
	f.mu.Lock()
	sandboxes := f.sandboxes
	f.sandboxes = map[*sandbox]bool{}
	f.mu.Unlock()
	for sb := range sandboxes {
		sb.stop()
	}
	return os.RemoveAll(f.dir)
}

// exitText says how a bootstrap ended, as Lambda's Runtime.ExitError does.
func exitText(err error) string {
	if err == nil {
		return "Runtime exited without providing a reason"
	}
	return "Runtime exited with error: " + err.Error()
}

// newRequestID is a random UUID, the form of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID is an X-Ray trace header for one invocation, not sampled.
func newTraceID() string {
	var b [20]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}

// lockedWriter serialises the writes of several processes and invocations to one log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
