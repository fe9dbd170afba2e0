// Command hello-api is the example service of Sluice's bundled route: a tiny HTTP API that says
// which version and environment answered, so a deployment can be watched shifting traffic.
//
// It listens on 127.0.0.1:$PORT and serves:
//
//	GET /         {"message":"hello from dev","version":"abc1234","environment":"dev"}
//	GET /version  abc1234
//	GET /healthz  ok
//
// Every response carries the short revision in the X-Version header, so a reader (or the
// pre-traffic hook) can tell which version answered without relying on the endpoints above.
//
// Configuration comes from the environment: PORT (required), SLUICE_REVISION (the revision; its
// first 7 characters are shown, "dev" if unset), APP_ENV or else SLUICE_ENVIRONMENT (the
// environment's name, "local" if neither is set). SIGTERM or an interrupt stops it gracefully:
// requests in flight get up to 10s to finish.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// shutdownTimeout bounds how long a stopping server waits for requests in flight. The supervisor
// that sent SIGTERM waits longer than this before it kills, so a drain normally completes.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Getenv, os.Stdout, os.Stderr))
}

// run starts the service and blocks until ctx is done and the server has drained. It returns the
// process exit code: 0 after a clean stop, 1 when serving fails, 2 when the configuration is bad.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := configFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "hello-api: %v\n", err)
		return 2
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "hello-api: listen on %s: %v\n", addr, err)
		return 1
	}
	fmt.Fprintf(stdout, "hello-api: version %s serving environment %q on http://%s\n", cfg.revision, cfg.environment, ln.Addr())
	if err := serve(ctx, ln, newHandler(cfg)); err != nil {
		fmt.Fprintf(stderr, "hello-api: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "hello-api: version %s stopped\n", cfg.revision)
	return 0
}

// config is what the service learns from its environment variables.
type config struct {
	port        int
	revision    string // at most 7 characters; "dev" when no revision was given
	environment string
	// breakProd makes / and /version fail in the prod environment; see deliberatelyBreakProd.
	breakProd bool
}

func configFromEnv(getenv func(string) string) (config, error) {
	raw := getenv("PORT")
	if raw == "" {
		return config{}, errors.New("PORT is not set; set it to the port to listen on, for example PORT=8080")
	}
	port, err := strconv.Atoi(raw)
	if err != nil || port < 1 || port > 65535 {
		return config{}, fmt.Errorf("PORT=%q is not a port number; set it to a number from 1 to 65535", raw)
	}
	cfg := config{
		port:        port,
		revision:    shortRevision(getenv("SLUICE_REVISION")),
		environment: getenv("APP_ENV"),
		breakProd:   deliberatelyBreakProd,
	}
	if cfg.environment == "" {
		cfg.environment = getenv("SLUICE_ENVIRONMENT")
	}
	if cfg.environment == "" {
		cfg.environment = "local"
	}
	return cfg, nil
}

// shortRevision is the revision as people read it in git log --oneline.
func shortRevision(rev string) string {
	if rev == "" {
		return "dev"
	}
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// serve answers on ln until ctx is done, then stops accepting connections and waits up to
// shutdownTimeout for requests in flight. It returns nil after a complete drain.
func serve(ctx context.Context, ln net.Listener, h *handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
	}
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	h.ready.Store(true)

	select {
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Health turns red first so that a router still probing this version stops choosing it.
	h.ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("drain requests in flight: %w", err)
	}
	return nil
}
