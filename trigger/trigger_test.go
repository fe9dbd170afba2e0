package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/trigger"
)

// runner is a Runner whose head a test moves, recording the revisions it is asked to run.
type runner struct {
	mu      sync.Mutex
	head    string
	headErr error
	runErr  error
	ran     []string
	looks   int
}

func (r *runner) Head(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looks++
	return r.head, r.headErr
}

func (r *runner) RunOrResume(_ context.Context, rev string) (*sluice.Execution, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, rev)
	if r.runErr != nil {
		return nil, false, r.runErr
	}
	return &sluice.Execution{ID: fmt.Sprintf("ex%d", len(r.ran)), Revision: rev}, false, nil
}

func (r *runner) set(head string, headErr, runErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head, r.headErr, r.runErr = head, headErr, runErr
}

// lookTwice waits until the poller has looked at the head twice more, so that whatever it
// would do about the current head is done.
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
			t.Fatal("the poller stopped looking at the head")
		}
		time.Sleep(time.Millisecond)
	}
}

func (r *runner) runs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

func TestPollerRunsEachNewHeadOnce(t *testing.T) {
	r := &runner{head: "a"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	p := &trigger.Poller{Runner: r, Every: time.Millisecond, Last: "a"}
	go func() { p.Run(ctx); close(done) }()

	check := func(what string, want ...string) {
		t.Helper()
		r.lookTwice(t)
		if got := r.runs(); !slices.Equal(got, want) {
			t.Fatalf("%s: ran %v, want %v", what, got, want)
		}
	}
	check("the revision that ran last is not new")
	r.set("b", nil, nil)
	check("a new head runs", "b")
	check("a head runs once", "b")
	r.set("x", errors.New("repository unreachable"), nil)
	check("a failure to read the head is no new head", "b")
	r.set("c", nil, errors.New("route has errors"))
	check("a head that fails to start", "b", "c")
	r.set("c", nil, nil)
	check("is not started again", "b", "c")
	r.set("d", nil, nil)
	check("the next head runs", "b", "c", "d")

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the poller did not stop when its context ended")
	}
}

func TestPollerRunsTheFirstHeadWhenNothingRan(t *testing.T) {
	r := &runner{head: "a"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go (&trigger.Poller{Runner: r, Every: time.Millisecond}).Run(ctx)
	r.lookTwice(t)
	if got := r.runs(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("ran %v, want [a]", got)
	}
}
