package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/spec"
	"github.com/sluicehq/sluice/sqlite"
)

// stateDir is where a route's state lives: --state, else $SLUICE_STATE, else .sluice beside the
// route file.
func stateDir(f *flags) (string, error) {
	dir := *f.state
	if dir == "" {
		dir = os.Getenv("SLUICE_STATE")
	}
	if dir == "" {
		dir = filepath.Join(filepath.Dir(*f.file), ".sluice")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", sluice.Errorf(sluice.EINVALID, "create state directory: %w; pass --state DIR to put it elsewhere", err)
	}
	return abs, nil
}

// apiInfo is written by a running engine so other commands can find it.
type apiInfo struct {
	Address string `json:"address"`
	PID     int    `json:"pid"`
}

const (
	apiFile   = "api.json"
	tokenFile = "token"
	lockFile  = "engine.lock"
)

// runningEngine returns a client for the engine serving dir, or nil if none does.
func runningEngine(ctx context.Context, dir string) *api.Client {
	c, _ := runningEngineInfo(ctx, dir)
	return c
}

// runningEngineInfo returns a client for the engine serving dir and what it wrote about itself,
// or nil if none does. api.json may be stale (its engine was killed, and another process may
// listen on its port now): the process it names must live, and whatever answers must prove it
// knows the token (api.Client.Ping) before the token is sent anywhere.
func runningEngineInfo(ctx context.Context, dir string) (*api.Client, apiInfo) {
	var info apiInfo
	b, err := os.ReadFile(filepath.Join(dir, apiFile))
	if err != nil {
		return nil, info
	}
	if json.Unmarshal(b, &info) != nil || info.Address == "" {
		return nil, info
	}
	if info.PID > 0 && errors.Is(syscall.Kill(info.PID, 0), syscall.ESRCH) {
		return nil, info
	}
	token, err := os.ReadFile(filepath.Join(dir, tokenFile))
	if err != nil {
		return nil, info
	}
	c := &api.Client{Base: "http://" + info.Address, Token: strings.TrimSpace(string(token))}
	if !c.Ping(ctx) {
		return nil, info
	}
	return c, info
}

// token returns the API token of dir, creating it (mode 0600) on first use.
func token(dir string) (string, error) {
	path := filepath.Join(dir, tokenFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write API token: %w", err)
	}
	return t, nil
}

// lockState takes the engine lock of dir: one engine per state directory. It fails with
// ECONFLICT when another engine holds it.
func lockState(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open engine lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if client, info := runningEngineInfo(context.Background(), dir); client != nil {
			return nil, sluice.Errorf(sluice.ECONFLICT, "another sluice engine (pid %d) serves %s at %s; sluice commands use it while it runs (a sluice run ends with its execution): wait for it to finish or stop it, then start this one", info.PID, dir, client.Base)
		}
		return nil, sluice.Errorf(sluice.ECONFLICT, "another sluice engine is using %s and does not answer on its API yet (it may be starting); wait for it to finish or stop it", dir)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// openStore opens the state's database for commands that only read or record decisions.
func openStore(dir string) (*sqlite.DB, error) {
	db, err := sqlite.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return db, nil
}

// instance is an engine running in this process, with its API on loopback.
type instance struct {
	engine   *engine.Engine
	db       *sqlite.DB
	provider *local.Provider
	server   *http.Server
	address  string
	dir      string
	unlock   func()
}

// serveOptions say how an engine serves its API. The zero value serves it, metrics included,
// on a free loopback port.
type serveOptions struct {
	Listen    string // the API's address; if empty, 127.0.0.1 and a free port
	NoMetrics bool   // answer /metrics with 404 instead of the environments' metrics
}

// startEngine opens the state, starts the engine (resuming what was running), and serves the API
// as opts say.
func startEngine(ctx context.Context, e *env, routeFile, dir string, opts serveOptions, logger *slog.Logger) (*instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "create state directory: %w; pass --state DIR to put it elsewhere", err)
	}
	unlock, err := lockState(dir)
	if err != nil {
		return nil, err
	}
	inst := &instance{dir: dir, unlock: unlock}
	ok := false
	defer func() {
		if !ok {
			inst.close()
		}
	}()
	if inst.db, err = openStore(dir); err != nil {
		return nil, err
	}
	artifacts, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	inst.provider = local.New(filepath.Join(dir, "environments"), artifacts, logger)
	absRoute, err := filepath.Abs(routeFile)
	if err != nil {
		return nil, err
	}
	inst.engine, err = engine.New(engine.Config{
		RouteFile: absRoute, StateDir: dir, Store: inst.db, Artifacts: artifacts,
		Providers: map[string]deploy.Provider{"local": inst.provider}, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	tok, err := token(dir)
	if err != nil {
		return nil, err
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, sluice.Errorf(sluice.ECONFLICT, "listen on %s: %w; pass --listen ADDR", listen, err)
	}
	inst.address = ln.Addr().String()
	srv := &api.Server{Engine: inst.engine, Token: tok, Addr: inst.address, Environments: func() []string { return routeEnvironments(absRoute) }}
	if !opts.NoMetrics {
		srv.Metrics = inst.provider.WriteMetrics
	}
	inst.server = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.server.Serve(ln) }()
	info, _ := json.Marshal(apiInfo{Address: inst.address, PID: os.Getpid()})
	if err := os.WriteFile(filepath.Join(dir, apiFile), info, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", apiFile, err)
	}
	if err := inst.engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	ok = true
	return inst, nil
}

// close pauses executions (they resume on the next start), stops environments and the API.
func (inst *instance) close() {
	if inst.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = inst.server.Shutdown(ctx)
		cancel()
		_ = os.Remove(filepath.Join(inst.dir, apiFile))
	}
	if inst.engine != nil {
		_ = inst.engine.Close()
	} else if inst.provider != nil {
		_ = inst.provider.Close()
	}
	if inst.db != nil {
		_ = inst.db.Close()
	}
	if inst.unlock != nil {
		inst.unlock()
	}
}

func routeEnvironments(file string) []string {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	route, diags := spec.Parse(file, text)
	if diags.HasErrors() {
		return nil
	}
	names := make([]string, 0, len(route.Environments))
	for _, env := range route.Environments {
		names = append(names, env.Name)
	}
	return names
}

// identity is who decides approvals: SLUICE_USER, else the OS user.
func identity() string {
	if u := os.Getenv("SLUICE_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// isTerminal reports whether r is a terminal a person types at: only then may Sluice prompt.
// /dev/null, a file, a pipe or a socket is not, whatever its file mode says (nohup, CI, cron).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
