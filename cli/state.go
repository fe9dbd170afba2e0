package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/spec"
	"github.com/sluicehq/sluice/sqlite"
)

// statePath is where a route's state lives: --state, else $SLUICE_STATE, else .sluice beside the
// route file.
func statePath(f *flags) (string, error) {
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
	return abs, nil
}

// stateDir is the state directory of a command that keeps state (run, up, freeze): created
// (mode 0700) where none exists, and made private where it does.
func stateDir(f *flags) (string, error) {
	dir, err := statePath(f)
	if err != nil {
		return "", err
	}
	return dir, privateStateDir(dir)
}

// existingState is the state directory of a command that reads or acts on what earlier runs
// recorded (status, logs, history, approve...). It never creates one.
func existingState(f *flags) (string, error) {
	dir, err := statePath(f)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", sluice.Errorf(sluice.ENOTFOUND, "no state here: %s does not exist; run sluice run first, or pass --state DIR", dir)
	case err != nil:
		return "", fmt.Errorf("state directory: %w", err)
	case !st.IsDir():
		return "", sluice.Errorf(sluice.EINVALID, "state directory %s is not a directory; pass --state DIR", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return "", sluice.Errorf(sluice.ENOTFOUND, "no state here: %s holds no Sluice state; run sluice run first, or pass --state DIR", dir)
	}
	return dir, privateStateDir(dir)
}

// stateEntries are the names Sluice keeps in a state directory.
var stateEntries = map[string]bool{stateFile: true, stateFile + "-wal": true, stateFile + "-shm": true,
	tokenFile: true, apiFile: true, lockFile: true, "artifacts": true, "environments": true, "logs": true, "work": true}

// privateStateDir creates dir with mode 0700, or makes an existing one private: the state holds
// the API token, the artifact key and every action's output. A directory that others can read is
// tightened to 0700 when it holds Sluice's state (or nothing), and refused otherwise (--state /tmp must
// not change /tmp). A token file that others can read is refused, as the artifact key is.
func privateStateDir(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return sluice.Errorf(sluice.EINVALID, "create state directory: %w; pass --state DIR to put it elsewhere", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if !st.IsDir() {
		return sluice.Errorf(sluice.EINVALID, "state directory %s is not a directory; pass --state DIR", dir)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		_, err = os.Stat(filepath.Join(dir, stateFile))
		for _, entry := range entries {
			if err != nil && !stateEntries[entry.Name()] {
				return sluice.Errorf(sluice.EINVALID, "state directory %s has mode %04o, so other users can read it, and holds %s, which is not Sluice's; pass --state with a directory of its own", dir, mode, entry.Name())
			}
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return sluice.Errorf(sluice.EINVALID, "state directory %s has mode %04o, so other users can read it: %w; run: chmod 700 %s", dir, mode, err, dir)
		}
	}
	path := filepath.Join(dir, tokenFile)
	if st, err := os.Lstat(path); err == nil {
		if !st.Mode().IsRegular() {
			return sluice.Errorf(sluice.EINVALID, "the API token %s is not a regular file; delete it and a new one is made", path)
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			return sluice.Errorf(sluice.EINVALID, "the API token %s has mode %04o, so other users can read it; run: chmod 600 %s (or delete it and a new one is made)", path, mode, path)
		}
	}
	return nil
}

// apiInfo is written by a running engine so other commands can find it.
type apiInfo struct {
	Address string `json:"address"`
	PID     int    `json:"pid"`
}

const (
	stateFile = "state.db"
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

// openStore opens the state's database, for an engine in this process.
func openStore(dir string) (*sqlite.DB, error) {
	db, err := sqlite.Open(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return db, nil
}

// instance is an engine running in this process, with its API on loopback.
type instance struct {
	engine *engine.Engine
	db     *sqlite.DB
	// providers are the registered providers (cmd wiring), by target name.
	providers map[string]deploy.Provider
	server    *http.Server
	address   string
	dir       string
	unlock    func()
	// notifications deliver the route's notices while the engine runs; nil without rules.
	notifications *notifications
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
	if err := privateStateDir(dir); err != nil {
		return nil, err
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
	if inst.providers, err = deploy.Open(deploy.Host{StateDir: dir, Artifacts: artifacts, Log: logger}); err != nil {
		return nil, err
	}
	absRoute, err := filepath.Abs(routeFile)
	if err != nil {
		return nil, err
	}
	self, _ := os.Executable() // actions see it as SLUICE_BIN; unset when it cannot be known
	inst.engine, err = engine.New(engine.Config{
		Source:    git.Source{},
		RouteFile: absRoute, StateDir: dir, Store: inst.db, Artifacts: artifacts,
		Providers: inst.providers, Logger: logger, Binary: self,
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
	srv := &api.Server{Engine: inst.engine, Token: tok, Addr: inst.address}
	if !opts.NoMetrics {
		srv.Metrics = inst.writeMetrics
	}
	inst.server = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.server.Serve(ln) }()
	info, _ := json.Marshal(apiInfo{Address: inst.address, PID: os.Getpid()})
	if err := os.WriteFile(filepath.Join(dir, apiFile), info, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", apiFile, err)
	}
	if inst.notifications, err = startNotifications(ctx, routeFile, dir, inst.db, e.stderr, logger); err != nil {
		return nil, err
	}
	if err := inst.engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	if inst.notifications != nil {
		inst.notifications.run(inst.engine.Bus())
	}
	ok = true
	return inst, nil
}

// writeMetrics writes the metrics of every provider that keeps some (the local routers'), in
// the Prometheus text format.
func (inst *instance) writeMetrics(w io.Writer) error {
	for _, name := range slices.Sorted(maps.Keys(inst.providers)) {
		if m, ok := inst.providers[name].(interface{ WriteMetrics(io.Writer) error }); ok {
			if err := m.WriteMetrics(w); err != nil {
				return err
			}
		}
	}
	return nil
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
	} else {
		for _, p := range inst.providers {
			_ = p.Close()
		}
	}
	if inst.notifications != nil {
		// After the engine, so the events of its last moments are told too.
		inst.notifications.stop()
	}
	if inst.db != nil {
		_ = inst.db.Close()
	}
	if inst.unlock != nil {
		inst.unlock()
	}
}

// knownEnvironment refuses an environment that is not in the route, so that no command records
// anything about, or reads files of, a name such as ../../x. When the route file cannot be read,
// the environments recorded in the state are the ones known.
func knownEnvironment(e *env, f *flags, name string) error {
	if *f.pipeline != "" && *f.pipeline != "main" {
		return nil // a branch's or pull request's own environments (pr-7) are the engine's to check
	}
	known := routeEnvironments(*f.file)
	hint := ""
	if known == nil {
		hint = fmt.Sprintf(" (%s could not be read, or is not valid: sluice validate says why; pass -f FILE for another)", *f.file)
		_ = withService(e, f, reads, func(svc service, _ bool) error {
			st, err := svc.Status(e.ctx, *f.pipeline)
			if err != nil {
				return err
			}
			for _, env := range st.Environments {
				known = append(known, env.Name)
			}
			return nil
		})
	}
	if slices.Contains(known, name) {
		return nil
	}
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none"
	}
	return sluice.Errorf(sluice.ENOTFOUND, "no such environment %q; known: %s%s", name, list, hint)
}

// routeEnvironments are the names of the environments of the route in file, or nil when it
// cannot be read or is invalid.
func routeEnvironments(file string) []string {
	route := parsedRoute(file)
	if route == nil {
		return nil
	}
	names := make([]string, 0, len(route.Environments))
	for _, env := range route.Environments {
		names = append(names, env.Name)
	}
	return names
}

// parsedRoute is the route in file, or nil when it is not a regular file, cannot be read or
// has errors: for commands that use the route when they can and manage without it.
func parsedRoute(file string) *spec.Route {
	if checkRegularFile(file) != nil {
		return nil
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	route, diags := spec.Parse(file, text)
	if diags.HasErrors() {
		return nil
	}
	return route
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
