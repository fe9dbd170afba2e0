package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "state.db")) })
}

// open opens the database at path and closes it when the test ends.
func open(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func wantCode(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if got := sluice.ErrorCode(err); got != code {
		t.Fatalf("error code %q (%v), want %q", got, err, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ex := &sluice.Execution{ID: "ex-1", Status: sluice.StatusWaiting, Route: "version: 1\n"}
	if err := db.CreateExecution(t.Context(), ex, nil, nil, sluice.Event{Type: "sluice.execution.created"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("new database file has mode %v, want 0600: it holds state only its owner should read", info.Mode().Perm())
	}

	for range 2 {
		db = open(t, path)
		got, err := db.Execution(t.Context(), "ex-1")
		if err != nil {
			t.Fatalf("after reopening: %v", err)
		}
		if got.Seq != ex.Seq || got.Route != ex.Route || got.Status != ex.Status {
			t.Errorf("after reopening: %+v, want %+v", got, ex)
		}
		var rows, version int
		if err := db.read.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&rows, &version); err != nil {
			t.Fatal(err)
		}
		if rows != latestVersion() || version != latestVersion() || version < 1 {
			t.Errorf("schema_migrations holds %d rows up to version %d, want %d", rows, version, latestVersion())
		}
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	newer := latestVersion() + 1
	if _, err := db.write.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', '2099-01-01T00:00:00Z')`, newer); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	wantCode(t, err, sluice.ECONFLICT, path, fmt.Sprintf("schema version %d", newer), "upgrade sluice")
}

func TestNotADatabase(t *testing.T) {
	cases := []struct {
		name    string
		content []byte
	}{
		{"text", []byte(strings.Repeat("this is not a database\n", 400))},
		{"binary", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}, 2000)},
		{"damaged header", append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xff}, 8192)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path)
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a file that is not a database")
			}
			wantCode(t, err, sluice.ECORRUPT, path, "move it aside")
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, c.content) {
				t.Error("a failed Open changed the file")
			}
		})
	}
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		path  string
		parts []string
	}{
		{"empty", "", []string{"not a plain file path"}},
		{"memory", ":memory:", []string{"not a plain file path"}},
		{"query", filepath.Join(dir, "state.db?mode=ro"), []string{"not a plain file path"}},
		{"missing directory", filepath.Join(dir, "missing", "state.db"), []string{filepath.Join(dir, "missing", "state.db"), "directory exists"}},
		{"a directory", dir, []string{dir}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(c.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", c.path)
			}
			if sluice.ErrorCode(err) != sluice.EINVALID {
				t.Errorf("error code %q (%v), want %q", sluice.ErrorCode(err), err, sluice.EINVALID)
			}
			for _, p := range c.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not mention %q", err, p)
				}
			}
		})
	}
}

func TestInvalidInputStoresNothing(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	ex := func(id string) *sluice.Execution { return &sluice.Execution{ID: id, Status: sluice.StatusPending} }
	stage := func(name string) sluice.StageExecution { return sluice.StageExecution{Stage: name} }
	action := func(stage, name string) sluice.ActionExecution {
		return sluice.ActionExecution{Stage: stage, Action: name}
	}
	ev := sluice.Event{Type: "sluice.should.not.be.stored"}
	cases := []struct {
		name string
		call func() error
	}{
		{"execution without ID", func() error { return db.CreateExecution(ctx, ex(""), nil, nil, ev) }},
		{"action in a stage not given", func() error {
			return db.CreateExecution(ctx, ex("a"), []sluice.StageExecution{stage("Build")}, []sluice.ActionExecution{action("dev", "x")}, ev)
		}},
		{"stage twice", func() error {
			return db.CreateExecution(ctx, ex("b"), []sluice.StageExecution{stage("Build"), stage("Build")}, nil, ev)
		}},
		{"action twice", func() error {
			return db.CreateExecution(ctx, ex("c"), []sluice.StageExecution{stage("Build")}, []sluice.ActionExecution{action("Build", "x"), action("Build", "x")}, ev)
		}},
		{"stage of another execution", func() error {
			return db.CreateExecution(ctx, ex("d"), []sluice.StageExecution{{ExecutionID: "other", Stage: "Build"}}, nil, ev)
		}},
		{"event without type", func() error { return db.AppendEvents(ctx, sluice.Event{Subject: "x"}) }},
		{"event data not JSON", func() error { return db.AppendEvents(ctx, sluice.Event{Type: "t", Data: []byte("{nope")}) }},
		{"state change with a bad event", func() error {
			return db.SaveBuild(ctx, &sluice.Build{Pipeline: "p@main", Revision: "r"}, ev, sluice.Event{Type: "t", Data: []byte("nope")})
		}},
		{"new approval not waiting", func() error {
			return db.CreateApproval(ctx, &sluice.Approval{Pipeline: "p@main", Environment: "prod", Status: sluice.StatusSucceeded}, func(*sluice.Approval) []sluice.Event { return []sluice.Event{ev} })
		}},
		{"decision that is not one", func() error {
			return db.DecideApproval(ctx, &sluice.Approval{ID: 1, Status: sluice.StatusWaiting}, ev)
		}},
		{"build without revision", func() error { return db.SaveBuild(ctx, &sluice.Build{Pipeline: "p@main", Digest: "sha256:a"}, ev) }},
		{"change set without digest", func() error { return db.SaveChangeSet(ctx, &sluice.ChangeSet{Environment: "dev"}, ev) }},
		{"environment without name", func() error {
			return db.SaveEnvironment(ctx, &sluice.EnvironmentState{Pipeline: "p@main", Address: "x"}, ev)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.call(), sluice.EINVALID) })
	}
	evs, err := db.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.ListExecutions(ctx, "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 || len(list) != 0 {
		t.Errorf("invalid input stored %d events and %d executions", len(evs), len(list))
	}
}

func TestEventsGetTheirSeqAfterCommit(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	evs := []sluice.Event{{Type: "sluice.a"}, {Type: "sluice.b", ID: "given", Time: time.Unix(5, 0)}}
	if err := db.SaveBuild(t.Context(), &sluice.Build{Pipeline: "p@main", Revision: "r"}, evs...); err != nil {
		t.Fatal(err)
	}
	if evs[0].Seq <= 0 || evs[1].Seq != evs[0].Seq+1 {
		t.Errorf("seqs %d, %d; want consecutive from 1", evs[0].Seq, evs[1].Seq)
	}
	if evs[0].ID == "" || evs[0].SpecVersion != "1.0" || evs[0].DataContentType != "application/json" || evs[0].Time.IsZero() {
		t.Errorf("defaults not filled in the caller's slice: %+v", evs[0])
	}
	if evs[1].ID != "given" || !evs[1].Time.Equal(time.Unix(5, 0)) {
		t.Errorf("given attributes changed: %+v", evs[1])
	}

	failed := []sluice.Event{{Type: "sluice.c"}}
	err := db.SaveAction(t.Context(), &sluice.ActionExecution{ExecutionID: "nope"}, failed...)
	wantCode(t, err, sluice.ENOTFOUND)
	if failed[0].Seq != 0 || failed[0].ID != "" {
		t.Errorf("a failed change touched its events: %+v", failed[0])
	}
}

// Two handles on one file stand for two processes (sluice up and sluice approve): writes wait
// for each other instead of failing with "database is locked", and a decision still has one
// winner.
func TestTwoHandlesOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	dbs := []*DB{open(t, path), open(t, path)}
	a := &sluice.Approval{Pipeline: "p@main", Environment: "prod", ChangeSetDigest: "sha256:1"}
	if err := dbs[0].CreateApproval(t.Context(), a, nil); err != nil {
		t.Fatal(err)
	}
	const writers, builds = 8, 25
	var (
		wg   sync.WaitGroup
		wins atomic.Int32
	)
	errs := make(chan error, writers*(builds+1))
	for w := range writers {
		db := dbs[w%2]
		wg.Go(func() {
			for i := range builds {
				errs <- db.SaveBuild(t.Context(), &sluice.Build{Pipeline: "p@main", Revision: fmt.Sprintf("w%d-%d", w, i)}, sluice.Event{Type: "sluice.build.succeeded"})
			}
			d := *a
			d.Status, d.DecidedBy = sluice.StatusSucceeded, fmt.Sprint("writer-", w)
			err := db.DecideApproval(t.Context(), &d)
			if err == nil {
				wins.Add(1)
			} else if sluice.ErrorCode(err) != sluice.ECONFLICT {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write: %v", err)
		}
	}
	if wins.Load() != 1 {
		t.Errorf("%d decisions won, want 1", wins.Load())
	}
	evs, err := dbs[1].ListEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != writers*builds {
		t.Errorf("%d events, want %d", len(evs), writers*builds)
	}
}

const killChildEnv = "SLUICE_SQLITE_TEST_KILL_CHILD"

// TestSurvivesSIGKILL runs a child process that commits builds in a loop and says so after each
// commit, kills it with SIGKILL mid-stream, and checks every acknowledged commit is there.
func TestSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		commitForever(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSurvivesSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // in case the test fails before the kill

	const killAfter = 300
	acked := -1
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		n, ok := strings.CutPrefix(scanner.Text(), "committed ")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil || i != acked+1 {
			t.Fatalf("child said %q after %d", scanner.Text(), acked)
		}
		acked = i
		if acked == killAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if acked < killAfter {
		t.Fatalf("child ended after %d commits: %v", acked+1, err)
	}
	if err == nil {
		t.Fatal("child exited cleanly; want it killed")
	}

	db := open(t, path)
	for i := 0; i <= acked; i++ {
		if _, err := db.Build(t.Context(), "p@main", fmt.Sprintf("rev-%d", i)); err != nil {
			t.Fatalf("acknowledged commit %d of %d lost: %v", i, acked, err)
		}
	}
	evs, err := db.ListEvents(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < acked+1 {
		t.Errorf("%d events survived, want at least %d", len(evs), acked+1)
	}
	var check string
	if err := db.read.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check: %q, %v", check, err)
	}
}

// commitForever is the child of TestSurvivesSIGKILL. It stops by itself only after far more
// commits than the parent waits for, so an orphan cannot run forever.
func commitForever(path string) {
	db, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx := context.Background()
	for i := range 100_000 {
		b := &sluice.Build{Pipeline: "p@main", Revision: fmt.Sprintf("rev-%d", i), Digest: fmt.Sprintf("sha256:%064d", i), Size: int64(i), CreatedAt: time.Now()}
		if err := db.SaveBuild(ctx, b, sluice.Event{Type: "sluice.build.succeeded", Subject: b.Revision}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Printf("committed %d\n", i)
	}
	os.Exit(5)
}

// The engine saves an action a few times per run and budgets 10ms of overhead per action, so a
// save should stay well under a millisecond.
func BenchmarkSaveAction(b *testing.B) {
	db, actions := benchDB(b, 1)
	a := actions[0]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.Attempt = i
		a.Outputs = map[string]string{"URL": "http://127.0.0.1:8081"}
		if err := db.SaveAction(b.Context(), &a, benchEvent(a)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveActionParallel is actions of one stage saving at once, as run order allows.
func BenchmarkSaveActionParallel(b *testing.B) {
	db, actions := benchDB(b, 8)
	var next atomic.Int32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		a := actions[int(next.Add(1)-1)%len(actions)]
		for i := 0; pb.Next(); i++ {
			a.Attempt = i
			if err := db.SaveAction(b.Context(), &a, benchEvent(a)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchDB(b *testing.B, n int) (*DB, []sluice.ActionExecution) {
	db := open(b, filepath.Join(b.TempDir(), "state.db"))
	ex := &sluice.Execution{ID: "bench", Status: sluice.StatusInProgress, Route: strings.Repeat("x", 2000)}
	stages := []sluice.StageExecution{{ExecutionID: "bench", Stage: "checks"}}
	var actions []sluice.ActionExecution
	for i := range n {
		actions = append(actions, sluice.ActionExecution{ExecutionID: "bench", Stage: "checks", Action: fmt.Sprint("check-", i), Kind: sluice.KindCheck, Status: sluice.StatusInProgress})
	}
	if err := db.CreateExecution(b.Context(), ex, stages, actions); err != nil {
		b.Fatal(err)
	}
	return db, actions
}

func benchEvent(a sluice.ActionExecution) sluice.Event {
	return sluice.Event{
		Source: "sluice/bench@main", Type: "sluice.action.succeeded", Subject: a.ExecutionID + "/" + a.Stage + "/" + a.Action,
		Data: []byte(`{"attempt":1,"summary":"ok"}`),
	}
}
