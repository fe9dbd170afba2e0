package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/spec"
)

// appBinary is the test service (testdata/app), built once per test binary.
var appBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "local-test-app-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	appBinary = filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-o", appBinary, ".")
	build.Dir = filepath.Join("testdata", "app")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/app: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// fixture is a provider with a real artifact store holding the test service.
type fixture struct {
	t        *testing.T
	dir      string
	store    *artifact.Store
	provider *local.Provider
	digest   string
	logs     *logBuffer
	live     *sluice.Version // the last version deployed successfully through deploy
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(appBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "app"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	art, err := store.Put(src, []string{"app"})
	if err != nil {
		t.Fatalf("put artifact: %v", err)
	}
	f := &fixture{t: t, dir: dir, store: store, digest: art.Digest, logs: &logBuffer{}}
	f.provider = local.New(filepath.Join(dir, "envs"), store, nil)
	t.Cleanup(func() { _ = f.provider.Close() })
	return f
}

// version describes the test service with VERSION=name and the extra environment.
func (f *fixture) version(name string, strategy sluice.Strategy, env ...string) sluice.Version {
	vars := map[string]string{"VERSION": name}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	return sluice.Version{
		Artifact: f.digest, Revision: name, Command: []string{"app"}, PortEnv: "PORT",
		Env: vars, HealthPath: "/healthz", HealthEvery: sluice.Duration(50 * time.Millisecond),
		StartTimeout: sluice.Duration(10 * time.Second), Strategy: strategy,
	}
}

func (f *fixture) deploy(ctx context.Context, to sluice.Version, alarms ...sluice.Alarm) deploy.Result {
	f.t.Helper()
	res, err := f.provider.Apply(ctx, deploy.Request{
		Environment: prod, ChangeSet: f.prepare(ctx, to), Alarms: alarms, DrainTimeout: 5 * time.Second, Log: f.logs.logf,
	})
	if err != nil {
		f.t.Fatalf("deploy %s: %v\nlog:\n%s", to.Revision, err, f.logs)
	}
	if res.Status == sluice.StatusSucceeded {
		f.live = &to
	}
	return res
}

// prepare asks the provider for the change set from what prod runs now to `to`.
func (f *fixture) prepare(ctx context.Context, to sluice.Version) *sluice.ChangeSet {
	f.t.Helper()
	cs, err := f.provider.Prepare(ctx, prod, f.live, to)
	if err != nil {
		f.t.Fatalf("prepare %s: %v", to.Revision, err)
	}
	return cs
}

// addr is prod's router as host:port; Address returns it as a URL.
func (f *fixture) addr(ctx context.Context) string {
	f.t.Helper()
	u, err := f.provider.Address(ctx, prod)
	if err != nil {
		f.t.Fatalf("address: %v", err)
	}
	addr, ok := strings.CutPrefix(u, "http://")
	if !ok || strings.Contains(addr, "/") {
		f.t.Fatalf("Address = %q, want http://HOST:PORT", u)
	}
	return addr
}

var allAtOnce = sluice.Strategy{Type: sluice.AllAtOnce}

// prod is the environment the tests deploy to, serving where the provider chooses.
var prod = deploy.Environment{Name: "prod"}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var client = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func wantServes(t *testing.T, addr, version string) {
	t.Helper()
	for range 5 {
		code, body := get(t, "http://"+addr+"/")
		if code != http.StatusOK || body != version {
			t.Fatalf("GET / = %d %q, want 200 %q", code, body, version)
		}
	}
}

// status is what the provider reports about prod.
func status(t *testing.T, p *local.Provider) *deploy.EnvironmentStatus {
	t.Helper()
	st, err := p.Status(t.Context(), prod)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

// liveAddress is the backend address of the only version routed in prod.
func liveAddress(t *testing.T, p *local.Provider) string {
	t.Helper()
	st := status(t, p)
	if st == nil || len(st.Versions) != 1 {
		t.Fatalf("status = %+v, want one version", st)
	}
	return st.Versions[0].Address
}

func wantGone(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "/healthz")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("stopped version at %s still answers %s", url, resp.Status)
	}
}

// load sends requests to addr from n keep-alive clients until stop is closed, counting
// answers by status and transport errors.
type load struct {
	mu        sync.Mutex
	byBody    map[string]int
	byStatus  map[int]int
	transport int
	lastErr   error
	wg        sync.WaitGroup
	stop      chan struct{}
}

func startLoad(addr string, n int) *load {
	l := &load{byBody: map[string]int{}, byStatus: map[int]int{}, stop: make(chan struct{})}
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					l.mu.Lock()
					l.transport++
					l.lastErr = err
					l.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				l.mu.Lock()
				l.byStatus[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					l.byBody[string(body)]++
				}
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *load) String() string {
	return fmt.Sprintf("statuses %v, bodies %v, transport errors %d (last %v)", l.byStatus, l.byBody, l.transport, l.lastErr)
}

func TestFirstDeployServesAll(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if again := f.addr(ctx); again != addr {
		t.Errorf("Address is not idempotent: %s then %s", addr, again)
	}
	res := f.deploy(ctx, f.version("v1", sluice.Strategy{Type: sluice.Linear, Percent: 10, Interval: time.Hour}))
	if res.Status != sluice.StatusSucceeded {
		t.Fatalf("status = %s (%s), want Succeeded", res.Status, res.Reason)
	}
	wantServes(t, addr, "v1")
	st := status(t, f.provider)
	if st == nil || len(st.Versions) != 1 || st.Versions[0].Weight != 100 || st.Versions[0].Artifact != f.digest {
		t.Fatalf("status = %+v, want one version with all traffic and the artifact", st)
	}
}

func TestLinearShiftServesBothThenOnlyNew(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	oldURL := liveAddress(t, f.provider)
	l := startLoad(addr, 4)
	res := f.deploy(ctx, f.version("v2", sluice.Strategy{Type: sluice.Linear, Percent: 50, Interval: 300 * time.Millisecond}))
	l.end()
	if res.Status != sluice.StatusSucceeded {
		t.Fatalf("v2: %s (%s)\n%s", res.Status, res.Reason, f.logs)
	}
	t.Logf("during the shift: %s", l)
	if l.byBody["v1"] == 0 || l.byBody["v2"] == 0 {
		t.Errorf("during the shift both versions should answer: %s", l)
	}
	if l.transport != 0 || len(l.byStatus) != 1 {
		t.Errorf("requests failed during the shift: %s", l)
	}
	wantServes(t, addr, "v2")
	wantGone(t, oldURL)
}

func TestAlarmRollsBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	l := startLoad(addr, 4)
	alarm := sluice.Alarm{Name: "errors", Metric: sluice.MetricErrorRate, Threshold: 0.05, Window: time.Second, MinRequests: 3}
	res := f.deploy(ctx, f.version("v2", sluice.Strategy{Type: sluice.Linear, Percent: 50, Interval: 300 * time.Millisecond}, "FAIL", "1"), alarm)
	l.end()
	if res.Status != sluice.StatusRolledBack {
		t.Fatalf("status = %s (%s), want RolledBack\n%s", res.Status, res.Reason, f.logs)
	}
	rb := res.Rollback
	if rb == nil || rb.Cause != "alarm" || rb.Alarm != "errors" || rb.BreachedAt.IsZero() || rb.RestoredAt.IsZero() {
		t.Fatalf("rollback = %+v, want cause alarm with both times", rb)
	}
	t.Logf("reaction %s; clients saw %s", rb.Reaction(), l)
	if r := rb.Reaction(); r < 0 || r > 2*time.Second {
		t.Errorf("reaction = %s, want between 0 and 2s", r)
	}
	wantServes(t, addr, "v1")
}

func TestNeverHealthyFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     []string
		portEnv string
		reason  []string // what the reason must say
	}{
		{"health check 404", []string{"UNHEALTHY", "1"}, "", []string{"404"}},
		{"exits at once", []string{"EXIT", "1"}, "", []string{"exited before it became healthy (exit code 3)", "it printed last:\n    | starting\n    | cannot open the database: DATABASE_URL is not set"}},
		// The service reads PORT, but the route gives its port in APP_PORT: nothing listens there.
		{"listens on another port", nil, "APP_PORT", []string{"must listen on the port Sluice gives it in $APP_PORT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			f := newFixture(t)
			addr := f.addr(ctx)
			if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
				t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
			}
			bad := f.version("v2", allAtOnce, tt.env...)
			bad.StartTimeout = sluice.Duration(time.Second)
			if tt.portEnv != "" {
				bad.PortEnv = tt.portEnv
			}
			res := f.deploy(ctx, bad)
			if res.Status != sluice.StatusFailed || res.Reason == "" {
				t.Fatalf("status = %s (%q), want Failed with a reason", res.Status, res.Reason)
			}
			for _, want := range tt.reason {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("reason %q does not say %q", res.Reason, want)
				}
			}
			if rb := res.Rollback; rb == nil || rb.Cause != sluice.CauseHealth || rb.Detail == "" {
				t.Fatalf("rollback = %+v, want cause health: the old version kept all traffic", rb)
			}
			t.Logf("reason: %s", res.Reason)
			wantServes(t, addr, "v1")
		})
	}
}

func TestPreTrafficHookFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	var hookSaw []string
	res, err := f.provider.Apply(ctx, deploy.Request{
		Environment: prod, ChangeSet: f.prepare(ctx, f.version("v2", allAtOnce)), DrainTimeout: 5 * time.Second,
		Hook: func(ctx context.Context, phase, endpoint string, _ map[string]string) error {
			for range 5 {
				_, body := get(t, endpoint+"/")
				hookSaw = append(hookSaw, phase+":"+body)
			}
			if phase == "pre_traffic" {
				return errors.New("smoke test failed")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sluice.StatusRolledBack || res.Rollback == nil || res.Rollback.Cause != "hook" {
		t.Fatalf("result = %+v, want RolledBack by the hook", res)
	}
	for _, s := range hookSaw {
		if s != "pre_traffic:v2" {
			t.Fatalf("the pre-traffic hook saw %v, want only the new version", hookSaw)
		}
	}
	wantServes(t, addr, "v1")
}

func TestNoFailedRequestsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	l := startLoad(addr, 20)
	linear := sluice.Strategy{Type: sluice.Linear, Percent: 25, Interval: 200 * time.Millisecond}
	good := f.deploy(ctx, f.version("v2", linear))
	alarm := sluice.Alarm{Name: "errors", Metric: sluice.MetricErrorRate, Threshold: 0.05, Window: time.Second, MinRequests: 3}
	bad := f.deploy(ctx, f.version("v3", linear, "FAIL", "1"), alarm)
	l.end()
	t.Logf("v2 %s, v3 %s; clients saw %s", good.Status, bad.Status, l)
	if good.Status != sluice.StatusSucceeded || bad.Status != sluice.StatusRolledBack {
		t.Fatalf("v2 %s (%s), v3 %s (%s); want Succeeded then RolledBack", good.Status, good.Reason, bad.Status, bad.Reason)
	}
	// The broken version answers 500 by design; anything else failing is the provider's fault.
	if l.transport != 0 || l.byStatus[http.StatusBadGateway] != 0 || l.byStatus[http.StatusServiceUnavailable] != 0 {
		t.Errorf("clients saw failures the provider caused: %s", l)
	}
	if l.byBody["v1"] == 0 || l.byBody["v2"] == 0 {
		t.Errorf("want answers from v1 and v2: %s", l)
	}
	wantServes(t, addr, "v2")
}

func TestRestoreAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	v1 := f.version("v1", allAtOnce)
	if res := f.deploy(ctx, v1); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	if err := f.provider.Close(); err != nil {
		t.Fatal(err)
	}
	again := local.New(filepath.Join(f.dir, "envs"), f.store, nil)
	t.Cleanup(func() { _ = again.Close() })
	// A client that arrives while the live version is still starting waits for it: it is never
	// answered 503 by a router with nothing routed yet.
	restored := make(chan error, 1)
	go func() { restored <- again.Restore(ctx, deploy.Environment{Name: "prod", Listen: addr}, &v1, nil) }()
	early := make(chan string, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			conn.Close()
			break
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + addr + "/")
		if err != nil {
			early <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		early <- fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}()
	if err := <-restored; err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := <-early; got != "200 v1" {
		t.Errorf("a request sent during the restore got %q, want \"200 v1\"", got)
	}
	wantServes(t, addr, "v1")
	// Restoring what already serves changes nothing.
	before := liveAddress(t, again)
	if err := again.Restore(ctx, deploy.Environment{Name: "prod", Listen: addr}, &v1, nil); err != nil {
		t.Fatalf("restore again: %v", err)
	}
	if after := liveAddress(t, again); after != before {
		t.Errorf("a second Restore replaced the version: %s then %s", before, after)
	}
}

func TestTamperedArtifactFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	blob := f.store.Path(f.digest)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(blob, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res := f.deploy(ctx, f.version("v2", allAtOnce))
	if res.Status != sluice.StatusFailed || !strings.Contains(res.Reason, "verification") {
		t.Fatalf("result = %s (%q), want Failed mentioning verification", res.Status, res.Reason)
	}
	wantServes(t, addr, "v1")
}

func TestListenBusy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := newFixture(t)
	_, err = f.provider.Address(t.Context(), deploy.Environment{Name: "prod", Listen: ln.Addr().String()})
	if sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Fatalf("Address on a busy port = %v, want a conflict", err)
	}
}

func TestAddressIsAURLAndListenTakesItBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	u, err := f.provider.Address(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("Address = %q, want an http URL on loopback", u)
	}
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	if code, body := get(t, u+"/"); code != http.StatusOK || body != "v1" {
		t.Fatalf("GET %s/ = %d %q, want 200 v1", u, code, body)
	}
	// The engine keeps the URL and hands it back as where to listen after a restart.
	if err := f.provider.Close(); err != nil {
		t.Fatal(err)
	}
	again := local.New(filepath.Join(f.dir, "envs2"), f.store, nil)
	t.Cleanup(func() { _ = again.Close() })
	got, err := again.Address(ctx, deploy.Environment{Name: "prod", Listen: u})
	if err != nil {
		t.Fatalf("Address with listen %q: %v", u, err)
	}
	if got != u {
		t.Errorf("Address after restart = %q, want the same %q", got, u)
	}
	for _, bad := range []string{"https://127.0.0.1:1", "http://127.0.0.1:1/path", "http://"} {
		_, err := again.Address(ctx, deploy.Environment{Name: "other-" + strings.NewReplacer(":", "", "/", "").Replace(bad), Listen: bad})
		if sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "listen: HOST:PORT") {
			t.Errorf("Address with listen %q: err = %v, want EINVALID naming the fix", bad, err)
		}
	}
}

func TestApplyRefusesAChangeSetThatDoesNotMatchItsDigest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	cs := f.prepare(ctx, f.version("v1", allAtOnce))
	if cs.Digest == "" || cs.Empty() {
		t.Fatalf("prepared %+v, want a sealed change set with changes", cs)
	}
	again := f.prepare(ctx, f.version("v1", allAtOnce))
	if again.Digest != cs.Digest {
		t.Errorf("Prepare is not idempotent: %s then %s", cs.Digest, again.Digest)
	}
	tampered := *cs
	tampered.To.Env = map[string]string{"VERSION": "v1", "EXTRA": "not reviewed"}
	res, err := f.provider.Apply(ctx, deploy.Request{Environment: prod, ChangeSet: &tampered})
	if sluice.ErrorCode(err) != sluice.ECONFLICT || res.Status != "" {
		t.Fatalf("Apply of a tampered change set = %+v, %v; want ECONFLICT and no deployment", res, err)
	}
	if st := status(t, f.provider); st != nil && len(st.Versions) > 0 {
		t.Fatalf("something serves after a refused change set: %+v", st)
	}
	if err := f.provider.Discard(ctx, prod, cs); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1 after a discard: %s (%s)", res.Status, res.Reason)
	}
}

// The router's time limits come from the environment's target block: a version that does not
// answer within upstream_timeout gets the client a 504, long before the 60s default.
func TestTargetBlockSetsTheRouterTimeLimits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	limited := deploy.Environment{Name: prod.Name, Config: &spec.LocalTarget{UpstreamTimeout: 300 * time.Millisecond}}
	u, err := f.provider.Address(ctx, limited)
	if err != nil {
		t.Fatal(err)
	}
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != sluice.StatusSucceeded {
		t.Fatalf("v1: %s (%s)", res.Status, res.Reason)
	}
	code, body := get(t, u+"/hang")
	if code != http.StatusGatewayTimeout {
		t.Fatalf("GET /hang: %d %q, want 504 after the 300ms upstream_timeout", code, body)
	}
	if code, body := get(t, u+"/"); code != http.StatusOK || body != "v1" {
		t.Errorf("GET / after the timeout: %d %q, want v1", code, body)
	}
}

// TestTeardownStopsAndFreesTheAddress tears one of two environments down: its version stops,
// its address stops answering and can be listened on again, its folder goes; the other
// environment serves on. Tearing down again, or an environment never started, is no error.
func TestTeardownStopsAndFreesTheAddress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	addr := f.addr(ctx)
	f.deploy(ctx, f.version("v1", allAtOnce))
	wantServes(t, addr, "v1")
	backend := liveAddress(t, f.provider)

	other := deploy.Environment{Name: "prod@pr-7"}
	otherURL, err := f.provider.Address(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.provider.Prepare(ctx, other, nil, f.version("pr", allAtOnce))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := f.provider.Apply(ctx, deploy.Request{Environment: other, ChangeSet: cs, Log: f.logs.logf}); err != nil || res.Status != sluice.StatusSucceeded {
		t.Fatalf("deploy to %s: %v %+v", other.Name, err, res)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "envs", other.Name)); err != nil {
		t.Fatalf("the environment has no folder to remove: %v", err)
	}
	st, err := f.provider.Status(ctx, other)
	if err != nil || st == nil || len(st.Versions) != 1 {
		t.Fatalf("status of %s: %+v %v, want one version", other.Name, st, err)
	}
	otherBackend := st.Versions[0].Address

	if err := f.provider.Teardown(ctx, other); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	wantGone(t, otherURL)
	wantGone(t, otherBackend)
	ln, err := net.Listen("tcp", strings.TrimPrefix(otherURL, "http://"))
	if err != nil {
		t.Fatalf("the torn-down address is not free: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(filepath.Join(f.dir, "envs", other.Name)); !os.IsNotExist(err) {
		t.Errorf("the environment's folder is still there: %v", err)
	}
	if st, _ := f.provider.Status(ctx, other); st != nil {
		t.Errorf("status of a torn-down environment: %+v, want none", st)
	}
	wantServes(t, addr, "v1")
	if got := liveAddress(t, f.provider); got != backend {
		t.Errorf("prod's version changed from %s to %s", backend, got)
	}
	for _, env := range []deploy.Environment{other, {Name: "never-started"}} {
		if err := f.provider.Teardown(ctx, env); err != nil {
			t.Errorf("teardown of %s again: %v", env.Name, err)
		}
	}
}
