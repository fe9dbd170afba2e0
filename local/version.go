package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/logtail"
	"github.com/sluicehq/sluice/runner"
)

// version is one running process of an environment.
type version struct {
	id      string
	spec    sluice.Version
	url     string
	logPath string
	proc    *runner.Process
	logFile *os.File
	grace   time.Duration
	// secrets are kept in memory only, to restart the version with them after a crash.
	secrets map[string]string
	started time.Time
	// crashes counts the quick crashes that led to this version (see supervise.go).
	crashes int
	// stopping is set before Sluice stops the version, so its exit is not taken for a crash.
	stopping atomic.Bool
}

// startVersion unpacks the verified artifact, starts the service on a free port and waits until
// its health check passes. On any failure nothing is left running.
func (p *Provider) startVersion(ctx context.Context, env *environment, spec sluice.Version, secrets map[string]string, logf func(string, ...any)) (*version, error) {
	env.mu.Lock()
	env.seq++
	rev := sluice.ShortRevision(spec.Revision)
	if rev == "" {
		rev = "v"
	}
	id := fmt.Sprintf("%s-%d", rev, env.seq)
	env.mu.Unlock()
	dir := filepath.Join(env.dir, "versions", id)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("create version folder: %w", err)
	}
	if err := p.artifacts.Unpack(spec.Artifact, dir); err != nil {
		return nil, fmt.Errorf("unpack artifact for %s: %w", env.name, err)
	}
	// The service binds its port itself, so between finding the port free and the service
	// binding it another process can take it. The service then exits; that is retried on a new
	// port, a few times.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		port, err := p.freePort()
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		v, err := p.launch(ctx, env, id, dir, spec, secrets, port, logf)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, errExitedEarly) || !portTaken(port) || attempt == attempts {
			return nil, err
		}
		logf("port %d was taken by another process before version %s could listen on it; starting it again on another port", port, id)
	}
}

// lastVersionSeq is the highest sequence number among the version folders and logs in dir
// (named <revision>-<n> and <revision>-<n>.log); 0 when there are none.
func lastVersionSeq(dir string) int {
	entries, _ := os.ReadDir(dir)
	last := 0
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".log")
		i := strings.LastIndexByte(name, '-')
		if i < 0 {
			continue
		}
		if n, err := strconv.Atoi(name[i+1:]); err == nil && n > last {
			last = n
		}
	}
	return last
}

// errExitedEarly marks a version that exited before it became healthy.
var errExitedEarly = errors.New("exited before it became healthy")

// portTaken reports whether another process listens on the loopback port now.
func portTaken(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	ln.Close()
	return false
}

// launch starts the unpacked version in dir on port and waits until it is healthy. On any
// failure nothing is left running.
func (p *Provider) launch(ctx context.Context, env *environment, id, dir string, spec sluice.Version, secrets map[string]string, port int, logf func(string, ...any)) (*version, error) {
	logPath := filepath.Join(env.dir, "versions", id+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open version log: %w", err)
	}
	args := append([]string{}, spec.Command...)
	if len(args) == 0 {
		logFile.Close()
		return nil, sluice.Errorf(sluice.EINVALID, "service.command is empty; name the program inside the artifact")
	}
	if inArtifact := filepath.Join(dir, args[0]); !strings.HasPrefix(args[0], "/") && exists(inArtifact) {
		args[0] = inArtifact
	}
	var secretValues []string
	for _, v := range secrets {
		secretValues = append(secretValues, v)
	}
	v := &version{id: id, spec: spec, url: "http://127.0.0.1:" + strconv.Itoa(port), logPath: logPath, logFile: logFile, grace: 10 * time.Second,
		secrets: secrets, started: time.Now()}
	p.mu.Lock()
	ledger := p.ledger
	p.mu.Unlock()
	v.proc, err = runner.Start(runner.Command{
		Name: "service " + id, Dir: dir, Args: args, Env: serviceEnv(env.name, spec, secrets, port),
		Output: logFile, Secrets: secretValues, Grace: v.grace, Ledger: ledger,
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", strings.Join(spec.Command, " "), err)
	}
	logf("started version %s (pid %d) on %s", id, v.proc.Pid(), v.url)
	if err := v.waitHealthy(ctx); err != nil {
		v.stop()
		return nil, err
	}
	logf("version %s is healthy", id)
	return v, nil
}

// serviceEnv is a service's environment: a minimal base, its configuration, its secrets, its
// port and the SLUICE_ variables.
func serviceEnv(envName string, spec sluice.Version, secrets map[string]string, port int) []string {
	vars := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	for k, v := range spec.Env {
		vars[k] = v
	}
	for k, v := range secrets {
		vars[k] = v
	}
	vars[spec.PortEnv] = strconv.Itoa(port)
	vars["SLUICE_ENVIRONMENT"] = envName
	vars["SLUICE_REVISION"] = spec.Revision
	vars["SLUICE_ARTIFACT"] = spec.Artifact
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// waitHealthy probes the health path until it answers 2xx, the process exits, or the start
// timeout passes.
func (v *version) waitHealthy(ctx context.Context) error {
	interval, probeTimeout, limit := time.Duration(v.spec.HealthEvery), time.Duration(v.spec.HealthLimit), time.Duration(v.spec.StartTimeout)
	if interval <= 0 {
		interval = time.Second
	}
	if probeTimeout <= 0 {
		probeTimeout = 2 * time.Second
	}
	if limit <= 0 {
		limit = 30 * time.Second
	}
	client := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(limit)
	probe := time.NewTimer(0)
	defer probe.Stop()
	last := "no probe answered yet"
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.proc.Done():
			return fmt.Errorf("version %s %w (exit code %d); see its log %s%s", v.id, errExitedEarly, v.proc.ExitCode(), v.logPath, lastLines(v.logPath))
		case <-probe.C:
		}
		resp, err := client.Get(v.url + v.spec.HealthPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return nil
			}
			last = "health check answered " + resp.Status
		} else {
			last = err.Error()
			if errors.Is(err, syscall.ECONNREFUSED) {
				last = fmt.Sprintf("nothing listens on %s: the service must listen on the port Sluice gives it in $%s", v.url, v.spec.PortEnv)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("version %s did not become healthy within %s (%s); see its log %s%s", v.id, limit, last, v.logPath, lastLines(v.logPath))
		}
		probe.Reset(interval)
	}
}

// stop ends the process (SIGTERM, then SIGKILL after its grace) and closes its log.
func (v *version) stop() {
	if v == nil {
		return
	}
	v.stopping.Store(true)
	_ = v.proc.Stop(v.grace)
	_ = v.logFile.Close()
}

// lastLines is what a version printed last, for an error that says why it never became healthy.
func lastLines(logPath string) string {
	if tail := logtail.Last(logPath, 10, "    | "); tail != "" {
		return "; it printed last:\n" + tail
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
