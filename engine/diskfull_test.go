package engine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// smallDisk mounts a tmpfs of the given size over a new directory, for tests that need a disk
// that fills up. It skips the test where mounting is not allowed (not root, no tmpfs); the
// runner's and the store's own tests cover ENOSPC at the writer then.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		for range 50 {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = exec.Command("umount", "-l", dir).Run()
	})
	return dir
}

// diskFullFixture is a fixture whose state lies on a small disk, with the route's @FILL@
// replaced by a file on that disk that a command can grow until the disk is full.
func diskFullFixture(t *testing.T, route string) (*fixture, string) {
	t.Helper()
	state := smallDisk(t, "8m")
	fill := filepath.Join(state, "fill")
	f := newFixture(t, strings.ReplaceAll(route, "@FILL@", fill))
	f.state = state
	return f, fill
}

// endsWithin waits up to d for the execution to end, and returns it as stored, or nil if it
// is still being driven.
func (f *fixture) endsWithin(id string, d time.Duration) *sluice.Execution {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ex, err := f.engine.Wait(ctx, id)
	if err != nil {
		return nil
	}
	return ex
}

// TestDiskFullFailsTheCheck: a check whose output cannot be written because the disk is full
// fails, saying ENOSPC; the engine records it once space is back instead of leaving the
// execution InProgress with nobody driving it, and the next execution runs normally.
func TestDiskFullFailsTheCheck(t *testing.T) {
	f, fill := diskFullFixture(t, routeHead+`
checks:
  - name: fill
    run: |
      if [ -e @OUT@/no-fill ]; then echo fine; exit 0; fi
      dd if=/dev/zero of=@FILL@ bs=64k 2>/dev/null
      i=0; while [ $i -lt 300 ]; do echo "line $i of output that the log on the full disk cannot take any more"; i=$((i+1)); done
      touch @OUT@/filled
`+devOnly)
	f.start()
	ex := f.run()
	eventually(t, "the check to fill the disk", func() bool { return exists(filepath.Join(f.out, "filled")) })
	if got := f.endsWithin(ex.ID, 2*time.Second); got != nil && got.Status == sluice.StatusInProgress {
		t.Fatal("the engine let go of the execution while the disk was full: it would stay InProgress for good")
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	got := f.endsWithin(ex.ID, 60*time.Second)
	if got == nil {
		t.Fatal("the execution did not end after space came back")
	}
	if got.Status != sluice.StatusFailed || !strings.Contains(got.Error, "ENOSPC") {
		t.Fatalf("status %s, error %q: want Failed naming ENOSPC", got.Status, got.Error)
	}

	if err := os.WriteFile(filepath.Join(f.out, "no-fill"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.git("commit", "-q", "--allow-empty", "-m", "again")
	if next := f.wait(f.run().ID); next.Status != sluice.StatusSucceeded {
		t.Fatalf("the execution after space came back: %s (%s)", next.Status, next.Error)
	}
}

// TestDiskFullThenApproval: the disk fills while a check runs (the check itself passes); the
// engine waits for space to record it, and once space is back the execution goes on to its
// approval, and an approval given then is honoured.
func TestDiskFullThenApproval(t *testing.T) {
	f, fill := diskFullFixture(t, routeHead+`
checks:
  - name: fill
    run: "dd if=/dev/zero of=@FILL@ bs=64k >/dev/null 2>&1; touch @OUT@/filled"
environments:
  - name: dev
    approval: {required: true}
`)
	f.start()
	ex := f.run()
	eventually(t, "the check to fill the disk", func() bool { return exists(filepath.Join(f.out, "filled")) })
	if got := f.endsWithin(ex.ID, 2*time.Second); got != nil {
		t.Fatalf("the execution ended (%s, %q) while the disk was full; it should wait for space", got.Status, got.Error)
	}
	eventually(t, "status to say the execution waits for space", func() bool {
		snap, err := f.engine.Snapshots().Execution(context.Background(), ex.ID)
		return err == nil && strings.Contains(snap.Execution.Waiting, "ENOSPC")
	})
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	f.waitApproval()
	if _, err := f.engine.Decide(context.Background(), engine.Decision{Environment: "dev", ChangeSet: f.waitingChangeSet("dev"), Approve: true, User: "alice", Comment: "space is back"}); err != nil {
		t.Fatal(err)
	}
	got := f.endsWithin(ex.ID, 60*time.Second)
	if got == nil || got.Status != sluice.StatusSucceeded {
		t.Fatalf("after space came back and the approval: %+v", got)
	}
	if rec := f.action(ex.ID, "Checks", "fill"); rec.Status != sluice.StatusSucceeded {
		t.Errorf("the check is %s (%s)", rec.Status, rec.Error)
	}
}
