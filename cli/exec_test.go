package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/syncbuf"
	"github.com/sluicehq/sluice/sqlite"
)

// started is a sluice command running in the background.
type started struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *syncbuf.Buffer // readable while the command runs
	once   sync.Once
	res    result
}

// startSluice starts sluice args in r.dir with standard input on /dev/null (exec's default: no
// terminal, as under nohup, cron or CI) and extra environment variables.
func (r *repo) startSluice(env []string, args ...string) *started {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 3*time.Minute)
	cmd, stdout, stderr := sluiceCmd(ctx, r.dir, args...)
	cmd.Env = append(cmd.Env, env...)
	live := &syncbuf.Buffer{}
	cmd.Stderr = live
	if err := cmd.Start(); err != nil {
		cancel()
		r.t.Fatal(err)
	}
	_ = stderr
	s := &started{cmd: cmd, stdout: stdout, stderr: live}
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		s.once.Do(func() { _ = cmd.Wait() })
		cancel()
	})
	return s
}

func (s *started) wait(t *testing.T) result {
	t.Helper()
	s.once.Do(func() {
		err := s.cmd.Wait()
		s.res = wait(t, s.cmd, s.stdout, bytes.NewBufferString(s.stderr.String()), err)
	})
	return s.res
}

// execution returns the execution of the newest --json summary's ID as status shows it.
func (r *repo) execution(id string) *sluice.Execution {
	r.t.Helper()
	st, ok := r.status()
	if !ok {
		r.t.Fatal("sluice status --json failed")
	}
	for i := range st.Executions {
		if st.Executions[i].ID == id {
			return &st.Executions[i]
		}
	}
	r.t.Fatalf("no execution %s in status", id)
	return nil
}

// TestRunWithoutTerminalWaitsForApproval: with standard input on /dev/null, sluice run does not
// prompt and takes the end of input for no decision: the approval waits, says how to approve by
// digest, and an approval of that digest lets the run finish.
func TestRunWithoutTerminalWaitsForApproval(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	run := r.startSluice(nil, "run", "--json", "--state", r.state)
	pending := r.waitPending("prod")
	time.Sleep(500 * time.Millisecond) // a prompt that read EOF would have decided by now
	if a := r.waitPending("prod"); a.ID != pending.ID {
		t.Fatalf("the approval was decided without anyone deciding: now %+v", a)
	}
	if res := sluiceRun(t, r.dir, "approve", "prod", "--state", r.state); res.code != cli.ExitUsage || !strings.Contains(res.stderr, "--change-set") {
		t.Errorf("approve without naming the change set: exit %d, %s; want %d asking for --change-set", res.code, res.stderr, cli.ExitUsage)
	}
	prefix := strings.TrimPrefix(pending.ChangeSetDigest, "sha256:")[:12]
	if res := sluiceRun(t, r.dir, "approve", "prod", "--change-set", prefix, "--state", r.state); res.code != 0 {
		t.Fatalf("approve: exit %d\n%s", res.code, res.stderr)
	}
	res := run.wait(t)
	s := decodeSummary(t, res)
	if res.code != cli.ExitOK || s.Status != sluice.StatusSucceeded {
		t.Fatalf("exit %d\n%s", res.code, explain(s, res))
	}
	if strings.Contains(res.stderr, "[y/N]") {
		t.Errorf("sluice run prompted with no terminal:\n%s", res.stderr)
	}
	// The state is not the default one here, so the command to copy names it.
	if !strings.Contains(res.stderr, "sluice approve prod --change-set "+sluice.ShortDigest(pending.ChangeSetDigest)+" --state "+r.state) {
		t.Errorf("the waiting message does not say how to approve by digest, on this state:\n%s", res.stderr)
	}
}

// TestStopWithoutEngine: an execution left waiting by a killed sluice run is stopped by sluice
// stop with no engine running: recorded, its approval rejected, and said.
func TestStopWithoutEngine(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	run := r.startSluice(nil, "run", "--json", "--state", r.state)
	pending := r.waitPending("prod")
	if err := run.cmd.Process.Kill(); err != nil { // SIGKILL: no engine is left
		t.Fatal(err)
	}
	run.once.Do(func() { _ = run.cmd.Wait() }) // killed: no result to read
	res := sluiceRun(t, r.dir, "stop", pending.ExecutionID, "--state", r.state)
	if res.code != 0 {
		t.Fatalf("stop: exit %d\n%s", res.code, res.stderr)
	}
	if want := "stopped execution " + pending.ExecutionID; !strings.Contains(res.stdout, want) || !strings.Contains(res.stdout, "waiting for approval in prod") {
		t.Errorf("stop said %q, want it to name the execution and what it stopped", res.stdout)
	}
	if ex := r.execution(pending.ExecutionID); ex.Status != sluice.StatusStopped {
		t.Errorf("execution is %s after the stop, want Stopped", ex.Status)
	}
	approve := sluiceRun(t, r.dir, "approve", "prod", "--change-set", pending.ChangeSetDigest, "--state", r.state)
	if approve.code == 0 || !strings.Contains(approve.stderr, "no approval is waiting") {
		t.Errorf("approve after the stop: exit %d %s, want a refusal", approve.code, approve.stderr)
	}
	// The next run starts from the stage the stop released.
	if again := sluiceRun(t, r.dir, "stop", pending.ExecutionID, "--state", r.state); again.code != cli.ExitFailed || !strings.Contains(again.stderr, "already ended") {
		t.Errorf("stop twice: exit %d %s, want 1 saying it already ended", again.code, again.stderr)
	}
}

// TestApproveRefusedStopsTheRun: run --approve by someone who is not an approver exits 1 and
// leaves no execution waiting.
func TestApproveRefusedStopsTheRun(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, func(y string) string {
		return replaceOnce(fastRoute(y), "approval:\n      required: true\n", "approval:\n      required: true\n      approvers: [alice]\n")
	})
	run := r.startSluice([]string{"SLUICE_USER=bob"}, "run", "--approve", "--json", "--state", r.state)
	res := run.wait(t)
	s := decodeSummary(t, res)
	if res.code != cli.ExitFailed || s.Status != sluice.StatusStopped {
		t.Fatalf("exit %d, status %s; want 1 and Stopped\n%s", res.code, s.Status, explain(s, res))
	}
	if !strings.Contains(res.stderr, "bob may not decide") {
		t.Errorf("the run does not say why it could not approve:\n%s", res.stderr)
	}
	if ex := r.execution(s.Execution); ex.Status != sluice.StatusStopped {
		t.Errorf("stored execution is %s, want Stopped", ex.Status)
	}
	if st, _ := r.status(); len(st.Environments) > 0 {
		for _, e := range st.Environments {
			if e.Pending != nil {
				t.Errorf("%s still has an approval waiting: %+v", e.Name, e.Pending)
			}
		}
	}
}

// TestRunTakesOverFromAnotherEngine: a run following an execution driven by another run's
// engine takes it over when that engine stops, cleanly or killed; an up beside a live run says
// who serves.
func TestRunTakesOverFromAnotherEngine(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, fastRoute)
			first := r.startSluice(nil, "run", "--json", "--state", r.state)
			pending := r.waitPending("prod")
			second := r.startSluice(nil, "run", "--json", "--state", r.state)
			deadline := time.Now().Add(time.Minute)
			for !strings.Contains(syncString(second), "handing the execution") {
				if time.Now().After(deadline) {
					t.Fatalf("the second run did not hand over to the first one's engine:\n%s", syncString(second))
				}
				time.Sleep(100 * time.Millisecond)
			}
			if sig == syscall.SIGTERM {
				up := sluiceRun(t, r.dir, "up", "--listen", "127.0.0.1:0", "--state", r.state)
				if up.code != cli.ExitFailed || !strings.Contains(up.stderr, "serves") || strings.Contains(up.stderr, "does not answer") {
					t.Errorf("up beside a live run: exit %d %q, want 1 saying which engine serves", up.code, up.stderr)
				}
			}
			if err := first.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			first.once.Do(func() { _ = first.cmd.Wait() })
			// The signal may land while the hand-off is still in flight (a loaded machine): then
			// the second run begins the execution here, which resumes it, instead of taking it
			// over after the hand-off. Either way it is the second run's now.
			tookOver := func() bool {
				out := syncString(second)
				return strings.Contains(out, "taking over execution "+pending.ExecutionID) ||
					strings.Contains(out, "beginning it here") && strings.Contains(out, "resuming execution "+pending.ExecutionID)
			}
			for !tookOver() {
				if time.Now().After(deadline) {
					t.Fatalf("the second run did not take the execution over:\n%s", syncString(second))
				}
				time.Sleep(100 * time.Millisecond)
			}
			a := r.waitPending("prod")
			if res := sluiceRun(t, r.dir, "approve", "prod", "--change-set", a.ChangeSetDigest, "--state", r.state); res.code != 0 {
				t.Fatalf("approve: exit %d\n%s", res.code, res.stderr)
			}
			res := second.wait(t)
			s := decodeSummary(t, res)
			if res.code != cli.ExitOK || s.Status != sluice.StatusSucceeded || s.Execution != pending.ExecutionID {
				t.Fatalf("the second run: exit %d, execution %s\n%s", res.code, s.Execution, explain(s, res))
			}
		})
	}
}

// syncString is what a running command wrote to stderr so far.
func syncString(s *started) string { return s.stderr.String() }

// TestStaleAPIFileGetsNoToken: api.json left by a killed engine may name a port another process
// listens on now; the CLI must not send that process the token.
func TestStaleAPIFileGetsNoToken(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var mu sync.Mutex
	var seen []string
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.Header.Get("Authorization")+" "+req.URL.String())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"proof":"00","executions":[],"environments":[]}`))
	}))
	defer impostor.Close()
	state := t.TempDir()
	// The state a killed engine left: its database too (commands never create one to read).
	db, err := sqlite.Open(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	info, _ := json.Marshal(map[string]any{"address": strings.TrimPrefix(impostor.URL, "http://")})
	if err := os.WriteFile(filepath.Join(state, "api.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sluiceRun(t, t.TempDir(), "status", "--json", "--state", state)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the CLI did not look at the address in api.json at all; the test proves nothing")
	}
	for _, s := range seen {
		if strings.Contains(s, token) {
			t.Errorf("the CLI sent the token to the process at api.json's address: %s", s)
		}
	}
}

// TestUpWatcherDoesNotDuplicate: with sluice up watching the branch, a sluice run of the new
// commit and the watcher do not both start an execution of it. The poll is slow enough that the
// run usually gets there first, the order that used to start a second execution.
func TestUpWatcherDoesNotDuplicate(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, func(y string) string {
		return replaceOnce(fastRoute(y), "    approval:\n      required: true\n", "")
	})
	up := r.startSluice(nil, "up", "--listen", "127.0.0.1:0", "--poll", "2s", "--state", r.state)
	eventually(t, "the watcher's first execution to end", func() bool {
		st, ok := r.status()
		return ok && len(st.Executions) == 1 && st.Executions[0].Status.Done()
	})
	r.edit("README.md", func(s string) string { return s + "\nA second commit.\n" })
	r.commit("second")
	code, s, res := r.run()
	if code != cli.ExitOK {
		t.Fatalf("run of the new commit: exit %d\n%s", code, explain(s, res))
	}
	eventually(t, "the watcher to see the new commit", func() bool {
		return strings.Contains(syncString(up), "revision="+s.Revision[:7])
	})
	st, ok := r.status()
	if !ok {
		t.Fatal("status failed")
	}
	n := 0
	for _, ex := range st.Executions {
		if ex.Revision == s.Revision {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d executions of the new commit, want 1:\n%s", n, syncString(up))
	}
}
