package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/trigger"
)

// runner is a Runner whose branches a test moves, recording what it is asked to sync.
type runner struct {
	mu       sync.Mutex
	heads    map[string]string
	listErr  error
	syncErr  error
	synced   []string // each sync's heads, as "branch=sha,..." sorted
	looks    int
	expiries int
}

func (r *runner) Branches(context.Context) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looks++
	return maps.Clone(r.heads), r.listErr
}

func (r *runner) SyncBranches(_ context.Context, heads map[string]string) ([]engine.Triggered, []sluice.Pipeline, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, b := range slices.Sorted(maps.Keys(heads)) {
		parts = append(parts, b+"="+heads[b])
	}
	r.synced = append(r.synced, fmt.Sprint(parts))
	return []engine.Triggered{{Execution: &sluice.Execution{ID: "ex"}}}, nil, r.syncErr
}

func (r *runner) ExpirePipelines(context.Context) ([]sluice.Pipeline, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expiries++
	return nil, nil
}

func (r *runner) set(heads map[string]string, listErr, syncErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heads, r.listErr, r.syncErr = heads, listErr, syncErr
}

// lookTwice waits until the poller has looked at the branches twice more, so that whatever it
// would do about the current ones is done.
func (r *runner) lookTwice(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	want := r.looks + 2
	r.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		n := r.looks
		r.mu.Unlock()
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the poller stopped looking at the branches")
		}
		time.Sleep(time.Millisecond)
	}
}

func (r *runner) syncs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.synced)
}

func TestPollerSyncsWhenTheBranchesChange(t *testing.T) {
	r := &runner{heads: map[string]string{"main": "a"}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	p := &trigger.Poller{Runner: r, Every: time.Millisecond}
	go func() { p.Run(ctx); close(done) }()

	check := func(what string, want ...string) {
		t.Helper()
		r.lookTwice(t)
		if got := r.syncs(); !slices.Equal(got, want) {
			t.Fatalf("%s: synced %q, want %q", what, got, want)
		}
	}
	check("the first look syncs", "[main=a]")
	check("unchanged branches are not synced again", "[main=a]")
	r.set(map[string]string{"main": "a", "release/1.0": "b"}, nil, nil)
	check("a new branch", "[main=a]", "[main=a release/1.0=b]")
	r.set(map[string]string{"main": "c"}, errors.New("repository unreachable"), nil)
	check("a failure to list the branches is no change", "[main=a]", "[main=a release/1.0=b]")
	r.set(map[string]string{"main": "c"}, nil, errors.New("route has errors"))
	check("a deleted branch and a new head, failing", "[main=a]", "[main=a release/1.0=b]", "[main=c]")
	r.set(map[string]string{"main": "c"}, nil, nil)
	check("is not synced again", "[main=a]", "[main=a release/1.0=b]", "[main=c]")
	r.mu.Lock()
	expiries := r.expiries
	r.mu.Unlock()
	if expiries < 10 {
		t.Errorf("expired pipelines were looked for %d times in 10 looks; want every look", expiries)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the poller did not stop when its context ended")
	}
}
