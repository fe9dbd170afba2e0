package deploy_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/rollout"
)

// frozenClock stands still until the test advances it.
type frozenClock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	now    time.Time
	timers []*frozenTimer
}

type frozenTimer struct {
	clock *frozenClock
	at    time.Time
	c     chan time.Time
	done  bool
}

func newFrozenClock() *frozenClock {
	c := &frozenClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frozenClock) NewTimer(d time.Duration) deploy.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &frozenTimer{clock: c, at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.cond.Broadcast()
	return t
}

func (t *frozenTimer) C() <-chan time.Time { return t.c }

func (t *frozenTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.done
	t.done = true
	t.clock.cond.Broadcast()
	return was
}

// pending is the number of timers that have neither fired nor been stopped.
func (c *frozenClock) pending() int {
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// advance waits until the driver is waiting on at least n timers, then moves time on by d and
// fires every timer that is due.
func (c *frozenClock) advance(t *testing.T, n int, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.pending() < n {
		c.cond.Wait()
	}
	c.now = c.now.Add(d)
	for _, tm := range c.timers {
		if !tm.done && !tm.at.After(c.now) {
			tm.done = true
			tm.c <- c.now
		}
	}
}

// traffic records the weights the driver sets and serves the window a test chooses.
type traffic struct {
	mu      sync.Mutex
	weights []int
	set     chan int
	window  rollout.Window
	changed chan struct{}
	fail    map[int]error // SetWeight(percent) fails with this error
}

func newTraffic() *traffic {
	return &traffic{set: make(chan int, 100), changed: make(chan struct{}, 1), fail: map[int]error{}}
}

func (tr *traffic) SetWeight(_ context.Context, percent int) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.weights = append(tr.weights, percent)
	tr.set <- percent
	return tr.fail[percent]
}

func (tr *traffic) Window(time.Duration) rollout.Window {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.window
}

func (tr *traffic) Changed() <-chan struct{} { return tr.changed }

// breach makes the new version's window fail every request and wakes the driver.
func (tr *traffic) breach() {
	tr.mu.Lock()
	tr.window = rollout.Window{Requests: 100, Errors: 50, Span: 10 * time.Second}
	tr.mu.Unlock()
	tr.changed <- struct{}{}
}

func (tr *traffic) recorded() []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.weights)
}

// expect waits for the driver to set the next weight.
func (tr *traffic) expect(t *testing.T, want int) {
	t.Helper()
	select {
	case got := <-tr.set:
		if got != want {
			t.Fatalf("weight set to %d, want %d (all so far: %v)", got, want, tr.recorded())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no weight set; want %d (all so far: %v)", want, tr.recorded())
	}
}

var errorRate = sluice.Alarm{Name: "api-errors", Metric: sluice.MetricErrorRate, Threshold: 0.05, Window: 10 * time.Second}

func linear(percent int, every time.Duration) sluice.Strategy {
	return sluice.Strategy{Type: sluice.Linear, Percent: percent, Interval: every}
}

// start runs s in the background and returns its outcome's channel.
func start(ctx context.Context, s deploy.Shift, tr *traffic) <-chan deploy.Outcome {
	out := make(chan deploy.Outcome, 1)
	go func() { out <- s.Run(ctx, tr) }()
	return out
}

func wait(t *testing.T, out <-chan deploy.Outcome) deploy.Outcome {
	t.Helper()
	select {
	case o := <-out:
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("the shift did not end")
		return deploy.Outcome{}
	}
}

func TestShiftFollowsTheStrategyOnTheClock(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	var phases []string
	var mu sync.Mutex
	out := start(t.Context(), deploy.Shift{
		Strategy: linear(25, time.Minute), Alarms: []sluice.Alarm{errorRate}, Clock: clock, Tick: time.Second,
		Progress: func(p deploy.Progress) { mu.Lock(); phases = append(phases, p.Phase); mu.Unlock() },
	}, tr)
	tr.expect(t, 25)
	for _, want := range []int{50, 75, 100} {
		// The step timer and the alarm tick are both pending; a minute fires both.
		clock.advance(t, 2, time.Minute)
		tr.expect(t, want)
	}
	select {
	case o := <-out:
		t.Fatalf("the shift ended before its bake: %+v", o)
	default:
	}
	clock.advance(t, 2, errorRate.Window) // the bake lasts the longest alarm window
	if o := wait(t, out); o.Rollback != nil || o.Err != nil {
		t.Fatalf("outcome %+v, want all traffic on the new version", o)
	}
	if got := tr.recorded(); !slices.Equal(got, []int{25, 50, 75, 100}) {
		t.Errorf("weights %v, want 25 50 75 100", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"shifting", "shifting", "shifting", "shifting", "baking"}; !slices.Equal(phases, want) {
		t.Errorf("progress %v, want %v", phases, want)
	}
}

func TestShiftRollsBackAtTheFirstBreachWithoutWaitingForTheClock(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	out := start(t.Context(), deploy.Shift{Strategy: linear(10, time.Minute), Alarms: []sluice.Alarm{errorRate}, Clock: clock}, tr)
	tr.expect(t, 10)
	clock.advance(t, 2, time.Minute)
	tr.expect(t, 20)
	breachedAt := clock.Now()
	tr.breach() // a response arrives; the clock does not move
	tr.expect(t, 0)
	o := wait(t, out)
	rb := o.Rollback
	if rb == nil || rb.Cause != sluice.CauseAlarm || rb.Alarm != "api-errors" || rb.Metric != sluice.MetricErrorRate {
		t.Fatalf("rollback %+v, want the api-errors alarm", rb)
	}
	if rb.Value != 0.5 || rb.Threshold != 0.05 || !rb.BreachedAt.Equal(breachedAt) || rb.Reaction() != 0 {
		t.Errorf("rollback %+v: want value 0.5 over 0.05, breached at %s, restored on the same instant", rb, breachedAt)
	}
	if o.Reason == "" || o.Err != nil {
		t.Errorf("outcome %+v: want a reason and no error", o)
	}
}

func TestShiftBreachDuringTheBakeRollsBack(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	out := start(t.Context(), deploy.Shift{Strategy: sluice.Strategy{Type: sluice.AllAtOnce}, Alarms: []sluice.Alarm{errorRate}, Clock: clock}, tr)
	tr.expect(t, 100)
	clock.advance(t, 2, 5*time.Second) // half the bake: only the alarm tick fires
	tr.breach()
	tr.expect(t, 0)
	if rb := wait(t, out).Rollback; rb == nil || rb.Cause != sluice.CauseAlarm {
		t.Fatalf("rollback %+v, want an alarm", rb)
	}
}

func TestShiftHooksAndTheirFailures(t *testing.T) {
	for _, failing := range []string{"pre_traffic", "post_traffic"} {
		t.Run(failing, func(t *testing.T) {
			clock, tr := newFrozenClock(), newTraffic()
			var ran []string
			out := start(t.Context(), deploy.Shift{
				Strategy: sluice.Strategy{Type: sluice.AllAtOnce}, Clock: clock,
				Hook: func(_ context.Context, phase string) error {
					ran = append(ran, phase)
					if phase == failing {
						return errors.New("smoke test: exit status 1")
					}
					return nil
				},
			}, tr)
			o := wait(t, out)
			if o.Rollback == nil || o.Rollback.Cause != sluice.CauseHook || o.Rollback.Detail != "smoke test: exit status 1" {
				t.Fatalf("rollback %+v, want the hook's failure", o.Rollback)
			}
			want := []int{0}
			if failing == "post_traffic" {
				want = []int{100, 0}
			}
			if got := tr.recorded(); !slices.Equal(got, want) {
				t.Errorf("weights %v, want %v", got, want)
			}
			if ran[len(ran)-1] != failing {
				t.Errorf("hooks ran %v; want the last to be %s", ran, failing)
			}
		})
	}
}

func TestShiftFirstVersionTakesAllTrafficAndDoesNotBake(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	var ran []string
	o := deploy.Shift{
		Strategy: linear(10, time.Minute), Alarms: []sluice.Alarm{errorRate}, First: true, Clock: clock,
		Hook: func(_ context.Context, phase string) error { ran = append(ran, phase); return nil },
	}.Run(t.Context(), tr)
	if o.Rollback != nil {
		t.Fatalf("rolled back: %+v", o)
	}
	if got := tr.recorded(); !slices.Equal(got, []int{100}) {
		t.Errorf("weights %v, want 100 at once", got)
	}
	if !slices.Equal(ran, []string{"pre_traffic", "post_traffic"}) {
		t.Errorf("hooks %v, want pre_traffic then post_traffic", ran)
	}
}

func TestShiftCanceledPutsTrafficBack(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	ctx, cancel := context.WithCancel(t.Context())
	out := start(ctx, deploy.Shift{Strategy: linear(50, time.Minute), Clock: clock}, tr)
	tr.expect(t, 50)
	cancel()
	tr.expect(t, 0)
	if rb := wait(t, out).Rollback; rb == nil || rb.Cause != sluice.CauseCanceled {
		t.Fatalf("rollback %+v, want canceled", rb)
	}
}

func TestShiftWeightThatCannotBeSet(t *testing.T) {
	clock, tr := newFrozenClock(), newTraffic()
	tr.fail[50] = errors.New("router closed")
	o := deploy.Shift{Strategy: linear(50, time.Minute), Clock: clock}.Run(t.Context(), tr)
	if o.Rollback == nil || o.Rollback.Cause != sluice.CauseTraffic || o.Err != nil {
		t.Fatalf("outcome %+v, want a traffic rollback that restored the old version", o)
	}
	if got := tr.recorded(); !slices.Equal(got, []int{50, 0}) {
		t.Errorf("weights %v, want 50 then 0", got)
	}

	tr = newTraffic()
	tr.fail[50], tr.fail[0] = errors.New("router closed"), errors.New("router closed")
	o = deploy.Shift{Strategy: linear(50, time.Minute), Clock: clock}.Run(t.Context(), tr)
	if o.Err == nil {
		t.Fatalf("outcome %+v: want the failed restore reported", o)
	}
}

// watcherTraffic is traffic whose platform judges an alarm of its own (a CloudWatch alarm).
type watcherTraffic struct {
	*traffic
	mu     sync.Mutex
	breach *sluice.Rollback
}

func (w *watcherTraffic) Breach() *sluice.Rollback {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.breach == nil {
		return nil
	}
	rb := *w.breach
	return &rb
}

func (w *watcherTraffic) alarm(rb sluice.Rollback) {
	w.mu.Lock()
	w.breach = &rb
	w.mu.Unlock()
	w.changed <- struct{}{}
}

// A platform alarm is judged with no alarm of Sluice's own, during the shift and during a bake
// that lasts at least Bake, and its rollback carries what the platform said.
func TestShiftPlatformAlarmRollsBackDuringTheBake(t *testing.T) {
	clock := newFrozenClock()
	w := &watcherTraffic{traffic: newTraffic()}
	out := make(chan deploy.Outcome, 1)
	go func() {
		out <- deploy.Shift{Strategy: linear(50, time.Minute), Bake: 30 * time.Second, Clock: clock, Tick: time.Second}.Run(t.Context(), w)
	}()
	w.expect(t, 50)
	clock.advance(t, 2, time.Minute)
	w.expect(t, 100)
	clock.advance(t, 2, 10*time.Second) // a third of the bake: only the tick fires
	w.alarm(sluice.Rollback{Cause: sluice.CauseAlarm, Alarm: "api-5xx", Value: 7, Threshold: 1, Detail: "Threshold Crossed: 1 datapoint [7.0] was greater than the threshold (1.0)."})
	w.expect(t, 0)
	o := wait(t, out)
	if o.Rollback == nil || o.Rollback.Alarm != "api-5xx" || o.Rollback.Value != 7 || o.Rollback.BreachedAt.IsZero() {
		t.Fatalf("rollback %+v, want the platform's api-5xx alarm with its value", o.Rollback)
	}
	if got := w.recorded(); !slices.Equal(got, []int{50, 100, 0}) {
		t.Errorf("weights %v, want 50 100 0", got)
	}
}

// Without a breach, the bake lasts Bake and the shift succeeds.
func TestShiftBakesForBakeWithoutAlarms(t *testing.T) {
	clock := newFrozenClock()
	w := &watcherTraffic{traffic: newTraffic()}
	out := make(chan deploy.Outcome, 1)
	go func() {
		out <- deploy.Shift{Strategy: sluice.Strategy{Type: sluice.AllAtOnce}, Bake: 30 * time.Second, Clock: clock, Tick: time.Second}.Run(t.Context(), w)
	}()
	w.expect(t, 100)
	clock.advance(t, 2, 20*time.Second)
	select {
	case o := <-out:
		t.Fatalf("the shift ended %s into a 30s bake: %+v", 20*time.Second, o)
	default:
	}
	clock.advance(t, 2, 10*time.Second)
	if o := wait(t, out); o.Rollback != nil || o.Err != nil {
		t.Fatalf("outcome %+v, want all traffic on the new version", o)
	}
}
